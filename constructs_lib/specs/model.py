"""``ModelSpec``: one served model, whatever runs it (``[[models]]`` in an environment file).

The model-server contract is written here once and holds for every runtime:

* what runs: ``image`` (or, on VM fleets only, ``vm.startup_script``), ``command``, ``args``;
* what the server receives (``SERVER_ENV``): ``PORT``, ``MODEL_URI`` (``gs://<bucket>/<model_path>``),
  ``MODEL_DIR`` (the weights on local disk: GKE, and VM fleets that download them), the cache's
  ``CACHE_*`` (secret *version ids*, never values), plus ``env``, whose names may not shadow
  those, and whose secret-looking names must hold Secret Manager version ids (a literal would
  land in instance metadata or the pod spec, and in state);
* what it answers: ``port`` and ``health_path`` (auto-healing, probes and the load balancer);
* how it is reached: ``routes`` (default ``/v1/models/<name>`` and ``/v1/models/<name>/*``),
  ``canary_of`` / ``canary_weight`` (a weighted share of another model's routes);
* what it needs: ``accelerator``, ``startup_timeout_sec`` (model load time), ``scaling``.

``runtime`` picks where it runs: ``"vm"`` (regional managed instance groups, settings in
``vm``) or ``"gke"`` (a Deployment on the environment's GKE cluster, settings in ``gke``).
Moving a model between runtimes changes that one key: the other runtime's section may stay.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal, Sequence

from pydantic import Field, field_validator, model_validator

from constructs_lib.errors import ConfigurationError, Spec, invalid
from constructs_lib.machines import GpuTypeName, check_gpu_count, check_machine_without_gpu, default_machine_type, resolve_gpu_count
from constructs_lib.naming import NamePart
from constructs_lib.regions import Region, check_zone
from constructs_lib.specs.backends import BackendServiceSpec
from constructs_lib.specs.gke import GkeRuntimeSpec
from constructs_lib.specs.load_balancer import RoutePath, check_not_health_route
from constructs_lib.specs.scaling import ScalingSignal, ScalingSpec, resolve_signals
from constructs_lib.specs.vm import COS_IMAGE, DEBIAN_IMAGE, GPU_IMAGE, VmRuntimeSpec, is_cos
from constructs_lib.values import Image, ObjectPath, RequestPath, check_env_name

MAX_MODEL_NAME = 20
"""Model names end up inside VM, MIG, health-check and backend names next to <app>-<env>- and
the region: 20 characters keep every derived name inside GCP's 63."""

MAX_VM_STARTUP_SEC = 3600
"""On VM fleets ``startup_timeout_sec`` is the group's auto-healing initial delay and the
autoscaler's initialization period: Compute Engine accepts at most 3600 s for both."""

Runtime = Literal["vm", "gke"]

SERVER_ENV = frozenset({
    "PORT", "MODEL_URI", "MODEL_DIR", "CACHE_ENDPOINT_SECRET", "CACHE_TLS", "CACHE_AUTH_SECRET", "CACHE_CA_SECRET",
    "CACHE_HOST", "CACHE_PORT", "CACHE_READ_HOST", "POD_NAME", "POD_NAMESPACE",
})
"""Variables every runtime sets from the wiring (``server_environment``); ``env`` may not override
them. ``CACHE_HOST``/``CACHE_PORT``/``CACHE_READ_HOST`` are reserved too: the endpoint comes from
``CACHE_ENDPOINT_SECRET``, and a literal one would go stale when the cache is replaced.
``POD_NAME``/``POD_NAMESPACE`` are the pod's own on GKE (``POD_ENV``), reserved on every runtime so a
model's ``env`` moves between runtimes unchanged."""

_SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL", re.IGNORECASE)
_SECRET_VERSION = re.compile(r"^projects/[^/\s]+/secrets/[^/\s]+/versions/[^/\s]+$|^\$\{.+\}$")

VM_ONLY_SCALING = ("schedules", "scale_in_control", "cpu_predictive", "mode", "cooldown_period_sec", "load_balancing_target", "metrics")
"""Scaling settings only a VM fleet's autoscaler has (a HorizontalPodAutoscaler would ignore them)."""

