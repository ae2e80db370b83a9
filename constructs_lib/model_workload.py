"""``ModelWorkload``: one model served from a Kubernetes Deployment on a ``ServingCluster``.

Resources (construct ids in brackets), through the hashicorp/kubernetes provider unless noted:

* ``kubernetes_namespace_v1`` [``namespace``] (optional; Pod Security ``restricted`` enforced),
* ``google_service_account`` [``identity``] + ``google_service_account_iam_member`` [``workload-identity``]
  (``roles/iam.workloadIdentityUser`` for ``serviceAccount:<project>.svc.id.goog[<ns>/<ksa>]``) +
  ``kubernetes_service_account_v1`` [``service-account``] annotated ``iam.gke.io/gcp-service-account``:
  pods read the model bucket (``ModelStore.grant_read``) with no key anywhere,
* ``kubernetes_service_v1`` [``service``]: ClusterIP with the ``cloud.google.com/neg`` annotation,
  so GKE creates standalone zonal NEGs with a stable name (``<app>-<env>-neg-<model>``),
* ``kubernetes_deployment_v1`` [``deployment``]: GPU/CPU/memory requests = limits (Guaranteed
  QoS), startup/readiness/liveness probes on the health path, toleration + node selector of the
  model pool, non-root, read-only root filesystem (``/tmp`` and the model cache are ``emptyDir``),
  no privilege escalation, all capabilities dropped, RuntimeDefault seccomp, spread over zones,
* ``kubernetes_horizontal_pod_autoscaler_v2`` [``autoscaler``] on CPU utilisation,
* ``kubernetes_pod_disruption_budget_v1`` [``disruption-budget``].

``ClusterAccess`` configures the Kubernetes provider from the cluster (endpoint, CA) and a
``google_client_config`` access token. Ordering with the load balancer: see ``constructs_lib.gke``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from cdktf import Fn, TerraformResourceLifecycle
from constructs import Construct
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from constructs_lib._google import (
    data_google_client_config,
    data_google_container_cluster,
    service_account as google_service_account,
    service_account_iam_member,
)
from constructs_lib._kubernetes import (
    deployment_v1,
    horizontal_pod_autoscaler_v2,
    namespace_v1,
    pod_disruption_budget_v1,
    provider as kubernetes_provider,
    service_account_v1,
    service_v1,
)
from constructs_lib.errors import ConfigurationError
from constructs_lib.gke import GPU_RESOURCE, NodePool, ServingCluster
from constructs_lib.iam import AccountId, check_account_id
from constructs_lib.interfaces import CacheConnection
from constructs_lib.model_store import ModelStore
from constructs_lib.naming import NamePart, Naming, check_name

NEG_ANNOTATION = "cloud.google.com/neg"
NEG_STATUS_ANNOTATION = "cloud.google.com/neg-status"
WORKLOAD_IDENTITY_ANNOTATION = "iam.gke.io/gcp-service-account"
MODEL_DIR = "/models"
RESERVED_ENV = frozenset({"MODEL_URI", "MODEL_DIR", "PORT", "CACHE_HOST", "CACHE_PORT", "CACHE_READ_HOST", "CACHE_TLS", "CACHE_AUTH_SECRET", "CACHE_CA_SECRET"})

_CPU = re.compile(r"^(?P<number>[0-9]+(?:\.[0-9]+)?)(?P<unit>m?)$")
_MEMORY = re.compile(r"^(?P<number>[0-9]+(?:\.[0-9]+)?)(?P<unit>Ki|Mi|Gi|Ti|k|M|G|T)?$")
_MEMORY_FACTORS = {
    None: Decimal(1), "Ki": Decimal(1024), "Mi": Decimal(1024**2), "Gi": Decimal(1024**3), "Ti": Decimal(1024**4),
    "k": Decimal(1000), "M": Decimal(1000**2), "G": Decimal(1000**3), "T": Decimal(1000**4),
}
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_IMAGE = re.compile(r"^[a-z0-9][a-z0-9._/:@-]*$", re.IGNORECASE)


def cpu_millis(value: str, field: str = "cpu") -> int:
    """A Kubernetes CPU quantity (``500m``, ``2``, ``1.5``) in millicores."""
    match = _CPU.fullmatch(value) if isinstance(value, str) else None
    if not match:
        raise ConfigurationError(field, value, "must be a Kubernetes CPU quantity such as 500m, 2 or 1.5")
    millis = Decimal(match["number"]) * (1 if match["unit"] else 1000)
    if millis <= 0 or millis != millis.to_integral_value():
        raise ConfigurationError(field, value, "must be a positive whole number of millicores (e.g. 250m, 0.5)")
    return int(millis)


def memory_mib(value: str, field: str = "memory") -> float:
    """A Kubernetes memory quantity (``16Gi``, ``512Mi``, ``8G``) in MiB."""
    match = _MEMORY.fullmatch(value) if isinstance(value, str) else None
    if not match:
        raise ConfigurationError(field, value, "must be a Kubernetes memory quantity such as 512Mi, 16Gi or 8G")
    try:
        size = Decimal(match["number"]) * _MEMORY_FACTORS[match["unit"]]
    except InvalidOperation:  # pragma: no cover - the pattern only admits decimals
        raise ConfigurationError(field, value, "must be a Kubernetes memory quantity such as 512Mi") from None
    if size <= 0:
        raise ConfigurationError(field, value, "must be greater than zero")
    return float(size / Decimal(1024**2))


def _quantity(check: Any, value: str, field: str) -> str:
    try:
        check(value, field)
    except ConfigurationError as error:
        raise ValueError(error.allowed) from None
    return value


class WorkloadSpec(BaseModel):
    """Tunables of ``ModelWorkload``; one entry of the ``[gke.workloads]`` section."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: NamePart = Field(default="model", description="Model name: Kubernetes object names, labels, NEG and service account names. Defaults to 'model'.")
    image: str = Field(description="Model server image (Artifact Registry: the nodes may read it).")
    args: tuple[str, ...] = Field(default=(), description="Container arguments.")
    env: dict[str, str] = Field(default_factory=dict, description="Extra environment; MODEL_URI, MODEL_DIR, PORT and CACHE_* are set by the construct.")
    namespace: str = Field(default="serving", description="Kubernetes namespace. Defaults to 'serving'.")
    create_namespace: bool = Field(default=True, description="Create the namespace (Pod Security 'restricted'). Defaults to on; off when several workloads share one.")
    node_pool: str = Field(default="model", description="Node pool the pods run on (node selector + tolerations). Defaults to 'model'.")
    model_path: str | None = Field(default=None, description="Object path of the model in the model bucket. Defaults to '<name>/'.")
    port: int = Field(default=8080, ge=1024, le=65535, description="Container and Service port (non-root: >= 1024). Defaults to 8080.")
    health_path: str = Field(default="/healthz", description="Path of the startup/readiness/liveness probes (and the LB health check). Defaults to /healthz, like the fleet.")
    replicas: int = Field(default=2, ge=1, description="Replicas at creation; the autoscaler owns the count afterwards. Defaults to 2.")
    min_replicas: int = Field(default=2, ge=1, description="Autoscaler minimum. Defaults to 2: one pod can be drained while the other serves.")
    max_replicas: int = Field(default=6, ge=1, description="Autoscaler maximum. Defaults to 6.")
    target_cpu_utilization: int = Field(default=70, ge=1, le=100, description="Autoscaler CPU target in percent of the request. Defaults to 70.")
    scale_down_stabilization_sec: int = Field(default=300, ge=0, le=3600, description="Scale-down looks back this long (avoids flapping with slow model loads). Defaults to 300.")
    cpu: str = Field(default="4", description="CPU request (and limit unless cpu_limit). Defaults to 4.")
    memory: str = Field(default="16Gi", description="Memory request (and limit unless memory_limit). Defaults to 16Gi.")
    cpu_limit: str | None = Field(default=None, description="CPU limit. Defaults to the request (Guaranteed QoS: never evicted first).")
    memory_limit: str | None = Field(default=None, description="Memory limit. Defaults to the request.")
    gpus: int | None = Field(default=None, ge=0, description="GPUs per pod. Defaults to every GPU of one node of the pool (0 on CPU pools).")
    model_cache_size: str = Field(default="20Gi", description="Size limit of the model cache (emptyDir at /models). Defaults to 20Gi.")
    startup_timeout_sec: int = Field(default=900, ge=30, le=7200, description="Time a pod has to load the model before it is restarted. Defaults to 900.")
    termination_grace_period_sec: int = Field(default=60, ge=0, le=3600, description="Drain time for in-flight requests. Defaults to 60.")
    pdb_max_unavailable: int = Field(default=1, ge=1, description="PodDisruptionBudget: pods a drain may take at once. Defaults to 1.")
    run_as_user: int = Field(default=1000, ge=1, description="Non-root user (and group) of the container. Defaults to 1000.")
    neg_name: str | None = Field(default=None, description="Name of the standalone NEGs. Defaults to <app>-<env>-neg-<name>.")
    service_account_id: AccountId | None = Field(default=None, description="Account id of the Google service account. Defaults to <app>-<env>-<name>-wi.")

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        try:
            check_name(value, "namespace")
        except ConfigurationError as error:
            raise ValueError(error.allowed) from None
        return value

    @field_validator("image")
    @classmethod
    def _image(cls, value: str) -> str:
        if not _IMAGE.fullmatch(value):
            raise ValueError("must be a container image reference such as europe-docker.pkg.dev/p/repo/server:1.2")
        return value

    @field_validator("env")
    @classmethod
    def _env(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not _ENV_NAME.fullmatch(key):
                raise ValueError(f"{key!r} is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)")
            if key in RESERVED_ENV:
                raise ValueError(f"{key!r} is set by the construct; reserved: {', '.join(sorted(RESERVED_ENV))}")
        return value

    @field_validator("health_path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/") or any(c in value for c in " ?#"):
            raise ValueError("must start with / and contain no spaces, ? or #")
        return value

    @field_validator("cpu", "cpu_limit")
    @classmethod
    def _cpu(cls, value: str | None, info) -> str | None:  # noqa: ANN001
        return None if value is None else _quantity(cpu_millis, value, info.field_name)

    @field_validator("memory", "memory_limit", "model_cache_size")
    @classmethod
    def _memory(cls, value: str | None, info) -> str | None:  # noqa: ANN001
        return None if value is None else _quantity(memory_mib, value, info.field_name)

    @field_validator("neg_name")
    @classmethod
    def _neg(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                check_name(value, "neg_name")
            except ConfigurationError as error:
                raise ValueError(error.allowed) from None
        return value

    @model_validator(mode="after")
    def _rules(self) -> "WorkloadSpec":
        if self.max_replicas < self.min_replicas:
            raise ValueError(f"max_replicas ({self.max_replicas}) must be >= min_replicas ({self.min_replicas})")
        if not self.min_replicas <= self.replicas <= self.max_replicas:
            raise ValueError(f"replicas ({self.replicas}) must be between min_replicas ({self.min_replicas}) and max_replicas ({self.max_replicas})")
        if self.cpu_limit is not None and cpu_millis(self.cpu_limit) < cpu_millis(self.cpu):
            raise ValueError(f"cpu_limit ({self.cpu_limit}) must be >= cpu ({self.cpu})")
        if self.memory_limit is not None and memory_mib(self.memory_limit) < memory_mib(self.memory):
            raise ValueError(f"memory_limit ({self.memory_limit}) must be >= memory ({self.memory})")
        if self.model_path is not None and (
            not self.model_path.strip("/") or self.model_path.startswith("/") or ".." in self.model_path.split("/")
        ):
            raise ValueError(f"model_path ({self.model_path!r}) must be a relative object path such as 'resnet/v2/'")
        return self

    @property
    def object_path(self) -> str:
        """The model's object path in the bucket (``<name>/`` unless ``model_path``)."""
        return self.model_path or f"{self.name}/"


@dataclass(frozen=True)
class WorkloadNegs:
    """A ``NetworkEndpointGroupTarget``: the workload's zonal NEG ids and the port they serve."""

    network_endpoint_groups: tuple[str, ...]
    port: int
    name: str
    zones: tuple[str, ...]


class ClusterAccess(Construct):
    """The Kubernetes provider for a ``ServingCluster`` (construct ids ``client-config``,
    ``cluster`` when read through the data source, ``provider``).

    ``source="data"`` (default) reads the endpoint and CA through a ``google_container_cluster``
    data source by the cluster's name: use it when the cluster is in another stack (always the
    live CA, no sensitive cross-stack outputs). ``source="resource"`` uses the cluster resource's
    attributes (same stack, or cdktf cross-stack references). The token is the caller's
    ``google_client_config`` access token, so Terraform acts as the identity that runs it.
    Exposes ``provider``, ``endpoint``, ``cluster_ca_certificate``.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        cluster: ServingCluster,
        source: Literal["data", "resource"] = "data",
        alias: str | None = None,
    ) -> None:
        if source not in ("data", "resource"):
            raise ConfigurationError("source", source, "must be 'data' or 'resource'")
        super().__init__(scope, id_)
        client = data_google_client_config.DataGoogleClientConfig(self, "client-config")
        if source == "data":
            found = data_google_container_cluster.DataGoogleContainerCluster(
                self, "cluster", name=cluster.name, location=cluster.region, project=cluster.project_id,
            )
            self.endpoint: str = found.endpoint
            self.cluster_ca_certificate: str = found.master_auth.get(0).cluster_ca_certificate
        else:
            self.endpoint = cluster.endpoint
            self.cluster_ca_certificate = cluster.cluster_ca_certificate
        self.provider = kubernetes_provider.KubernetesProvider(
            self, "provider",
            alias=alias,
            host=f"https://{self.endpoint}",
            token=client.access_token,
            cluster_ca_certificate=Fn.base64decode(self.cluster_ca_certificate),
            # The NEG controller writes its status into this annotation; it is not drift.
            ignore_annotations=[r"^cloud\.google\.com\/neg-status$"],
        )


class _NegNames(Construct):
    """Registry of the NEG names taken in one app (a child of the app's root construct)."""

    ID = "ml-serving-neg-names"

    def __init__(self, scope: Construct) -> None:
        super().__init__(scope, self.ID)
        self.names: dict[str, str] = {}


def _neg_registry(node: Any) -> dict[str, str]:
    """NEG names taken in this app (name -> construct path): NEG names are per project and zone,
    so two workloads of one app must not share one."""
    root = node.root
    registry = root.node.try_find_child(_NegNames.ID)
    if not isinstance(registry, _NegNames):
        registry = _NegNames(root)
    return registry.names


class ModelWorkload(Construct):
    """One model's Deployment, Service (standalone NEGs), autoscaler and identity on GKE.

    Public attributes: ``name``, ``spec``, ``namespace`` (name), ``labels``, ``selector``,
    ``namespace_resource`` (the ``kubernetes_namespace_v1`` it created, else None),
    ``neg_name``, ``negs`` (``WorkloadNegs``, a ``NetworkEndpointGroupTarget`` for
    ``GlobalLoadBalancer.add_backend_service``), ``model_uri``, ``gpus``, ``identity``
    (Google service account), ``identity_email``, ``identity_member``, ``workload_identity``,
    ``service_account``, ``service``, ``deployment``, ``autoscaler``, ``disruption_budget``,
    ``read_grant``. Intent method: ``add_dependent(resource)``.

    ``namespace``: pass another workload's ``namespace_resource`` when several models share a
    namespace (the namespace is then referenced, not created, whatever ``create_namespace`` says).
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        cluster: ServingCluster,
        pool: NodePool,
        naming: Naming,
        model_store: ModelStore,
        cache: CacheConnection | None = None,
        provider: Any = None,
        namespace: Any = None,
        spec: WorkloadSpec,
    ) -> None:
        field = f"workloads[{spec.name}]"
        if cluster.node_pools.get(pool.name) is not pool:
            raise ConfigurationError(f"{field}.node_pool", pool.name, f"must be a node pool of cluster {cluster.name}")
        gpus = _check_fits(spec, pool, field)
        neg_name = spec.neg_name or naming.name("neg", spec.name)
        registry = _neg_registry(scope.node)
        account_id = spec.service_account_id or check_account_id(naming.name(spec.name, "wi"), f"{field}.service_account_id")
        if neg_name in registry:
            raise ConfigurationError(
                f"{field}.neg_name", neg_name,
                f"is already used by {registry[neg_name]}; NEG names are unique per project and zone, set another neg_name",
            )
        super().__init__(scope, id_)
        registry[neg_name] = self.node.path

        self.name = spec.name
        self.spec = spec
        self.gpus = gpus
        self.neg_name = neg_name
        self.labels: dict[str, str] = {
            "app.kubernetes.io/name": spec.name,
            "app.kubernetes.io/instance": f"{naming.prefix}-{spec.name}",
            "app.kubernetes.io/part-of": naming.prefix,
            "app.kubernetes.io/managed-by": "cdktf",
        }
        self.selector: dict[str, str] = {k: self.labels[k] for k in ("app.kubernetes.io/name", "app.kubernetes.io/instance")}
        provider_args = {"provider": provider} if provider is not None else {}

        self.namespace_resource: Any = None
        if namespace is not None:
            # Another workload's namespace: reference it, so this one is created after it.
            if getattr(namespace, "terraform_resource_type", None) != "kubernetes_namespace_v1":
                raise ConfigurationError(f"{field}.namespace", type(namespace).__name__, "must be a kubernetes_namespace_v1 resource (another workload's namespace_resource)")
            self.namespace: str = namespace.metadata.name
        elif spec.create_namespace:
            ns = namespace_v1.NamespaceV1(
                self, "namespace",
                metadata=namespace_v1.NamespaceV1Metadata(
                    name=spec.namespace,
                    labels={
                        "app.kubernetes.io/part-of": naming.prefix,
                        "app.kubernetes.io/managed-by": "cdktf",
                        # The pod below meets the restricted Pod Security Standard; enforce it.
                        "pod-security.kubernetes.io/enforce": "restricted",
                    },
                ),
                **provider_args,
            )
            self.namespace_resource = ns
            self.namespace = ns.metadata.name
        else:
            self.namespace = spec.namespace

        # -- identity: Google SA <- Workload Identity <- Kubernetes SA -----------------------
        ksa_name = spec.name
        self.identity = google_service_account.ServiceAccount(
            self, "identity",
            account_id=account_id,
            display_name=f"Model {spec.name} on GKE ({naming.prefix})",
            description=f"Pods of model {spec.name} in {cluster.name} (Workload Identity); managed by cdktf",
            project=cluster.project_id,
        )
        self.identity_email: str = self.identity.email
        self.identity_member: str = self.identity.member
        self.workload_identity = service_account_iam_member.ServiceAccountIamMember(
            self, "workload-identity",
            service_account_id=self.identity.name,
            role="roles/iam.workloadIdentityUser",
            member=f"serviceAccount:{cluster.workload_pool}[{spec.namespace}/{ksa_name}]",
        )
        self.read_grant = model_store.grant_read(self.identity_member, id_=f"gke-{spec.name}")
        self.model_uri: str = model_store.model_uri(spec.object_path).uri
        self.service_account = service_account_v1.ServiceAccountV1(
            self, "service-account",
            metadata=service_account_v1.ServiceAccountV1Metadata(
                name=ksa_name, namespace=self.namespace, labels=self.labels,
                annotations={WORKLOAD_IDENTITY_ANNOTATION: self.identity_email},
            ),
            automount_service_account_token=False,
            **provider_args,
        )

        # -- Service with standalone NEGs ----------------------------------------------------
        self.service = service_v1.ServiceV1(
            self, "service",
            metadata=service_v1.ServiceV1Metadata(
                name=spec.name, namespace=self.namespace, labels=self.labels,
                annotations={NEG_ANNOTATION: json.dumps({"exposed_ports": {str(spec.port): {"name": neg_name}}})},
            ),
            spec=service_v1.ServiceV1Spec(
                type="ClusterIP",
                selector=self.selector,
                port=[service_v1.ServiceV1SpecPort(name="http", port=spec.port, target_port="http", protocol="TCP")],
            ),
            **provider_args,
        )
        self.negs = WorkloadNegs(
            network_endpoint_groups=tuple(
                f"projects/{cluster.project_id}/zones/{zone}/networkEndpointGroups/{neg_name}" for zone in cluster.zones
            ),
            port=spec.port,
            name=neg_name,
            zones=cluster.zones,
        )

        # -- Deployment ----------------------------------------------------------------------
        self.deployment = self._deployment(spec, pool, gpus, cache, provider_args)

        # -- autoscaling and disruption budget -----------------------------------------------
        h = horizontal_pod_autoscaler_v2
        self.autoscaler = h.HorizontalPodAutoscalerV2(
            self, "autoscaler",
            metadata=h.HorizontalPodAutoscalerV2Metadata(name=spec.name, namespace=self.namespace, labels=self.labels),
            spec=h.HorizontalPodAutoscalerV2Spec(
                min_replicas=spec.min_replicas,
                max_replicas=spec.max_replicas,
                scale_target_ref=h.HorizontalPodAutoscalerV2SpecScaleTargetRef(
                    api_version="apps/v1", kind="Deployment", name=self.deployment.metadata.name,
                ),
                metric=[h.HorizontalPodAutoscalerV2SpecMetric(
                    type="Resource",
                    resource=h.HorizontalPodAutoscalerV2SpecMetricResource(
                        name="cpu",
                        target=h.HorizontalPodAutoscalerV2SpecMetricResourceTarget(
                            type="Utilization", average_utilization=spec.target_cpu_utilization,
                        ),
                    ),
                )],
                behavior=h.HorizontalPodAutoscalerV2SpecBehavior(
                    scale_down=[h.HorizontalPodAutoscalerV2SpecBehaviorScaleDown(
                        stabilization_window_seconds=spec.scale_down_stabilization_sec,
                        select_policy="Max",
                        policy=[h.HorizontalPodAutoscalerV2SpecBehaviorScaleDownPolicy(type="Pods", value=1, period_seconds=60)],
                    )],
                ),
            ),
            **provider_args,
        )
        p = pod_disruption_budget_v1
        self.disruption_budget = p.PodDisruptionBudgetV1(
            self, "disruption-budget",
            metadata=p.PodDisruptionBudgetV1Metadata(name=spec.name, namespace=self.namespace, labels=self.labels),
            spec=p.PodDisruptionBudgetV1Spec(
                max_unavailable=str(spec.pdb_max_unavailable),
                selector=p.PodDisruptionBudgetV1SpecSelector(match_labels=self.selector),
            ),
            **provider_args,
        )

    def _deployment(self, spec: WorkloadSpec, pool: NodePool, gpus: int, cache: CacheConnection | None, provider_args: dict) -> Any:
        d = deployment_v1
        env = {"MODEL_URI": self.model_uri, "MODEL_DIR": MODEL_DIR, "PORT": str(spec.port)}
        if cache is not None:
            env.update(CACHE_HOST=cache.host, CACHE_PORT=cache.port, CACHE_TLS="true" if cache.tls else "false")
            if cache.read_host:
                env["CACHE_READ_HOST"] = cache.read_host
            if cache.auth_secret:
                env["CACHE_AUTH_SECRET"] = cache.auth_secret
            if cache.ca_secret:
                env["CACHE_CA_SECRET"] = cache.ca_secret
        env.update(spec.env)

        requests = {"cpu": spec.cpu, "memory": spec.memory}
        limits = {"cpu": spec.cpu_limit or spec.cpu, "memory": spec.memory_limit or spec.memory}
        if gpus:
            requests[GPU_RESOURCE] = str(gpus)
            limits[GPU_RESOURCE] = str(gpus)

        period = 10
        probe = {"path": spec.health_path, "port": "http"}
        container = d.DeploymentV1SpecTemplateSpecContainer(
            name="server",
            image=spec.image,
            # A tag can move; a digest cannot (then the node's copy is as good as the registry's).
            image_pull_policy="IfNotPresent" if "@sha256:" in spec.image else "Always",
            args=list(spec.args) or None,
            port=[d.DeploymentV1SpecTemplateSpecContainerPort(name="http", container_port=spec.port, protocol="TCP")],
            env=[d.DeploymentV1SpecTemplateSpecContainerEnv(name=k, value=v) for k, v in env.items()],
            resources=d.DeploymentV1SpecTemplateSpecContainerResources(requests=requests, limits=limits),
            # Startup: the model may take startup_timeout_sec to load; liveness only starts after it.
            startup_probe=d.DeploymentV1SpecTemplateSpecContainerStartupProbe(
                http_get=d.DeploymentV1SpecTemplateSpecContainerStartupProbeHttpGet(**probe),
                period_seconds=period, timeout_seconds=5,
                failure_threshold=-(-spec.startup_timeout_sec // period),
            ),
            readiness_probe=d.DeploymentV1SpecTemplateSpecContainerReadinessProbe(
                http_get=d.DeploymentV1SpecTemplateSpecContainerReadinessProbeHttpGet(**probe),
                period_seconds=period, timeout_seconds=5, failure_threshold=3, success_threshold=1,
            ),
            liveness_probe=d.DeploymentV1SpecTemplateSpecContainerLivenessProbe(
                http_get=d.DeploymentV1SpecTemplateSpecContainerLivenessProbeHttpGet(**probe),
                period_seconds=20, timeout_seconds=5, failure_threshold=3,
            ),
            security_context=d.DeploymentV1SpecTemplateSpecContainerSecurityContext(
                run_as_non_root=True,
                run_as_user=str(spec.run_as_user),
                run_as_group=str(spec.run_as_user),
                read_only_root_filesystem=True,
                allow_privilege_escalation=False,
                privileged=False,
                capabilities=d.DeploymentV1SpecTemplateSpecContainerSecurityContextCapabilities(drop=["ALL"]),
                seccomp_profile=d.DeploymentV1SpecTemplateSpecContainerSecurityContextSeccompProfile(type="RuntimeDefault"),
            ),
            volume_mount=[
                d.DeploymentV1SpecTemplateSpecContainerVolumeMount(name="tmp", mount_path="/tmp"),
                d.DeploymentV1SpecTemplateSpecContainerVolumeMount(name="model-cache", mount_path=MODEL_DIR),
            ],
        )
        timeout = f"{spec.startup_timeout_sec // 60 + 15}m"
        return d.DeploymentV1(
            self, "deployment",
            metadata=d.DeploymentV1Metadata(name=spec.name, namespace=self.namespace, labels=self.labels),
            spec=d.DeploymentV1Spec(
                replicas=str(spec.replicas),
                revision_history_limit=5,
                progress_deadline_seconds=spec.startup_timeout_sec + 300,
                selector=d.DeploymentV1SpecSelector(match_labels=self.selector),
                strategy=d.DeploymentV1SpecStrategy(
                    type="RollingUpdate",
                    # Never below the serving capacity: GPUs are scarce, but a model update must not drop traffic.
                    rolling_update=d.DeploymentV1SpecStrategyRollingUpdate(max_surge="1", max_unavailable="0"),
                ),
                template=d.DeploymentV1SpecTemplate(
                    metadata=d.DeploymentV1SpecTemplateMetadata(labels=self.labels),
                    spec=d.DeploymentV1SpecTemplateSpec(
                        service_account_name=self.service_account.metadata.name,
                        automount_service_account_token=False,
                        node_selector=pool.node_selector,
                        toleration=[d.DeploymentV1SpecTemplateSpecToleration(**t) for t in pool.tolerations] or None,
                        termination_grace_period_seconds=spec.termination_grace_period_sec,
                        security_context=d.DeploymentV1SpecTemplateSpecSecurityContext(
                            run_as_non_root=True,
                            run_as_user=str(spec.run_as_user),
                            run_as_group=str(spec.run_as_user),
                            fs_group=str(spec.run_as_user),
                            seccomp_profile=d.DeploymentV1SpecTemplateSpecSecurityContextSeccompProfile(type="RuntimeDefault"),
                        ),
                        topology_spread_constraint=[d.DeploymentV1SpecTemplateSpecTopologySpreadConstraint(
                            max_skew=1,
                            topology_key="topology.kubernetes.io/zone",
                            when_unsatisfiable="ScheduleAnyway",
                            label_selector=[d.DeploymentV1SpecTemplateSpecTopologySpreadConstraintLabelSelector(
                                match_labels=self.selector,
                            )],
                        )],
                        container=[container],
                        volume=[
                            d.DeploymentV1SpecTemplateSpecVolume(
                                name="tmp", empty_dir=d.DeploymentV1SpecTemplateSpecVolumeEmptyDir(size_limit="1Gi"),
                            ),
                            d.DeploymentV1SpecTemplateSpecVolume(
                                name="model-cache",
                                empty_dir=d.DeploymentV1SpecTemplateSpecVolumeEmptyDir(size_limit=spec.model_cache_size),
                            ),
                        ],
                    ),
                ),
            ),
            # Terraform waits until the pods are ready: the NEGs exist by then (see gke.py).
            wait_for_rollout=True,
            timeouts=d.DeploymentV1Timeouts(create=timeout, update=timeout),
            # The Service first (the NEG controller starts creating NEGs), and the identity in place
            # before pods try to read the model.
            depends_on=[self.service, self.workload_identity, self.read_grant],
            # The autoscaler owns the replica count after creation.
            lifecycle=TerraformResourceLifecycle(ignore_changes=["spec[0].replicas"]),
            **provider_args,
        )

    def add_dependent(self, resource: Any) -> None:
        """Make ``resource`` (e.g. the load balancer's backend service for ``negs``) wait for the
        Service and the rolled-out Deployment: the NEGs exist once both are done."""
        current = list(resource.depends_on or [])
        for dependency in (self.service, self.deployment):
            address = f"{dependency.terraform_resource_type}.{dependency.friendly_unique_id}"
            if address not in current:
                current.append(address)
        resource.depends_on = current


def _check_fits(spec: WorkloadSpec, pool: NodePool, field: str) -> int:
    """GPUs per pod; fails when the requests do not fit one node of ``pool``."""
    gpus = pool.gpu_count if spec.gpus is None else spec.gpus
    if gpus and not pool.gpu_count:
        raise ConfigurationError(f"{field}.gpus", gpus, f"node pool {pool.name!r} ({pool.machine_type}) has no GPUs")
    if gpus > pool.gpu_count:
        raise ConfigurationError(
            f"{field}.gpus", gpus, f"node pool {pool.name!r} has {pool.gpu_count} x {pool.gpu_type} per node; a pod cannot request more",
        )
    capacity = pool.capacity
    if capacity is not None:
        cpu = cpu_millis(spec.cpu)
        if cpu > capacity.cpu_millis:
            raise ConfigurationError(
                f"{field}.cpu", spec.cpu,
                f"exceeds what a pod can request on {pool.machine_type} (node pool {pool.name!r}): {capacity.cpu_millis}m "
                "after GKE's reservations; lower it or use a larger machine type",
            )
        memory = memory_mib(spec.memory)
        if memory > capacity.memory_mib:
            raise ConfigurationError(
                f"{field}.memory", spec.memory,
                f"exceeds what a pod can request on {pool.machine_type} (node pool {pool.name!r}): {capacity.memory_mib}Mi "
                "after GKE's reservations; lower it or use a larger machine type",
            )
    return gpus


__all__ = [
    "ClusterAccess",
    "ModelWorkload",
    "WorkloadNegs",
    "WorkloadSpec",
    "cpu_millis",
    "memory_mib",
]

