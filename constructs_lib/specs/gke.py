"""Specs of the GKE runtime: the cluster and its node pools (``[gke.cluster]``) and how a
model runs on it (``[models.gke]``), with the Kubernetes quantity and node-capacity rules that
let a pod that would never schedule fail at synth. Constructs: ``constructs_lib.gke``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from constructs_lib.errors import ConfigurationError, Spec, invalid, rule
from constructs_lib.iam import AccountId
from constructs_lib.machines import (
    GpuTypeName,
    MachineTypeName,
    check_machine_without_gpu,
    machine_shape,
    resolve_gpu_count,
)
from constructs_lib.naming import Labels, NamePart, ResourceName, resource_name
from constructs_lib.specs.reservation import ReservationSpec
from constructs_lib.values import Image, PrivateCidr, check_disjoint, parse_cidr, pattern_type, repeated, unique


_CPU = re.compile(r"^(?P<number>[0-9]+(?:\.[0-9]+)?)(?P<unit>m?)$")


_MEMORY = re.compile(r"^(?P<number>[0-9]+(?:\.[0-9]+)?)(?P<unit>Ki|Mi|Gi|Ti|k|M|G|T)?$")


_MEMORY_FACTORS = {
    None: Decimal(1), "Ki": Decimal(1024), "Mi": Decimal(1024**2), "Gi": Decimal(1024**3), "Ti": Decimal(1024**4),
    "k": Decimal(1000), "M": Decimal(1000**2), "G": Decimal(1000**3), "T": Decimal(1000**4),
}


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


CpuQuantity = Annotated[str, rule(cpu_millis)]
"""Spec field type: a Kubernetes CPU quantity (``500m``, ``2``)."""

MemoryQuantity = Annotated[str, rule(memory_mib)]
"""Spec field type: a Kubernetes memory quantity (``512Mi``, ``16Gi``)."""


GPU_TAINT_KEY = "nvidia.com/gpu"
"""Key of the taint GKE itself puts on GPU nodes (``nvidia.com/gpu=present:NoSchedule``). The
node pool does not set it: GKE owns it, and a pool that sets it too can be refused with "more
than one taint with key nvidia.com/gpu" (hashicorp/terraform-provider-google#7928). GKE adds it
only while the cluster also has a pool without GPUs, so GPU pools are created after the system pool."""


GPU_TAINT_VALUE = "present"


GPU_RESOURCE = "nvidia.com/gpu"


NODE_POOL_LABEL = "cloud.google.com/gke-nodepool"
"""Node label GKE sets to the node pool's name (what a workload's node selector uses)."""


CLUSTER_NAME_MAX = 40


NODE_POOL_NAME_MAX = 40

NodePoolName = resource_name(NODE_POOL_NAME_MAX)
"""Spec field type: a node pool name (GKE takes at most 40 characters)."""


MAX_AUTHORIZED_NETWORKS = 50


K8S_EFFECTS = {"NO_SCHEDULE": "NoSchedule", "PREFER_NO_SCHEDULE": "PreferNoSchedule", "NO_EXECUTE": "NoExecute"}


DAEMONSET_RESERVE_MILLICPU = 200
DAEMONSET_RESERVE_MIB = 512


GCS_FUSE_DRIVER = "gcsfuse.csi.storage.gke.io"
"""CSI driver of GKE's Cloud Storage FUSE add-on (``addons_config.gcs_fuse_csi_driver_config``)."""


GCS_FUSE_ANNOTATION = "gke-gcsfuse/volumes"
"""Pod annotation that makes GKE inject the Cloud Storage FUSE sidecar (``"true"``)."""


GCS_FUSE_CACHE_VOLUME = "gke-gcsfuse-cache"
"""Pod volume the FUSE sidecar uses as its file cache when the pod defines one (else a default
emptyDir without a size limit): the model's ``model_cache_size`` bounds it."""


DiskImage = pattern_type(
    re.compile(r"^(projects/[a-z][-a-z0-9]{4,28}[a-z0-9]/)?global/images/[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"),
    "must be global/images/<name> or projects/<project>/global/images/<name>",
)


