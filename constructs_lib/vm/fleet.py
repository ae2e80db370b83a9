"""``ModelServerFleet``: one model's servers in one region, as a regional managed instance group.

Shape: one construct per model per region. The load balancer needs one backend per region,
every regional resource (MIG, health check, autoscaler, subnet) is per region anyway, and a
per-region construct keeps each region's Terraform addresses independent (adding a region
never touches another region's resources). The model's service account is shared across its
regions: pass a ``ServiceIdentity`` (``VmModel`` does); without one each fleet creates its own
(``<fleet id>/identity``).

Resources per fleet (construct ids): ``template`` (+ ``canary-template``, see
``constructs_lib.vm.template``), ``health-check`` (HTTP on the model's port and health path, for
auto-healing), ``group`` (``google_compute_region_instance_group_manager``: zones spread by
``ModelSpec.distribution_shape`` (BALANCED over the zones that offer the accelerator for GPU
models, EVEN over every zone otherwise), named port, auto-healing with a delay that covers the
model's load time, proactive rolling updates with surge) and, when the network does not admit
the model's port yet, a health-check firewall rule on the network. How the server starts is
``constructs_lib.vm.runner``'s concern (cloud-init and systemd, not the deprecated container agent).

A fleet is a ``BackendTarget`` (its instance group), a ``ScalableTarget`` (for
``FleetAutoscaler``) and a ``Grantee`` (its service account).
"""

from __future__ import annotations

from typing import Any

import jsii
from constructs import Construct, IValidation

from constructs_lib._google import compute_health_check, compute_region_instance_group_manager
from constructs_lib.edge.backends import instance_group_backend
from constructs_lib.errors import ConfigurationError
from constructs_lib.iam import check_service_account_email, service_account_member
from constructs_lib.identity import ServiceIdentity, derived_account_id
from constructs_lib.interfaces import BackendKind, CacheConnection, ModelSource
from constructs_lib.labels import apply_common_labels
from constructs_lib.machines import check_gpu_region, check_gpu_zone, gpu_zones
from constructs_lib.naming import Naming
from constructs_lib.regions import check_region, check_zone, region_code, zones_of
from constructs_lib.specs.model import ModelSpec, server_environment
from constructs_lib.specs.vm import MODEL_DIR, UpdatePolicySpec
from constructs_lib.vm.runner import server_metadata
from constructs_lib.vm.template import instance_template


def check_vm_model(model: ModelSpec) -> ModelSpec:
    """``model`` if it runs on VM fleets: the VM rules (machine fit, image or startup script,
    startup timeout) are checked only for ``runtime = 'vm'``, so a GKE model never becomes a fleet."""
    if model.runtime != "vm":
        raise ConfigurationError(
            f"models[{model.name}].runtime", model.runtime, "VM fleets serve models with runtime = 'vm'; a GKE model runs as a ModelWorkload",
        )
    return model


def fleet_identity(scope: Construct, id_: str, *, naming: Naming, model: ModelSpec, region: str | None = None) -> ServiceIdentity:
    """The dedicated service account of ``model``'s servers (one per model; per region when
    ``region`` is given), with ``vm.roles``. Defaults to the id ``<app>-<env>-<model>[-<region code>]``."""
    parts = [model.name] + ([region_code(region)] if region else [])
    where = f" in {region}" if region else ""
    return ServiceIdentity(
        scope, id_,
        account_id=model.vm.account_id or derived_account_id(naming, *parts),
        display_name=f"Model server {model.name}{where} ({naming.prefix})",
        description=f"Runs the {model.name} model servers{where}; managed by cdktf",
        roles=model.vm.roles,
    )


def fleet_zones(model: ModelSpec, region: str) -> tuple[str, ...]:
    """The zones ``model``'s group spreads over in ``region``: ``vm.zones`` (each checked against
    the region and, for a GPU model, against the zones that offer its accelerator), else every
    zone of the region, for a GPU model every zone with its accelerator (an EVEN or BALANCED
    group never starts the VMs of a zone that cannot have them)."""
    accelerator = model.accelerator
    checked = accelerator is not None and not accelerator.skip_region_check
    if checked:
        check_gpu_region(accelerator.type, region, gpu_field="accelerator")
    for index, zone in enumerate(model.vm.zones):
        check_zone(zone, region, f"vm.zones[{index}]")
        if checked:
            check_gpu_zone(accelerator.type, zone, f"vm.zones[{index}]", gpu_field="accelerator")
    if model.vm.zones:
        return tuple(model.vm.zones)
    return gpu_zones(accelerator.type, region) if checked else zones_of(region)