MOVED_KEYS = {
    "fleet": "image -> models.image, container.command/args -> models.command/args, gpu -> models.accelerator, "
             "health_check.path -> models.health_path, initial_delay_sec -> models.startup_timeout_sec, the rest -> [models.vm]",
    "autoscaling": "renamed to [models.scaling] (same keys)",
}
"""Keys of the earlier model shape and where their settings went (one-line migration hints)."""


class AcceleratorSpec(Spec):
    """GPUs every replica gets (catalogue: ``constructs_lib.machines``)."""

    type: GpuTypeName = Field(description="Accelerator type, e.g. nvidia-l4, nvidia-tesla-t4, nvidia-h100-80gb.")
    count: int | None = Field(
        default=None,
        description="GPUs per replica. Defaults to every GPU of the machine (G2/A2/A3 carry a fixed count; N1 gets 1) "
        "or of one node of the GKE pool.",
    )
    skip_region_check: bool = Field(default=False, description="Skip the (approximate) availability table. Defaults to False.")

    @model_validator(mode="after")
    def _count(self) -> "AcceleratorSpec":
        if self.count is not None:
            check_gpu_count(self.type, self.count, "count")
        return self


class ModelSpec(Spec):
    """One served model: the server contract, where it runs, how it scales and how it is reached.

    Only ``name`` and what runs (``image``, or ``vm.startup_script`` on VM fleets) have no default.
    """

    name: NamePart = Field(description=f"Model name: part of every resource name and of the default routes. At most {MAX_MODEL_NAME} characters.")
    runtime: Runtime = Field(default="vm", description="Where the model runs: 'vm' (regional managed instance groups) or 'gke' (the environment's GKE cluster). Defaults to 'vm'.")
    image: Image | None = Field(default=None, description="Model server image, e.g. us-docker.pkg.dev/p/repo/server:1.2 (pin a tag or, better, a digest).")
    command: tuple[str, ...] = Field(default=(), description="Overrides the image's entrypoint. Defaults to the image's.")
    args: tuple[str, ...] = Field(default=(), description="Arguments to the entrypoint. Defaults to none.")
    env: dict[str, str] = Field(
        default_factory=dict,
        description="Extra server environment. PORT, MODEL_URI, MODEL_DIR and CACHE_* come from the wiring; secret-looking names must hold Secret Manager version ids.",
    )
    port: int | None = Field(default=None, ge=1, le=65535, description="Port the server listens on. Defaults to the network's serving_port (8080).")
    health_path: RequestPath = Field(default="/healthz", description="Health endpoint: auto-healing, readiness/liveness probes and, unless backend.health_check says otherwise, the load balancer. Defaults to /healthz.")
    model_path: ObjectPath | None = Field(default=None, description="Object prefix of the model files in the model bucket (MODEL_URI). Defaults to the model name.")
    startup_timeout_sec: int = Field(
        default=600, ge=30, le=7200,
        description="Time a new replica has to pull the image and load the model before it is judged unhealthy (VM auto-healing "
        "delay and autoscaler warm-up; GKE startup probe). Defaults to 600 s.",
    )
    accelerator: AcceleratorSpec | None = Field(default=None, description="GPUs per replica. Defaults to none (a CPU model).")
    regions: tuple[Region, ...] = Field(default=(), description="Regions serving this model. Defaults to every region of the deployment (GKE: the cluster's region).")
    routes: tuple[RoutePath, ...] = Field(default=(), description="URL paths routed to the model. Defaults to /v1/models/<name> and /v1/models/<name>/*.")
    canary_of: str | None = Field(default=None, description="Serve this model as a canary of another model: it takes canary_weight % of that model's routes and has no routes of its own.")
    canary_weight: int = Field(default=10, ge=1, le=99, description="Percent of the stable model's traffic for the canary, 1..99. Defaults to 10.")
    request_method: Literal["POST", "GET"] = Field(
        default="POST",
        description="How clients call the model. Defaults to POST (a JSON body): such responses are never cached, so backend.enable_cdn "
        "is rejected; GET (inputs in the URL) is what Cloud CDN can cache.",
    )
    cross_region_canary: bool = Field(
        default=False,
        description="Let a canary serve fewer regions than its stable model. Defaults to False: the load balancer splits traffic "
        "before it picks a region, so the canary's share of every other region's traffic would cross regions.",
    )
    use_cache: bool = Field(default=True, description="Give the servers the regional cache's address and secrets. Defaults to on when the deployment has a cache.")
    cloud_armor: bool = Field(default=True, description="Attach the deployment's Cloud Armor policy, when it has one. Defaults to on.")
    scaling: ScalingSpec = Field(default_factory=ScalingSpec, description="Replica bounds and scaling signals. Defaults to 1..10 on CPU 0.6.")
    backend: BackendServiceSpec = Field(default_factory=BackendServiceSpec, description="The model's backend service: timeout, CDN, affinity, logging, health check.")
    vm: VmRuntimeSpec = Field(default_factory=VmRuntimeSpec, description="VM-fleet settings (used when runtime = 'vm').")
    gke: GkeRuntimeSpec = Field(default_factory=GkeRuntimeSpec, description="GKE settings (used when runtime = 'gke').")

    moved_keys: ClassVar[dict[str, str]] = MOVED_KEYS

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if len(value) > MAX_MODEL_NAME:
            raise ValueError(f"must be at most {MAX_MODEL_NAME} characters (has {len(value)}): it is part of every resource name")
        return value

    @field_validator("env")
    @classmethod
    def _env(cls, value: dict[str, str]) -> dict[str, str]:
        for name, setting in value.items():
            check_server_env(name, setting, f"env.{name}")
        return value

    @model_validator(mode="after")
    def _contract(self) -> "ModelSpec":
        if self.backend.enable_cdn and self.request_method == "POST":
            raise invalid(
                "backend.enable_cdn", True,
                "Cloud CDN caches GET and HEAD responses only and this model is called with POST (request_method), so it would cache "
                "nothing; set request_method = 'GET' if clients send inputs in the URL, or turn CDN off",
            )
        if self.canary_of is not None and self.routes:
            raise ValueError(f"model {self.name!r} is a canary of {self.canary_of!r}: it shares that model's routes, so leave routes empty")
        if self.canary_of == self.name:
            raise ValueError(f"model {self.name!r} cannot be a canary of itself")
        self._check_signals()
        if self.runtime == "vm":
            if (self.image is None) == (self.vm.startup_script is None):
                raise ValueError("set exactly one of image (a container the VM runs under systemd) or vm.startup_script")
            if self.vm.canary is not None and self.vm.canary.image is not None and self.image is None:
                raise invalid("vm.canary.image", self.vm.canary.image, "needs image mode (set image, not vm.startup_script)")
            if self.startup_timeout_sec > MAX_VM_STARTUP_SEC:
                raise invalid(
                    "startup_timeout_sec", self.startup_timeout_sec,
                    f"must be <= {MAX_VM_STARTUP_SEC} on VM fleets: it is the group's auto-healing delay and the autoscaler's "
                    "initialization period (Compute Engine's limit for both)",
                )
            self._check_machine()
            self._check_vm_fleet()
        else:
            if self.image is None:
                raise invalid("image", None, "a GKE model runs an image: set image (vm.startup_script is for VM fleets)")
            if self.port is not None and self.port < 1024:
                raise invalid("port", self.port, "must be >= 1024 on GKE: the container runs as a non-root user")
            if self.scaling.min_replicas < 1:
                raise invalid("scaling.min_replicas", self.scaling.min_replicas, "must be >= 1 on GKE: a HorizontalPodAutoscaler keeps at least one pod")
            vm_only = [key for key in VM_ONLY_SCALING if key in self.scaling.model_fields_set]
            if vm_only:
                raise invalid(
                    f"scaling.{vm_only[0]}", "set", "is a VM-fleet autoscaler setting; a GKE model scales with a HorizontalPodAutoscaler "
                    "(min/max replicas, signal, target, cpu_target, scale_down_stabilization_sec)",
                )
            grace = self.gke.termination_grace_period_sec
            if grace is not None and grace < self.backend.draining_timeout_sec:
                raise invalid(
                    "gke.termination_grace_period_sec", grace,
                    f"must be >= the backend's connection draining ({self.backend.draining_timeout_sec} s): the load balancer lets "
                    "in-flight requests run that long, and a pod stopped sooner cuts them off; raise it or lower "
                    "backend.connection_draining_timeout_sec",
                )
            if self.gke.model_source == "gcs-fuse" and any(c in self.object_path for c in ", \t"):
                raise invalid(
                    "model_path", self.object_path,
                    "must have no commas or spaces with gke.model_source 'gcs-fuse' (it becomes the FUSE mount's only-dir option)",
                )
        return self

    def _check_signals(self) -> None:
        """A GPU model must not scale on CPU alone (unless it says so): GPU-bound inference barely
        moves CPU, so the autoscaler would never add a replica."""
        scaling = self.scaling
        kinds = {s.kind for s in self.scaling_signals}
        if scaling.cpu_predictive and "cpu" not in kinds:
            raise invalid(
                "scaling.cpu_predictive", True, "needs a CPU signal (signal = 'cpu', or cpu_target next to another signal): predictive scaling works on CPU utilization",
            )
        if "gpu" in kinds and self.accelerator is None:
            raise invalid(
                "scaling.signal", scaling.signal,
                "the gpu signal measures the model's GPUs and this model has no accelerator; use cpu, in-flight or request-rate",
            )
        cpu_only = kinds == {"cpu"} and not scaling.metrics and scaling.load_balancing_target is None
        if self.accelerator is not None and cpu_only and not scaling.allow_cpu_only:
            raise invalid(
                "scaling.signal", scaling.signal,
                "a GPU model scaling on CPU alone never scales out (GPU-bound inference barely moves CPU); use signal gpu, "
                "in-flight or request-rate, or set scaling.allow_cpu_only = true",
            )

    @property
    def scaling_signals(self) -> tuple[ScalingSignal, ...]:
        """What the autoscaler follows (``specs.scaling.resolve_signals``): the primary serving
        signal with its target, and CPU utilization when ``scaling.cpu_target`` adds it."""
        return resolve_signals(self.scaling, gpu=self.accelerator is not None)

    def _check_vm_fleet(self) -> None:
        """The VM-fleet rules Compute Engine would otherwise reject at apply (or silently get wrong):
        group shape vs autoscaler and canary, the gpu signal's agent, request-rate balancing, Spot
        vs reservations, downloads in image mode only."""
        vm, scaling = self.vm, self.scaling
        shape = self.distribution_shape
        if vm.target_size is None and shape in ("ANY", "ANY_SINGLE_ZONE"):
            raise invalid(
                "vm.distribution_target_shape", shape,
                "an autoscaled regional group must be EVEN or BALANCED (Compute Engine rejects the others); set vm.target_size for "
                "a fixed-size group",
            )
        if vm.canary is not None and shape != "EVEN":
            raise invalid(
                "vm.distribution_target_shape", shape,
                "a vm.canary (two versions in one group) needs EVEN: Compute Engine rejects it with BALANCED, ANY and ANY_SINGLE_ZONE "
                "(GPU models default to BALANCED); set EVEN or serve the canary as its own model (canary_of)",
            )
        kinds = {signal.kind for signal in self.scaling_signals}
        boot_images = [self.boot_image] + ([vm.canary.boot_image] if vm.canary is not None and vm.canary.boot_image else [])
        cos = next((image for image in boot_images if is_cos(image)), None)
        if "gpu" in kinds and self.image is not None and cos is not None:
            raise invalid(
                "scaling.signal", scaling.signal,
                f"the gpu signal reads the Ops Agent's GPU utilization and the Ops Agent does not run on Container-Optimized OS "
                f"({cos}); use the default GPU image (leave vm.boot_image unset) or signal in-flight or request-rate",
            )
        if scaling.signal == "request-rate":
            if self.backend.balancing_mode == "UTILIZATION":
                raise invalid(
                    "backend.balancing_mode", "UTILIZATION",
                    "signal request-rate scales on the load balancer's requests/s per VM, which needs RATE balancing; leave "
                    "balancing_mode unset (RATE at max_rate_per_instance = scaling.target) or set RATE",
                )
            rate = self.backend.max_rate_per_instance
            if rate is not None and scaling.target is not None and rate != scaling.target:
                raise invalid(
                    "scaling.target", scaling.target,
                    f"backend.max_rate_per_instance ({rate}) is already the requests/s target of signal request-rate; give one of them",
                )
        if vm.spot and vm.reservation is not None and vm.reservation.consume != "NO_RESERVATION":
            raise invalid(
                "vm.reservation.consume", vm.reservation.consume,
                "Spot VMs cannot consume reservations; drop vm.reservation (or set NO_RESERVATION) or vm.spot",
            )
        if vm.model_download.enabled and self.image is None:
            raise invalid(
                "vm.model_download.enabled", True, "needs image mode: in startup-script mode the script fetches the model itself",
            )

    @property
    def termination_grace_period_sec(self) -> int:
        """How long a GKE pod gets to finish after SIGTERM: ``gke.termination_grace_period_sec`` or
        the backend's connection draining timeout, so no request the load balancer still lets
        finish is cut off by the pod stopping."""
        grace = self.gke.termination_grace_period_sec
        return grace if grace is not None else self.backend.draining_timeout_sec

    @property
    def distribution_shape(self) -> str:
        """``vm.distribution_target_shape`` or the default: BALANCED for GPU models (zones out of
        stock do not stall the group), EVEN otherwise."""
        if self.vm.distribution_target_shape is not None:
            return self.vm.distribution_target_shape
        return "BALANCED" if self.accelerator is not None else "EVEN"

    @property
    def boot_image(self) -> str:
        """``vm.boot_image`` or the default: the GPU image (signed NVIDIA driver, Ops Agent) for a
        GPU model's container, Container-Optimized OS for a CPU model's, Debian for a startup script."""
        if self.vm.boot_image is not None:
            return self.vm.boot_image
        if self.image is None:
            return DEBIAN_IMAGE
        return GPU_IMAGE if self.accelerator is not None else COS_IMAGE

    @property
    def downloads_model(self) -> bool:
        """Whether a VM copies the model files to local disk before the server starts
        (``vm.model_download.enabled``; by default GPU models in image mode)."""
        enabled = self.vm.model_download.enabled
        if enabled is not None:
            return enabled
        return self.accelerator is not None and self.image is not None

    def _check_machine(self) -> None:
        """The machine fits the accelerator (messages name ``vm.machine_type`` and ``accelerator.*``)."""
        accelerator = self.accelerator
        if accelerator is not None:
            resolve_gpu_count(
                accelerator.type, accelerator.count, self.machine_type, machine_field="vm.machine_type", gpu_field="accelerator",
            )
        else:
            check_machine_without_gpu(self.machine_type, "vm.machine_type", gpu_field="accelerator")

    @property
    def machine_type(self) -> str:
        """``vm.machine_type`` or the usual machine for the model's accelerator (VM fleets)."""
        if self.vm.machine_type is not None:
            return self.vm.machine_type
        accelerator = self.accelerator
        return default_machine_type(accelerator.type if accelerator else None, accelerator.count if accelerator else None)

    @property
    def gpus_per_vm(self) -> int:
        """GPUs on each VM of a VM fleet (0 for a CPU model)."""
        if self.accelerator is None:
            return 0
        return resolve_gpu_count(self.accelerator.type, self.accelerator.count, self.machine_type)

    @property
    def route_paths(self) -> tuple[str, ...]:
        """``routes`` or the default ``/v1/models/<name>`` and ``/v1/models/<name>/*``."""
        return self.routes or (f"/v1/models/{self.name}", f"/v1/models/{self.name}/*")

    @property
    def object_path(self) -> str:
        """Where the model's files are in the bucket: ``model_path`` or the model name."""
        return self.model_path or self.name


