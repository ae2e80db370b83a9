"""``NodePool``: one node pool of a ``ServingCluster``.

Autoscaling per zone (regional pools), shielded nodes, the GKE metadata server (Workload
Identity), auto-repair and auto-upgrade, surge upgrades, image streaming (on by default except
for the system pool), optional secondary boot disks, and the capacity options: Spot, flex-start,
queued provisioning and reservation affinity. GPU pools get the GKE-managed NVIDIA driver; the
``nvidia.com/gpu=present:NoSchedule`` taint that keeps other pods off is GKE's own (the pool
does not set it, see ``specs.gke.GPU_TAINT_KEY``), so GPU pools are created after the system
pool, and workloads still tolerate it. Spec: ``constructs_lib.specs.gke.NodePoolSpec``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from cdktf import TerraformResourceLifecycle
from constructs import Construct

from constructs_lib._google import container_node_pool
from constructs_lib.errors import ConfigurationError
from constructs_lib.machines import check_gpu_region
from constructs_lib.regions import check_zone
from constructs_lib.specs.gke import (
    GPU_TAINT_KEY,
    GPU_TAINT_VALUE,
    NODE_POOL_LABEL,
    NodeCapacity,
    NodePoolSpec,
    TaintSpec,
    node_capacity,
)
from constructs_lib.specs.reservation import RESERVATION_KEY
from constructs_lib.values import check_unique

if TYPE_CHECKING:
    from constructs_lib.gke.cluster import ServingCluster


class NodePool(Construct):
    """One ``google_container_node_pool`` (construct id ``default``) of a ``ServingCluster``.

    Exposes ``name``, ``spec``, ``node_pool``, ``zones``, ``machine_type``, ``gpu_type``,
    ``gpu_count`` (per node), ``taints`` (what the pool sets: the spec's), ``gke_taints`` (what
    GKE adds: the GPU taint on GPU pools), ``tolerations`` (both), ``node_selector``
    (``{"cloud.google.com/gke-nodepool": name}``), ``image_streaming``, ``queued_provisioning``
    and ``capacity`` (``NodeCapacity`` a pod may request on one node, None for machine types
    ``machines.machine_shape`` does not know).

    ``system``: this is the cluster's system pool (image streaming off by default).
    ``depends_on``: resources the pool is created after (the system pool for GPU pools, the node
    account's image-streaming grant).
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        cluster: "ServingCluster",
        spec: NodePoolSpec,
        system: bool = False,
        depends_on: Sequence[Any] = (),
    ) -> None:
        field = f"node_pools[{spec.name}]"
        zones = spec.zones or cluster.zones
        for index, zone in enumerate(zones):
            check_zone(zone, cluster.region, f"{field}.zones[{index}]")
            if zone not in cluster.zones:
                raise ConfigurationError(
                    f"{field}.zones[{index}]", zone,
                    f"must be one of the cluster's zones ({', '.join(cluster.zones)}): the model's NEGs are looked up there",
                )
        check_unique(list(zones), f"{field}.zones", "zone")
        if spec.gpu is not None and not spec.gpu.skip_region_check:
            check_gpu_region(spec.gpu.type, cluster.region, f"{field}.region")
        super().__init__(scope, id_)
        self.name = spec.name
        self.spec = spec
        self.zones: tuple[str, ...] = tuple(zones)
        self.machine_type = spec.machine_type
        self.gpu_type: str | None = spec.gpu.type if spec.gpu else None
        self.gpu_count: int = spec.gpu_count
        self.gke_taints: tuple[TaintSpec, ...] = (
            (TaintSpec(key=GPU_TAINT_KEY, value=GPU_TAINT_VALUE, effect="NO_SCHEDULE"),) if spec.gpu else ()
        )
        self.taints: tuple[TaintSpec, ...] = spec.taints
        self.node_selector: dict[str, str] = {NODE_POOL_LABEL: spec.name}
        self.capacity: NodeCapacity | None = node_capacity(spec.machine_type)
        self.image_streaming: bool = spec.streams_images(system=system)
        self.queued_provisioning: bool = spec.queued_provisioning

        np = container_node_pool
        gpu = spec.gpu
        reservation = spec.reservation
        if reservation is None and (spec.flex_start or spec.queued_provisioning):
            reservation_affinity = np.ContainerNodePoolNodeConfigReservationAffinity(consume_reservation_type="NO_RESERVATION")
        elif reservation is not None:
            reservation_affinity = np.ContainerNodePoolNodeConfigReservationAffinity(
                consume_reservation_type=reservation.consume,
                key=RESERVATION_KEY if reservation.names else None,
                values=list(reservation.names) or None,
            )
        else:
            reservation_affinity = None
        self.node_pool = np.ContainerNodePool(
            self, "default",
            name=spec.name,
            cluster=cluster.cluster.id,
            location=cluster.region,
            node_locations=list(self.zones),
            # Per zone. Only used at creation: the autoscaler owns the size afterwards.
            initial_node_count=spec.min_nodes_per_zone,
            autoscaling=np.ContainerNodePoolAutoscaling(
                min_node_count=spec.min_nodes_per_zone,
                max_node_count=spec.max_nodes_per_zone,
                location_policy=spec.location_policy or ("ANY" if spec.obtains_capacity_flexibly else "BALANCED"),
            ),
            # Queued provisioning hands nodes to ProvisioningRequests, which GKE refuses with auto-repair on.
            management=np.ContainerNodePoolManagement(auto_repair=not spec.queued_provisioning, auto_upgrade=True),
            upgrade_settings=np.ContainerNodePoolUpgradeSettings(
                strategy="SURGE", max_surge=spec.max_surge, max_unavailable=spec.max_unavailable,
            ),
            queued_provisioning=np.ContainerNodePoolQueuedProvisioning(enabled=True) if spec.queued_provisioning else None,
            node_config=np.ContainerNodePoolNodeConfig(
                machine_type=spec.machine_type,
                disk_size_gb=spec.disk_size_gb,
                disk_type=spec.disk_type,
                image_type=spec.image_type,
                spot=spec.spot or None,
                flex_start=spec.flex_start or None,
                reservation_affinity=reservation_affinity,
                service_account=cluster.node_service_account_email,
                oauth_scopes=["https://www.googleapis.com/auth/cloud-platform"],
                metadata={"disable-legacy-endpoints": "true"},
                tags=[cluster.node_tag],
                labels={**spec.labels} or None,
                resource_labels={**cluster.spec.labels, "node-pool": spec.name},
                shielded_instance_config=np.ContainerNodePoolNodeConfigShieldedInstanceConfig(
                    enable_secure_boot=True, enable_integrity_monitoring=True,
                ),
                workload_metadata_config=np.ContainerNodePoolNodeConfigWorkloadMetadataConfig(mode="GKE_METADATA"),
                gcfs_config=np.ContainerNodePoolNodeConfigGcfsConfig(enabled=True) if self.image_streaming else None,
                secondary_boot_disks=[
                    np.ContainerNodePoolNodeConfigSecondaryBootDisks(disk_image=disk.disk_image, mode=disk.api_mode)
                    for disk in spec.secondary_boot_disks
                ] or None,
                guest_accelerator=[np.ContainerNodePoolNodeConfigGuestAccelerator(
                    type=gpu.type,
                    count=self.gpu_count,
                    gpu_driver_installation_config=np.ContainerNodePoolNodeConfigGuestAcceleratorGpuDriverInstallationConfig(
                        gpu_driver_version=gpu.driver_version,
                    ),
                )] if gpu else None,
                # Only the spec's taints: GKE puts the GPU taint on GPU nodes itself (see GPU_TAINT_KEY).
                taint=[
                    np.ContainerNodePoolNodeConfigTaint(key=t.key, value=t.value, effect=t.effect) for t in self.taints
                ] or None,
            ),
            depends_on=list(depends_on) or None,
            lifecycle=TerraformResourceLifecycle(ignore_changes=["initial_node_count"]),
        )

    @property
    def tolerations(self) -> list[dict[str, str]]:
        """GKE's and the pool's taints as Kubernetes tolerations (``key``, ``operator``, ``value``, ``effect``)."""
        return [
            {"key": t.key, "operator": "Equal", "value": t.value, "effect": t.kubernetes_effect}
            for t in self.gke_taints + self.taints
        ]