@dataclass(frozen=True)
class NodeCapacity:
    """CPU (millicores) and memory (MiB) of one node: ``allocatable`` after GKE's reservations."""

    cpu_millis: int
    memory_mib: int


def _reserved_memory_mib(memory_mib: float) -> float:
    """GKE's kube-reserved memory (25 % of the first 4 GiB, 20 % of the next 4, 10 % of the next
    8, 6 % of the next 112, 2 % above 128 GiB) plus the 100 MiB eviction threshold."""
    if memory_mib < 1024:
        return 255 + 100
    reserved, lower = 0.0, 0.0
    for upper, share in ((4096, 0.25), (8192, 0.20), (16384, 0.10), (131072, 0.06), (float("inf"), 0.02)):
        if memory_mib > lower:
            reserved += (min(memory_mib, upper) - lower) * share
        lower = upper
    return reserved + 100


def _reserved_cpu_millis(vcpus: int) -> float:
    """GKE's kube-reserved CPU (6 % of the first core, 1 % of the second, 0.5 % of the next two,
    0.25 % of every core above four)."""
    reserved, lower = 0.0, 0
    for upper, share in ((1, 0.06), (2, 0.01), (4, 0.005), (10**6, 0.0025)):
        if vcpus > lower:
            reserved += (min(vcpus, upper) - lower) * share * 1000
        lower = upper
    return reserved


def node_capacity(machine_type: str) -> NodeCapacity | None:
    """What pods may request on one node of ``machine_type``: GKE allocatable minus the
    ``DAEMONSET_RESERVE_*`` allowance, or None for machine types ``machines.machine_shape`` does not know."""
    shape = machine_shape(machine_type)
    if shape is None:
        return None
    vcpus, memory_gib = shape
    memory_mib = memory_gib * 1024
    cpu = vcpus * 1000 - _reserved_cpu_millis(vcpus) - DAEMONSET_RESERVE_MILLICPU
    memory = memory_mib - _reserved_memory_mib(memory_mib) - DAEMONSET_RESERVE_MIB
    return NodeCapacity(cpu_millis=int(cpu), memory_mib=int(memory))


class NodeGpuSpec(Spec):
    """GPUs on every node of a pool (catalogue: ``constructs_lib.machines``)."""

    type: GpuTypeName = Field(description="Accelerator type, e.g. nvidia-l4, nvidia-tesla-t4, nvidia-h100-80gb.")
    count: int | None = Field(default=None, description="GPUs per node. Defaults to the machine type's fixed count (G2/A2/A3) or 1 (N1).")
    driver_version: Literal["DEFAULT", "LATEST", "INSTALLATION_DISABLED"] = Field(
        default="DEFAULT",
        description="GKE-managed NVIDIA driver (gpu_driver_installation_config). Defaults to DEFAULT: the version "
        "GKE tests with the node version; LATEST for newer CUDA; INSTALLATION_DISABLED to bring your own daemonset.",
    )
    skip_region_check: bool = Field(default=False, description="Skip the approximate region table of constructs_lib.machines. Defaults to False.")


class TaintSpec(Spec):
    """A Kubernetes taint on every node of a pool (workloads on the pool tolerate it)."""

    key: str = Field(description="Taint key, e.g. 'workload'.")
    value: str = Field(description="Taint value, e.g. 'inference'.")
    effect: Literal["NO_SCHEDULE", "PREFER_NO_SCHEDULE", "NO_EXECUTE"] = Field(
        default="NO_SCHEDULE", description="Defaults to NO_SCHEDULE: only pods that tolerate it are placed on the pool; running pods stay.",
    )

    @property
    def kubernetes_effect(self) -> str:
        """``NoSchedule`` etc.: the effect as a Kubernetes toleration writes it."""
        return K8S_EFFECTS[self.effect]