def check_server_env(name: str, value: str, field: str) -> None:
    """An extra server variable: a valid name, not one the wiring sets, and no literal secret."""
    check_env_name(name, field)
    if name in SERVER_ENV:
        raise ConfigurationError(field, name, f"is set from the wiring; reserved: {', '.join(sorted(SERVER_ENV))}")
    if _SECRET_NAME.search(name) and not _SECRET_VERSION.fullmatch(value):
        raise ConfigurationError(
            field, "<hidden>",
            "looks like a secret: instance metadata and pod specs are readable where the server runs and land in Terraform state; "
            "pass a Secret Manager version (projects/<p>/secrets/<s>/versions/<v>) and read it at start",
        )


def check_models(
    models: Sequence[ModelSpec], regions: Sequence[str], other_paths: Sequence[tuple[str, str, str]] = (),
) -> None:
    """The rules that span the models of one deployment: at least one model, unique names, model
    regions among the deployment's, VM zones in every region they serve, ``canary_of`` naming a
    stable model with weights under 100 %, and every routed path (``other_paths``: field, path,
    owner of static content) going to one place."""
    if not models:
        raise ConfigurationError("models", [], "at least one [[models]] table is required")
    names = [m.name for m in models]
    for index, model in enumerate(models):
        field = f"models[{index}]"
        if model.name in names[:index]:
            raise ConfigurationError(f"{field}.name", model.name, "model names must be unique")
        outside = [r for r in model.regions if r not in regions]
        if outside:
            raise ConfigurationError(f"{field}.regions", list(model.regions), f"must be among the deployment's regions ({', '.join(regions)})")
        if model.runtime == "vm":
            for zone_index, zone in enumerate(model.vm.zones):
                for region in model.regions or regions:
                    check_zone(zone, region, f"{field}.vm.zones[{zone_index}]")
        if model.canary_of is not None:
            stable = next((m for m in models if m.name == model.canary_of), None)
            if stable is None or stable.canary_of is not None:
                allowed = [m.name for m in models if m.canary_of is None and m.name != model.name]
                raise ConfigurationError(
                    f"{field}.canary_of", model.canary_of, f"must name a model that is not a canary itself; allowed: {', '.join(allowed)}",
                )
            missing = [r for r in (stable.regions or regions) if r not in (model.regions or regions)]
            if missing and not model.cross_region_canary:
                raise ConfigurationError(
                    f"{field}.regions", list(model.regions),
                    f"a canary serves every region of {stable.name} ({', '.join(stable.regions or regions)}); missing {', '.join(missing)}: "
                    f"its {model.canary_weight} % of the traffic there would cross regions (set cross_region_canary = true to accept that)",
                )
    for stable in models:
        share = sum(m.canary_weight for m in models if m.canary_of == stable.name)
        if share >= 100:
            raise ConfigurationError(f"models[{stable.name}] canaries", share, "canary weights of one model must add up to less than 100")
    paths = [(f"models[{m.name}].routes", p, f"model {m.name!r}") for m in models for p in m.route_paths if m.canary_of is None]
    seen: dict[str, str] = {}
    for field, path, owner in [*paths, *other_paths]:
        check_not_health_route(path, field)
        if path in seen:
            raise ConfigurationError(field, path, f"is already routed to {seen[path]}; every path goes to one place")
        seen[path] = owner