@jsii.implements(IValidation)
class _GroupSizeIsManaged:
    """Synth-time check that the group is sized by exactly one of target_size / an autoscaler."""

    def __init__(self, fleet: "ModelServerFleet") -> None:
        self._fleet = fleet

    def validate(self) -> list[str]:
        fleet = self._fleet
        target_size = fleet.model.vm.target_size
        if fleet.autoscaler is None and target_size is None:
            return [str(ConfigurationError(
                "vm.target_size", None,
                f"fleet {fleet.node.path} has neither target_size nor a FleetAutoscaler; it would run 0 VMs",
            ))]
        if fleet.autoscaler is not None and target_size is not None:
            return [str(ConfigurationError(
                "vm.target_size", target_size,
                f"fleet {fleet.node.path} has a FleetAutoscaler; leave target_size unset (they would fight)",
            ))]
        return []


class ModelServerFleet(Construct):
    """One model's servers in one region: template, health check, regional MIG (+ service account).

    Public attributes: ``model`` (the ``ModelSpec``), ``region``, ``zones``, ``distribution_shape``,
    ``gpus_per_vm``, ``model_dir`` (``MODEL_DIR`` when the VMs download the model), ``port``, ``port_name``,
    ``network_tag``, ``name``, ``template``, ``canary_template``, ``health_check``,
    ``group_manager``, ``instance_group``, ``identity`` (None when an email was passed),
    ``service_account_email``, ``iam_member``, ``health_check_rule`` (the firewall rule the fleet
    added, if any) and ``autoscaler``.
    """

    backend_kind: BackendKind = "instance-group"
    dependencies: tuple[Any, ...] = ()

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        network: Any,
        naming: Naming,
        region: str,
        model: ModelSpec,
        model_source: ModelSource | None = None,
        cache: CacheConnection | None = None,
        identity: ServiceIdentity | str | None = None,
    ) -> None:
        check_vm_model(model)
        check_region(region)
        subnet = network.subnet_self_link(region)
        vm = model.vm
        zones = fleet_zones(model, region)
        if model.vm.model_download.enabled and model_source is None:
            raise ConfigurationError(
                "vm.model_download.enabled", True, "needs a model store: the files are copied from MODEL_URI (gs://<bucket>/<model_path>)",
            )
        surge, unavailable = _check_update_policy(vm.update_policy, len(zones))
        if isinstance(identity, str):
            check_service_account_email(identity, "identity")
        super().__init__(scope, id_)
        apply_common_labels(self, naming)

        self.model = model
        self.naming = naming
        self.network = network
        self.region = region
        self.zones = zones
        self.port: int = model.port or network.spec.serving_port
        self.port_name: str = vm.port_name
        self.network_tag: str = network.fleet_tag
        self.startup_timeout_sec = model.startup_timeout_sec
        self.name = naming.name(model.name, region)
        self.gpus_per_vm: int = model.gpus_per_vm
        self.distribution_shape: str = model.distribution_shape
        self.autoscaler: Any = None

        self.identity: ServiceIdentity | None
        if identity is None:
            self.identity = fleet_identity(self, "identity", naming=naming, model=model, region=region)
        else:
            self.identity = identity if isinstance(identity, ServiceIdentity) else None
        if self.identity is not None:
            self.service_account_email: str = self.identity.email
            self.iam_member: str = self.identity.iam_member
        else:
            self.service_account_email = identity  # type: ignore[assignment]
            self.iam_member = service_account_member(identity)  # type: ignore[arg-type]

        labels = {"model": model.name, **vm.labels}
        model_uri = model_source.uri if model_source else None
        downloads = model.downloads_model and model_uri is not None
        self.model_dir: str | None = MODEL_DIR if downloads else None
        env = server_environment(model, port=self.port, model_uri=model_uri, model_dir=self.model_dir, cache=cache)
        tags = [self.network_tag, *[t for t in vm.network_tags if t != self.network_tag]]
        boot_image = model.boot_image
        local_ssd = downloads and vm.model_download.disk == "local-ssd"

        def template(id_: str, prefix: str, image: str | None, boot: str) -> Any:
            return instance_template(
                self, id_, model=model, region=region, name_prefix=prefix, subnet=subnet, network_tags=tags,
                service_account_email=self.service_account_email,
                metadata=server_metadata(model, env, image, boot, model_uri if downloads else None),
                boot_image=boot, labels=labels, local_ssd=local_ssd,
            )

        self.template = template("template", naming.name(model.name, region, max_length=53) + "-", model.image, boot_image)
        self.canary_template = None
        if vm.canary is not None:
            self.canary_template = template(
                "canary-template", naming.name(model.name, region, "canary", max_length=53) + "-",
                vm.canary.image or model.image, vm.canary.boot_image or boot_image,
            )

        autoheal = vm.health_check
        self.health_check = compute_health_check.ComputeHealthCheck(
            self, "health-check",
            name=naming.name(model.name, region, "hc"),
            description=f"Auto-healing check of the {model.name} servers in {region}",
            check_interval_sec=autoheal.check_interval_sec,
            timeout_sec=autoheal.timeout_sec,
            healthy_threshold=autoheal.healthy_threshold,
            unhealthy_threshold=autoheal.unhealthy_threshold,
            http_health_check=compute_health_check.ComputeHealthCheckHttpHealthCheck(
                port=self.port, request_path=model.health_path,
            ),
        )

        # The group never turns healthy if the health-check ranges cannot reach the port:
        # open it (on the fleet tag only) rather than fail, since the network offers exactly that.
        self.health_check_rule = None
        if not network.admits_health_checks(self.port, tag=self.network_tag):
            self.health_check_rule = network.allow_health_checks(port=self.port, target_tags=(self.network_tag,))

        m = compute_region_instance_group_manager
        versions = [m.ComputeRegionInstanceGroupManagerVersion(name="stable", instance_template=self.template.self_link_unique)]
        if self.canary_template is not None and vm.canary is not None:
            versions.append(m.ComputeRegionInstanceGroupManagerVersion(
                name="canary",
                instance_template=self.canary_template.self_link_unique,
                target_size=m.ComputeRegionInstanceGroupManagerVersionTargetSize(percent=vm.canary.percent),
            ))
        policy = vm.update_policy
        self.group_manager = m.ComputeRegionInstanceGroupManager(
            self, "group",
            name=self.name,
            base_instance_name=naming.name(model.name, max_length=58),
            description=f"{model.name} model servers in {region}",
            region=region,
            version=versions,
            distribution_policy_zones=list(zones),
            distribution_policy_target_shape=self.distribution_shape,
            named_port=[m.ComputeRegionInstanceGroupManagerNamedPort(name=self.port_name, port=self.port)],
            auto_healing_policies=m.ComputeRegionInstanceGroupManagerAutoHealingPolicies(
                health_check=self.health_check.id, initial_delay_sec=model.startup_timeout_sec,
            ),
            update_policy=m.ComputeRegionInstanceGroupManagerUpdatePolicy(
                type=policy.type,
                minimal_action=policy.minimal_action,
                replacement_method=policy.replacement_method,
                max_surge_fixed=surge,
                max_unavailable_fixed=unavailable,
                # EVEN keeps zones balanced by moving VMs; the other shapes require NONE.
                instance_redistribution_type="PROACTIVE" if self.distribution_shape == "EVEN" else "NONE",
            ),
            target_size=vm.target_size,
            wait_for_instances=vm.wait_for_instances,
        )
        self.instance_group: str = self.group_manager.instance_group
        self.group_manager_id: str = self.group_manager.id
        self.node.add_validation(_GroupSizeIsManaged(self))

    # -- BackendTarget ------------------------------------------------------------------------

    @property
    def location(self) -> str:
        return self.region

    def backend_blocks(self, spec: Any, field: str) -> list[Any]:
        """The group as one backend of a backend service with ``spec``. A model that scales on
        ``request-rate`` is balanced by RATE at ``max_rate_per_instance`` = its target when the spec
        leaves the mode unset: the autoscaler's load-balancing utilization is then requests/s per
        VM against that rate (UTILIZATION would measure CPU-like "busyness" instead)."""
        rate = next((s for s in self.model.scaling_signals if s.kind == "request-rate"), None)
        if rate is not None and spec.balancing_mode is None:
            spec = spec.model_copy(update={"balancing_mode": "RATE", "max_rate_per_instance": spec.max_rate_per_instance or rate.target})
        return [instance_group_backend(self.instance_group, spec, field)]

    def admits_health_checks(self, port: int) -> bool:
        return self.network.admits_health_checks(port, tag=self.network_tag)

    # -- ScalableTarget -----------------------------------------------------------------------

    def attach_autoscaler(self, autoscaler: Any) -> None:
        """Called by ``FleetAutoscaler``: one autoscaler per group."""
        if self.autoscaler is not None:
            raise ConfigurationError(
                "fleet", self.node.path, f"already has an autoscaler ({self.autoscaler.node.path}); a group takes one"
            )
        self.autoscaler = autoscaler


def _check_update_policy(policy: UpdatePolicySpec, zone_count: int) -> tuple[int, int]:
    surge = zone_count if policy.max_surge_fixed is None else policy.max_surge_fixed
    unavailable = policy.max_unavailable_fixed
    if policy.replacement_method == "RECREATE" and surge != 0:
        raise ConfigurationError(
            "vm.update_policy.max_surge_fixed", surge, "must be 0 when replacement_method is RECREATE (names are reused)"
        )
    for name, value in (("max_surge_fixed", surge), ("max_unavailable_fixed", unavailable)):
        if 0 < value < zone_count:
            raise ConfigurationError(
                f"vm.update_policy.{name}", value, f"a regional group over {zone_count} zones needs 0 or at least {zone_count}",
            )
    if surge == 0 and unavailable == 0:
        raise ConfigurationError(
            "vm.update_policy.max_unavailable_fixed", 0, "max_surge_fixed and max_unavailable_fixed cannot both be 0"
        )
    return surge, unavailable