class SecondaryBootDiskSpec(Spec):
    """A disk image every node of a pool gets as a secondary boot disk (GKE 1.28.3-gke.1067000+,
    needs image streaming). ``container-image-cache`` (the default) preloads the container images
    stored on it: bake the model weights into the server image (or a layer of it) and a new node
    starts the model without pulling them. ``data`` mounts the disk on the node only: pods reach it
    through a hostPath volume, which the models' Pod Security level (restricted) forbids, so it
    serves workloads outside the model namespaces."""

    disk_image: DiskImage = Field(description="Disk image: global/images/<name> or projects/<project>/global/images/<name>.")
    mode: Literal["container-image-cache", "data"] = Field(
        default="container-image-cache",
        description="Defaults to container-image-cache: containerd reads the images (and the weights in them) from the disk.",
    )

    @property
    def api_mode(self) -> str | None:
        """``CONTAINER_IMAGE_CACHE`` or None (the API's data mode, MODE_UNSPECIFIED)."""
        return "CONTAINER_IMAGE_CACHE" if self.mode == "container-image-cache" else None


class NodePoolSpec(Spec):
    """One node pool (``google_container_node_pool``). Sizes are per zone (regional pools).

    Capacity: on-demand by default; ``spot`` (cheapest, preemptible any time), ``flex_start``
    (Dynamic Workload Scheduler: waits for GPUs, nodes live up to 7 days), ``queued_provisioning``
    (flex-start for batch: nodes only for ProvisioningRequests, never for a model's Deployment) and
    ``reservation`` (consume reserved capacity) are mutually checked at synth."""

    name: NodePoolName = Field(  # type: ignore[valid-type]
        description="Node pool name (also the node label cloud.google.com/gke-nodepool), at most 40 characters.",
    )
    machine_type: MachineTypeName = Field(default="e2-standard-4", description="Defaults to e2-standard-4.")
    min_nodes_per_zone: int = Field(default=1, ge=0, le=1000, description="Autoscaling minimum per zone. Defaults to 1.")
    max_nodes_per_zone: int = Field(default=3, ge=1, le=1000, description="Autoscaling maximum per zone. Defaults to 3.")
    gpu: NodeGpuSpec | None = Field(default=None, description="GPUs per node; GKE taints the nodes nvidia.com/gpu=present:NoSchedule itself.")
    spot: bool = Field(default=False, description="Spot VMs (up to ~60-90 % cheaper, can be preempted any time). Defaults to off.")
    flex_start: bool = Field(
        default=False,
        description="Flex-start VMs (Dynamic Workload Scheduler, GKE 1.32.2-gke.1652000+): a scale-up waits until GPUs are "
        "free, at a discount; nodes are replaced after at most 7 days. Defaults to off. Not with spot or a reservation.",
    )
    queued_provisioning: bool = Field(
        default=False,
        description="Nodes only through ProvisioningRequests (queued, all-or-nothing; batch jobs via Kueue). Defaults to off. "
        "Needs GPUs and min_nodes_per_zone = 0, no Spot, no reservation; model Deployments cannot run on such a pool.",
    )
    reservation: ReservationSpec | None = Field(
        default=None, description="Reservations the nodes consume. Defaults to none set (GKE's default: any matching reservation).",
    )
    image_streaming: bool | None = Field(
        default=None,
        description="Image streaming (gcfs_config): containers start while their image streams in. Defaults to on, except for "
        "the cluster's system pool. Needs COS_CONTAINERD and the Container File System API.",
    )
    secondary_boot_disks: tuple[SecondaryBootDiskSpec, ...] = Field(
        default=(), description="Disk images attached to every node, e.g. a container-image cache holding the model weights. Defaults to none.",
    )
    disk_size_gb: int = Field(default=100, ge=10, le=65536, description="Boot disk. Defaults to 100 GB (images and model cache live there).")
    disk_type: Literal["pd-balanced", "pd-ssd", "pd-standard"] = Field(default="pd-balanced", description="Defaults to pd-balanced.")
    image_type: Literal["COS_CONTAINERD", "UBUNTU_CONTAINERD"] = Field(default="COS_CONTAINERD", description="Defaults to COS_CONTAINERD (hardened, signed GPU drivers with secure boot).")
    zones: tuple[str, ...] = Field(default=(), description="Zones of this pool. Defaults to the cluster's zones.")
    taints: tuple[TaintSpec, ...] = Field(default=(), description="Extra taints (GKE adds the GPU taint to GPU pools itself).")
    labels: Labels = Field(default_factory=dict, description="Extra Kubernetes node labels.")
    max_surge: int = Field(default=1, ge=0, le=100, description="Surge upgrade: extra nodes during an upgrade. Defaults to 1.")
    max_unavailable: int = Field(default=0, ge=0, le=100, description="Surge upgrade: nodes down at once. Defaults to 0 (capacity never drops).")
    location_policy: Literal["BALANCED", "ANY"] | None = Field(
        default=None,
        description="Autoscaler zone choice. Defaults to ANY for Spot, flex-start and queued pools (take capacity where it is), else BALANCED.",
    )

    @model_validator(mode="after")
    def _rules(self) -> "NodePoolSpec":
        if self.max_nodes_per_zone < self.min_nodes_per_zone:
            raise ValueError(
                f"max_nodes_per_zone ({self.max_nodes_per_zone}) must be >= min_nodes_per_zone ({self.min_nodes_per_zone})"
            )
        if self.max_surge == 0 and self.max_unavailable == 0:
            raise ValueError("max_surge and max_unavailable are both 0: an upgrade could never replace a node; set one of them")
        try:
            if self.gpu is not None:
                resolve_gpu_count(self.gpu.type, self.gpu.count, self.machine_type)
            else:
                check_machine_without_gpu(self.machine_type)
        except ConfigurationError as error:
            raise ValueError(str(error)) from None
        keys = [t.key for t in self.taints]
        if self.gpu is not None and GPU_TAINT_KEY in keys:
            raise invalid(
                "taints", GPU_TAINT_KEY,
                "GKE taints GPU nodes with nvidia.com/gpu itself; drop it (setting it too can fail with 'more than one taint with key nvidia.com/gpu')",
            )
        self._check_capacity()
        if self.image_streaming and self.image_type != "COS_CONTAINERD":
            raise invalid("image_streaming", True, f"needs image_type COS_CONTAINERD (GKE streams images on Container-Optimized OS only), not {self.image_type}")
        if self.secondary_boot_disks and (self.image_streaming is False or self.image_type != "COS_CONTAINERD"):
            raise invalid(
                "secondary_boot_disks", "set",
                "need image streaming (image_streaming not false, image_type COS_CONTAINERD): GKE reads secondary boot disks through it",
            )
        images = repeated(d.disk_image for d in self.secondary_boot_disks)
        if images:
            raise invalid("secondary_boot_disks", images[0], "each disk image may be attached once")
        return self

    def _check_capacity(self) -> None:
        """Spot, flex-start, queued provisioning and reservations: the combinations GKE refuses."""
        reserves = self.reservation is not None and self.reservation.consumes
        if self.flex_start and self.spot:
            raise invalid("flex_start", True, "a node is a Spot VM or a flex-start VM, not both; set spot = false or flex_start = false")
        if self.queued_provisioning:
            if self.spot:
                raise invalid("queued_provisioning", True, "does not take Spot VMs; set spot = false")
            if self.gpu is None:
                raise invalid("queued_provisioning", True, "provisions accelerator nodes only (GKE rejects ProvisioningRequests for pools without GPUs); add gpu")
            if self.min_nodes_per_zone != 0:
                raise invalid(
                    "min_nodes_per_zone", self.min_nodes_per_zone,
                    "must be 0 with queued_provisioning: the pool's nodes come only from ProvisioningRequests",
                )
        if reserves and (self.flex_start or self.queued_provisioning):
            kind = "queued_provisioning" if self.queued_provisioning else "flex_start"
            raise invalid(
                "reservation.consume", self.reservation.consume,  # type: ignore[union-attr]
                f"{kind} nodes do not consume reservations (GKE requires reservation affinity none); drop reservation",
            )
        if self.spot and self.reservation is not None and self.reservation.consume == "SPECIFIC_RESERVATION":
            raise invalid("reservation.consume", "SPECIFIC_RESERVATION", "Spot VMs do not consume reservations, so the pool could never start a node; drop reservation or spot")

    def streams_images(self, *, system: bool) -> bool:
        """``image_streaming`` resolved: on by default, except for the system pool (no model images)
        and non-COS images (GKE streams on Container-Optimized OS only); on whenever the pool has
        secondary boot disks (they need it)."""
        if self.image_streaming is not None:
            return self.image_streaming
        return bool(self.secondary_boot_disks) or (not system and self.image_type == "COS_CONTAINERD")

    @property
    def obtains_capacity_flexibly(self) -> bool:
        """Spot, flex-start or queued: nodes come where capacity is (location policy ANY by default)."""
        return self.spot or self.flex_start or self.queued_provisioning

    @property
    def gpu_count(self) -> int:
        """GPUs per node (0 without GPUs)."""
        if self.gpu is None:
            return 0
        return resolve_gpu_count(self.gpu.type, self.gpu.count, self.machine_type)