def server_environment(
    model: ModelSpec, *, port: int, model_uri: str | None = None, model_dir: str | None = None, cache: Any = None,
) -> list[tuple[str, str]]:
    """The model server's environment, the same on every runtime: ``PORT``, ``MODEL_URI``
    (``gs://<bucket>/<model_path>``), ``MODEL_DIR`` (where the weights are mounted or copied, when
    the runtime provides them), the cache's ``CACHE_ENDPOINT_SECRET`` / ``CACHE_TLS`` /
    ``CACHE_AUTH_SECRET`` / ``CACHE_CA_SECRET`` (a ``CacheConnection``: Secret Manager references
    only), then the model's own ``env`` sorted by name."""
    env: list[tuple[str, str]] = [("PORT", str(port))]
    if model_uri is not None:
        env.append(("MODEL_URI", model_uri))
    if model_dir is not None:
        env.append(("MODEL_DIR", model_dir))
    if cache is not None:
        env.append(("CACHE_ENDPOINT_SECRET", cache.endpoint_secret))
        env.append(("CACHE_TLS", "true" if cache.tls else "false"))
        if cache.auth_secret is not None:
            env.append(("CACHE_AUTH_SECRET", cache.auth_secret))
        if cache.ca_secret is not None:
            env.append(("CACHE_CA_SECRET", cache.ca_secret))
    env.extend(sorted(model.env.items()))
    return env