def _default_system_pool() -> NodePoolSpec:
    return NodePoolSpec(name="system", machine_type="e2-standard-4", min_nodes_per_zone=1, max_nodes_per_zone=2)


def _default_model_pool() -> NodePoolSpec:
    return NodePoolSpec(
        name="model", machine_type="g2-standard-8", gpu=NodeGpuSpec(type="nvidia-l4"),
        min_nodes_per_zone=0, max_nodes_per_zone=2,
    )


METRICS_ADAPTER_IMAGE = "gcr.io/gke-release/custom-metrics-stackdriver-adapter:v0.16.9-gke.0"
"""The Custom Metrics - Stackdriver Adapter of k8s-stackdriver's production manifest (v0.16.9-gke.0)."""


class GkeClusterSpec(Spec):
    """Tunables of ``ServingCluster``; the ``[gke.cluster]`` section of an environment file."""

    name: NamePart = Field(default="gke", description="Role part of the cluster name <app>-<env>-<name> (at most 40 characters in all). Defaults to 'gke'.")
    release_channel: Literal["RAPID", "REGULAR", "STABLE", "EXTENDED"] = Field(
        default="REGULAR", description="GKE release channel. Defaults to REGULAR: versions proven on RAPID, upgraded automatically.",
    )
    zones: tuple[str, ...] = Field(default=(), description="Node zones (node_locations). Defaults to the first three zones of the region; NEGs exist in exactly these zones.")
    node_cidr: PrivateCidr = Field(default="10.20.0.0/20", description="Primary range of the cluster subnet (nodes). Defaults to 10.20.0.0/20 (4,096 nodes).")
    pods_cidr: PrivateCidr = Field(default="10.24.0.0/14", description="Secondary range 'pods'. Defaults to 10.24.0.0/14 (~1,000 nodes at 110 pods each).")
    services_cidr: PrivateCidr = Field(default="10.28.0.0/20", description="Secondary range 'services'. Defaults to 10.28.0.0/20 (4,096 Services).")
    master_ipv4_cidr_block: PrivateCidr = Field(default="172.16.0.0/28", description="Control-plane range; GKE requires a private /28. Defaults to 172.16.0.0/28.")
    master_authorized_networks: Annotated[tuple[str, ...], unique("CIDR")] = Field(
        default=(),
        description="CIDRs allowed to reach the control plane (CI runners, admins). Defaults to none: only the VPC reaches it; "
        "Terraform applying the workload stack from outside Google Cloud needs its egress range here.",
    )
    enable_private_endpoint: bool = Field(default=False, description="Control plane on a private IP only. Defaults to off (public endpoint, restricted by master_authorized_networks).")
    autoscaling_profile: Literal["OPTIMIZE_UTILIZATION", "BALANCED"] = Field(
        default="OPTIMIZE_UTILIZATION",
        description="Cluster-autoscaler profile. Defaults to OPTIMIZE_UTILIZATION: idle GPU nodes are removed sooner (they are the cost).",
    )
    deletion_protection: bool = Field(default=True, description="Terraform refuses to delete the cluster. Defaults to on.")
    secrets_encryption_key: str | None = Field(default=None, description="Cloud KMS key for application-layer Secrets encryption. Defaults to None (Google-managed).")
    intranode_visibility: bool = Field(default=True, description="Pod-to-pod traffic on one node goes through the VPC (flow logs, firewall). Defaults to on, like the network's flow logs.")
    binary_authorization: bool = Field(
        default=False,
        description="Enforce the project's Binary Authorization policy (PROJECT_SINGLETON_POLICY_ENFORCE). Defaults to off: "
        "it needs the Binary Authorization API and a policy in the project.",
    )
    rbac_security_group: str | None = Field(
        default=None,
        description="Google Groups for RBAC: gke-security-groups@<your domain>. Defaults to None (needs a Workspace/Cloud Identity domain).",
    )
    node_service_account_id: AccountId | None = Field(default=None, description="Account id of the node service account. Defaults to <app>-<env>-<name>-nodes.")
    egress_nat: bool = Field(default=True, description="Cloud NAT for the cluster subnet on the network's router. Defaults to on (private nodes pull public images).")
    gcs_fuse_csi_driver: bool = Field(
        default=True,
        description="Cloud Storage FUSE CSI driver add-on: models mount their weights from the model bucket. Defaults to on "
        "(the default way a GKE model reads its weights).",
    )
    system_pool: NodePoolSpec = Field(default_factory=_default_system_pool, description="Small pool for kube-system and add-ons: e2-standard-4, 1-2 nodes per zone.")
    model_pool: NodePoolSpec | None = Field(default_factory=_default_model_pool, description="Pool for model pods: g2-standard-8 with one L4, 0-2 nodes per zone. None for no model pool.")
    labels: Labels = Field(default_factory=dict, description="Extra GCP labels on the cluster and nodes (common labels are always set).")
    metrics_adapter_image: Image = Field(
        default=METRICS_ADAPTER_IMAGE,
        description="Image of the Custom Metrics - Stackdriver Adapter (deployed when a model's HPA reads Cloud Monitoring). "
        "Defaults to GKE's release image by tag, as Google's manifest; set <image>@sha256:<digest> to pin it.",
    )

    @field_validator("master_ipv4_cidr_block")
    @classmethod
    def _master(cls, value: str) -> str:
        if parse_cidr(value).prefixlen != 28:
            raise ValueError("must be a /28 (GKE's control-plane range is exactly 16 addresses)")
        return value

    @field_validator("master_authorized_networks")
    @classmethod
    def _authorized(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for cidr in value:
            try:
                network = parse_cidr(cidr)
            except ConfigurationError as error:
                raise ValueError(f"{cidr!r} {error.allowed}") from None
            if network.prefixlen == 0:
                raise ValueError(f"{cidr!r} admits the whole internet to the control plane; list the ranges that need access")
        if len(value) > MAX_AUTHORIZED_NETWORKS:
            raise ValueError(f"{len(value)} CIDRs: GKE takes at most {MAX_AUTHORIZED_NETWORKS}")
        return value

    @field_validator("rbac_security_group")
    @classmethod
    def _group(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("gke-security-groups@"):
            raise ValueError("must be gke-security-groups@<your domain> (the group GKE reads nested RBAC groups from)")
        return value

    @model_validator(mode="after")
    def _cross(self) -> "GkeClusterSpec":
        ranges = {
            "node_cidr": self.node_cidr, "pods_cidr": self.pods_cidr,
            "services_cidr": self.services_cidr, "master_ipv4_cidr_block": self.master_ipv4_cidr_block,
        }
        try:
            check_disjoint(ranges)
        except ConfigurationError as error:
            raise ValueError(f"{error.field} ({error.value}) {error.allowed}") from None
        pools = [self.system_pool.name] + ([self.model_pool.name] if self.model_pool else [])
        if len(set(pools)) != len(pools):
            raise ValueError(f"system_pool and model_pool must have different names (both {pools[0]!r})")
        if self.system_pool.gpu is not None:
            raise invalid(
                "system_pool.gpu", self.system_pool.gpu.type,
                "the system pool has no GPUs: GKE taints GPU nodes only while the cluster has a pool without GPUs, and "
                "kube-system add-ons must run somewhere; put GPUs in model_pool",
            )
        return self



class GkeRuntimeSpec(Spec):
    """How a model runs on the GKE cluster (``[models.gke]``): one Deployment with a Service whose
    standalone NEGs are the load balancer's backends, a HorizontalPodAutoscaler and a
    PodDisruptionBudget. Requests equal limits by default (Guaranteed QoS, the FUSE sidecar too).
    Weights come from the model bucket through the Cloud Storage FUSE CSI driver by default."""

    node_pool: NamePart | None = Field(
        default=None,
        description="Node pool of the pods (node selector + tolerations). Defaults to the first pool with the model's "
        "accelerator type, or the first pool without GPUs for a CPU model.",
    )
    cpu: CpuQuantity = Field(default="4", description="CPU request (and limit unless cpu_limit). Defaults to 4.")
    memory: MemoryQuantity = Field(default="16Gi", description="Memory request (and limit unless memory_limit). Defaults to 16Gi.")
    cpu_limit: CpuQuantity | None = Field(default=None, description="CPU limit. Defaults to the request (Guaranteed QoS: never evicted first).")
    memory_limit: MemoryQuantity | None = Field(default=None, description="Memory limit. Defaults to the request.")
    model_source: Literal["gcs-fuse", "download", "image"] = Field(
        default="gcs-fuse",
        description="How the server gets its weights at MODEL_DIR (/models). Defaults to gcs-fuse: the model's prefix of the model "
        "bucket mounted read-only through the Cloud Storage FUSE CSI driver (no copy step; parallel downloads into a file cache "
        "of model_cache_size). download: an empty, writable directory the server fills from MODEL_URI. image: the weights are "
        "in the image at /models (pair it with a pool's container-image-cache secondary boot disk).",
    )
    model_cache_size: MemoryQuantity = Field(
        default="20Gi",
        description="Local disk for the weights: the FUSE file cache (gcs-fuse) or the directory at MODEL_DIR (download). Defaults to 20Gi.",
    )
    fuse_sidecar_cpu: CpuQuantity = Field(
        default="500m", description="CPU request and limit of the Cloud Storage FUSE sidecar (gcs-fuse). Defaults to 500m.",
    )
    fuse_sidecar_memory: MemoryQuantity = Field(
        default="1Gi",
        description="Memory request and limit of the FUSE sidecar. Defaults to 1Gi: parallel downloads buffer chunks in memory "
        "(GKE's default 256Mi limit can be too little to load large files fast).",
    )
    namespace: NamePart = Field(default="serving", description="Kubernetes namespace. Defaults to 'serving'.")
    create_namespace: bool = Field(
        default=True, description="Create the namespace (Pod Security 'restricted'). Defaults to on; models sharing a namespace create it once.",
    )
    termination_grace_period_sec: int | None = Field(
        default=None, ge=0, le=3600,
        description="Seconds a pod gets to finish in-flight requests after SIGTERM. Defaults to None = the backend's connection "
        "draining timeout (60 s by default): the load balancer lets requests run that long, so a pod must not stop sooner.",
    )
    pdb_max_unavailable: int = Field(default=1, ge=1, description="PodDisruptionBudget: pods a drain may take at once. Defaults to 1.")
    run_as_user: int = Field(default=1000, ge=1, description="Non-root user (and group) of the container. Defaults to 1000.")
    neg_name: ResourceName | None = Field(default=None, description="Name of the standalone NEGs. Defaults to <app>-<env>-neg-<model>.")
    service_account_id: AccountId | None = Field(default=None, description="Account id of the Google service account. Defaults to <app>-<env>-<model>-wi.")

    @model_validator(mode="after")
    def _limits(self) -> "GkeRuntimeSpec":
        if self.cpu_limit is not None and cpu_millis(self.cpu_limit) < cpu_millis(self.cpu):
            raise ValueError(f"cpu_limit ({self.cpu_limit}) must be >= cpu ({self.cpu})")
        if self.memory_limit is not None and memory_mib(self.memory_limit) < memory_mib(self.memory):
            raise ValueError(f"memory_limit ({self.memory_limit}) must be >= memory ({self.memory})")
        return self
