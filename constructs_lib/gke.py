"""``ServingCluster``: the private GKE Standard cluster and node pools of the GKE serving variant.

What one ``ServingCluster`` creates (construct ids in brackets):

* ``google_compute_subnetwork`` [``subnet``] in the cluster's region, with the secondary ranges
  ``pods`` and ``services`` (VPC-native cluster). The cluster gets its own subnet so the serving
  network (``network.py``, whose subnets have no secondary ranges) stays untouched; the ranges
  are checked against the network's subnets and against each other.
* ``google_compute_router_nat`` [``nat``] on the network's Cloud Router of that region, for the
  cluster subnet (all ranges): private nodes pull images and reach Google APIs without public IPs.
* ``google_service_account`` [``node-identity/default``] with least-privilege project roles
  (log writer, metric writer, monitoring viewer, resource-metadata writer, Artifact Registry reader)
  instead of the default compute service account.
* ``google_container_cluster`` [``default``]: regional, private nodes (control-plane CIDR a
  validated /28), master authorized networks, Workload Identity, Dataplane V2, a release
  channel (REGULAR), shielded nodes, cluster-autoscaler profile, fixed node zones,
  ``remove_default_node_pool`` and ``deletion_protection``.
* ``google_container_node_pool`` per pool [``pool-<name>``]: a small ``system`` pool and a
  ``model`` pool (by default L4 GPUs on g2-standard-8 with the GKE-managed driver, tainted
  ``nvidia.com/gpu=present:NoSchedule`` so only model pods land there), autoscaling per zone,
  Spot option, shielded instances, GKE metadata server, auto-repair/upgrade, surge upgrades.

Design: serving through the global load balancer (README section)
-----------------------------------------------------------------
The model is exposed with *standalone zonal NEGs* (container-native load balancing): the model
Service carries ``cloud.google.com/neg: {"exposed_ports": {"8080": {"name": "<app>-<env>-neg-<model>"}}}``
and GKE's NEG controller creates one NEG per cluster zone with that stable name. The backend
service of ``GlobalLoadBalancer`` points at ``projects/<p>/zones/<zone>/networkEndpointGroups/<name>``
for each cluster zone (RATE balancing, ``max_rate_per_endpoint``).

NEGs only exist after the Service exists, and the NEG controller creates them asynchronously.
The environment is therefore two cdktf stacks, deployed in order by one ``cdktf deploy``:

1. ``<stack>-cluster``: network, cluster subnet + NAT, node service account, cluster, node
   pools, the health-check firewall rule for the pods' port (probes reach pod IPs on the nodes).
2. ``<stack>``: ``stack.add_dependency(cluster stack)``. The Kubernetes provider is configured
   from a ``google_container_cluster`` data source (endpoint, CA) and a ``google_client_config``
   access token; then Namespace, service accounts, Service, Deployment, HPA, PDB, the model
   bucket grant (Workload Identity), and the load balancer.

Why two stacks: HashiCorp's Kubernetes provider must not be configured from a cluster created
in the same apply (the provider config is unknown at plan time; changes that replace the
cluster leave it unusable), and the Workload Identity binding needs the cluster's identity pool
to exist. Why no cross-stack references: the second stack reads the cluster through a data
source by its deterministic name, so it always sees the live endpoint/CA (CA rotation) and no
sensitive outputs are written to the first stack's state; ``add_dependency`` orders the deploy.

Why no NEG data sources: the NEG ids are deterministic (project, zone, name), so the backend
service references them as strings and ``depends_on`` the Service and the Deployment. The
Deployment is created after the Service and Terraform waits for its rollout
(``wait_for_rollout``; pods must pass readiness, which takes GPU node scale-up and model load,
minutes), so by the time the backend service is created the NEG controller (seconds after the
Service) has created the NEGs. A data source with ``depends_on`` would do the same, but it
would be re-read at apply time on every rollout and make every image update show the backend
service as "known after apply" in reviewed plans. NEGs exist in every zone that has nodes: the
system pool spans all cluster zones with at least one node per zone, which guarantees it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal

from cdktf import TerraformOutput, TerraformResourceLifecycle
from constructs import Construct
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from constructs_lib._google import (
    compute_firewall,
    compute_router_nat,
    compute_subnetwork,
    container_cluster,
    container_node_pool,
    project_iam_member,
    service_account as google_service_account,
)
from constructs_lib.errors import ConfigurationError
from constructs_lib.gpus import (
    check_gpu_region,
    check_machine_without_gpu,
    gpu_type,
    parse_machine_type,
    resolve_gpu_count,
)
from constructs_lib.iam import AccountId, check_account_id
from constructs_lib.naming import Labels, NamePart, Naming, check_name
from constructs_lib.network import PRIVATE_RANGES, ServingNetwork
from constructs_lib.regions import check_zone, zones_of

NODE_ROLES: tuple[str, ...] = (
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/stackdriver.resourceMetadata.writer",
    "roles/artifactregistry.reader",
)
"""Least-privilege roles of the node service account (what GKE's own guidance lists, plus
reading images from Artifact Registry)."""

GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_TAINT_VALUE = "present"
GPU_RESOURCE = "nvidia.com/gpu"
NODE_POOL_LABEL = "cloud.google.com/gke-nodepool"
"""Node label GKE sets to the node pool's name (what a workload's node selector uses)."""

CLUSTER_NAME_MAX = 40
NODE_POOL_NAME_MAX = 40
MAX_AUTHORIZED_NETWORKS = 50

K8S_EFFECTS = {"NO_SCHEDULE": "NoSchedule", "PREFER_NO_SCHEDULE": "PreferNoSchedule", "NO_EXECUTE": "NoExecute"}

# -- machine sizes ---------------------------------------------------------------------------

_SIZES: dict[str, tuple[float, tuple[int, ...]]] = {
    # family-kind: (GiB of memory per vCPU, vCPU counts)
    "e2-standard": (4, (2, 4, 8, 16, 32)),
    "e2-highmem": (8, (2, 4, 8, 16)),
    "n2-standard": (4, (2, 4, 8, 16, 32, 48, 64, 80, 96, 128)),
    "n2-highmem": (8, (2, 4, 8, 16, 32, 48, 64, 80, 96, 128)),
    "n1-standard": (3.75, (1, 2, 4, 8, 16, 32, 64, 96)),
    "n1-highmem": (6.5, (2, 4, 8, 16, 32, 64, 96)),
    "g2-standard": (4, (4, 8, 12, 16, 24, 32, 48, 96)),
}

MACHINE_SHAPES: dict[str, tuple[int, float]] = {
    f"{kind}-{vcpus}": (vcpus, ratio * vcpus) for kind, (ratio, counts) in _SIZES.items() for vcpus in counts
}
"""Machine type -> (vCPUs, memory GiB) of the common e2/n2/n1/g2 standard and highmem types
(Compute Engine machine family pages). Other types are accepted; requests are then not checked."""

DAEMONSET_RESERVE_MILLICPU = 200
DAEMONSET_RESERVE_MIB = 512
"""What GKE's own per-node pods (logging, metrics, Dataplane V2, CSI, GPU device plugin) request,
roughly: subtracted from allocatable so a model pod that passes the check can actually schedule."""


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
    ``DAEMONSET_RESERVE_*`` allowance, or None for machine types outside ``MACHINE_SHAPES``."""
    shape = MACHINE_SHAPES.get(machine_type)
    if shape is None:
        return None
    vcpus, memory_gib = shape
    memory_mib = memory_gib * 1024
    cpu = vcpus * 1000 - _reserved_cpu_millis(vcpus) - DAEMONSET_RESERVE_MILLICPU
    memory = memory_mib - _reserved_memory_mib(memory_mib) - DAEMONSET_RESERVE_MIB
    return NodeCapacity(cpu_millis=int(cpu), memory_mib=int(memory))


# -- specs -----------------------------------------------------------------------------------

def _cidr(value: str) -> ipaddress.IPv4Network:
    try:
        network = ipaddress.ip_network(value, strict=True)
    except (ValueError, TypeError):
        raise ValueError(f"{value!r} is not an IPv4 CIDR block such as 10.20.0.0/20") from None
    if not isinstance(network, ipaddress.IPv4Network):
        raise ValueError(f"{value!r} is not an IPv4 CIDR block such as 10.20.0.0/20")
    return network


def _private(value: str) -> ipaddress.IPv4Network:
    network = _cidr(value)
    if not any(network.subnet_of(r) for r in PRIVATE_RANGES):
        raise ValueError(f"{value!r} must be a private range inside 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or 100.64.0.0/10")
    return network


class NodeGpuSpec(BaseModel):
    """GPUs on every node of a pool (catalogue: ``constructs_lib.gpus``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str = Field(description="Accelerator type, e.g. nvidia-l4, nvidia-tesla-t4, nvidia-h100-80gb.")
    count: int | None = Field(default=None, description="GPUs per node. Defaults to the machine type's fixed count (G2/A2/A3) or 1 (N1).")
    driver_version: Literal["DEFAULT", "LATEST", "INSTALLATION_DISABLED"] = Field(
        default="DEFAULT",
        description="GKE-managed NVIDIA driver (gpu_driver_installation_config). Defaults to DEFAULT: the version "
        "GKE tests with the node version; LATEST for newer CUDA; INSTALLATION_DISABLED to bring your own daemonset.",
    )
    skip_region_check: bool = Field(default=False, description="Skip the approximate region table of constructs_lib.gpus. Defaults to False.")

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        try:
            gpu_type(value)
        except ConfigurationError as error:
            raise ValueError(error.allowed) from None
        return value


class TaintSpec(BaseModel):
    """A Kubernetes taint on every node of a pool (workloads on the pool tolerate it)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    value: str
    effect: Literal["NO_SCHEDULE", "PREFER_NO_SCHEDULE", "NO_EXECUTE"] = "NO_SCHEDULE"

    @property
    def kubernetes_effect(self) -> str:
        """``NoSchedule`` etc.: the effect as a Kubernetes toleration writes it."""
        return K8S_EFFECTS[self.effect]


class NodePoolSpec(BaseModel):
    """One node pool (``google_container_node_pool``). Sizes are per zone (regional pools)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: NamePart = Field(description="Node pool name (also the node label cloud.google.com/gke-nodepool), at most 40 characters.")
    machine_type: str = Field(default="e2-standard-4", description="Defaults to e2-standard-4.")
    min_nodes_per_zone: int = Field(default=1, ge=0, le=1000, description="Autoscaling minimum per zone. Defaults to 1.")
    max_nodes_per_zone: int = Field(default=3, ge=1, le=1000, description="Autoscaling maximum per zone. Defaults to 3.")
    gpu: NodeGpuSpec | None = Field(default=None, description="GPUs per node; adds the nvidia.com/gpu=present:NoSchedule taint.")
    spot: bool = Field(default=False, description="Spot VMs (up to ~60-90 % cheaper, can be preempted any time). Defaults to off.")
    disk_size_gb: int = Field(default=100, ge=10, le=65536, description="Boot disk. Defaults to 100 GB (images and model cache live there).")
    disk_type: Literal["pd-balanced", "pd-ssd", "pd-standard"] = Field(default="pd-balanced", description="Defaults to pd-balanced.")
    image_type: Literal["COS_CONTAINERD", "UBUNTU_CONTAINERD"] = Field(default="COS_CONTAINERD", description="Defaults to COS_CONTAINERD (hardened, signed GPU drivers with secure boot).")
    zones: tuple[str, ...] = Field(default=(), description="Zones of this pool. Defaults to the cluster's zones.")
    taints: tuple[TaintSpec, ...] = Field(default=(), description="Extra taints (the GPU taint is added automatically).")
    labels: Labels = Field(default_factory=dict, description="Extra Kubernetes node labels.")
    max_surge: int = Field(default=1, ge=0, le=100, description="Surge upgrade: extra nodes during an upgrade. Defaults to 1.")
    max_unavailable: int = Field(default=0, ge=0, le=100, description="Surge upgrade: nodes down at once. Defaults to 0 (capacity never drops).")
    location_policy: Literal["BALANCED", "ANY"] | None = Field(
        default=None, description="Autoscaler zone choice. Defaults to ANY for Spot pools (take capacity where it is), else BALANCED.",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        try:
            check_name(value, "name", max_length=NODE_POOL_NAME_MAX)
        except ConfigurationError as error:
            raise ValueError(error.allowed) from None
        return value

    @field_validator("machine_type")
    @classmethod
    def _machine(cls, value: str) -> str:
        try:
            parse_machine_type(value)
        except ConfigurationError as error:
            raise ValueError(error.allowed) from None
        return value

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
            raise ValueError(f"taints: {GPU_TAINT_KEY} is added automatically to GPU pools; drop it")
        return self

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


class ClusterSpec(BaseModel):
    """Tunables of ``ServingCluster``; the ``[gke.cluster]`` section of an environment file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: NamePart = Field(default="gke", description="Role part of the cluster name <app>-<env>-<name> (at most 40 characters in all). Defaults to 'gke'.")
    release_channel: Literal["RAPID", "REGULAR", "STABLE", "EXTENDED"] = Field(
        default="REGULAR", description="GKE release channel. Defaults to REGULAR: versions proven on RAPID, upgraded automatically.",
    )
    zones: tuple[str, ...] = Field(default=(), description="Node zones (node_locations). Defaults to the first three zones of the region; NEGs exist in exactly these zones.")
    node_cidr: str = Field(default="10.20.0.0/20", description="Primary range of the cluster subnet (nodes). Defaults to 10.20.0.0/20 (4,096 nodes).")
    pods_cidr: str = Field(default="10.24.0.0/14", description="Secondary range 'pods'. Defaults to 10.24.0.0/14 (~1,000 nodes at 110 pods each).")
    services_cidr: str = Field(default="10.28.0.0/20", description="Secondary range 'services'. Defaults to 10.28.0.0/20 (4,096 Services).")
    master_ipv4_cidr_block: str = Field(default="172.16.0.0/28", description="Control-plane range; GKE requires a private /28. Defaults to 172.16.0.0/28.")
    master_authorized_networks: tuple[str, ...] = Field(
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
    system_pool: NodePoolSpec = Field(default_factory=_default_system_pool, description="Small pool for kube-system and add-ons: e2-standard-4, 1-2 nodes per zone.")
    model_pool: NodePoolSpec | None = Field(default_factory=_default_model_pool, description="Pool for model pods: g2-standard-8 with one L4, 0-2 nodes per zone. None for no model pool.")
    labels: Labels = Field(default_factory=dict, description="Extra GCP labels on the cluster and nodes (common labels are always set).")

    @field_validator("node_cidr", "pods_cidr", "services_cidr")
    @classmethod
    def _ranges(cls, value: str) -> str:
        _private(value)
        return value

    @field_validator("master_ipv4_cidr_block")
    @classmethod
    def _master(cls, value: str) -> str:
        network = _private(value)
        if network.prefixlen != 28:
            raise ValueError(f"{value!r} must be a /28 (GKE's control-plane range is exactly 16 addresses)")
        return value

    @field_validator("master_authorized_networks")
    @classmethod
    def _authorized(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for cidr in value:
            network = _cidr(cidr)
            if network.prefixlen == 0:
                raise ValueError(f"{cidr!r} admits the whole internet to the control plane; list the ranges that need access")
        repeated = sorted({c for c in value if value.count(c) > 1})
        if repeated:
            raise ValueError(f"each CIDR may be listed once; repeated: {', '.join(repeated)}")
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
    def _cross(self) -> "ClusterSpec":
        ranges = {
            "node_cidr": self.node_cidr, "pods_cidr": self.pods_cidr,
            "services_cidr": self.services_cidr, "master_ipv4_cidr_block": self.master_ipv4_cidr_block,
        }
        items = [(k, ipaddress.ip_network(v)) for k, v in ranges.items()]
        for i, (name_a, net_a) in enumerate(items):
            for name_b, net_b in items[i + 1:]:
                if net_a.overlaps(net_b):
                    raise ValueError(f"{name_b} ({net_b}) overlaps {name_a} ({net_a}); cluster ranges must be disjoint")
        pools = [self.system_pool.name] + ([self.model_pool.name] if self.model_pool else [])
        if len(set(pools)) != len(pools):
            raise ValueError(f"system_pool and model_pool must have different names (both {pools[0]!r})")
        return self


# -- constructs ------------------------------------------------------------------------------

class NodePool(Construct):
    """One ``google_container_node_pool`` (construct id ``default``) of a ``ServingCluster``.

    Exposes ``name``, ``spec``, ``node_pool``, ``zones``, ``machine_type``, ``gpu_type``,
    ``gpu_count`` (per node), ``taints`` (including the automatic GPU taint), ``node_selector``
    (``{"cloud.google.com/gke-nodepool": name}``) and ``capacity`` (``NodeCapacity`` a pod may
    request on one node, None for machine types outside ``MACHINE_SHAPES``).
    """

    def __init__(self, scope: Construct, id_: str, *, cluster: "ServingCluster", spec: NodePoolSpec) -> None:
        field = f"node_pools[{spec.name}]"
        zones = spec.zones or cluster.zones
        for index, zone in enumerate(zones):
            check_zone(zone, cluster.region, f"{field}.zones[{index}]")
            if zone not in cluster.zones:
                raise ConfigurationError(
                    f"{field}.zones[{index}]", zone,
                    f"must be one of the cluster's zones ({', '.join(cluster.zones)}): the model's NEGs are looked up there",
                )
        if spec.gpu is not None and not spec.gpu.skip_region_check:
            check_gpu_region(spec.gpu.type, cluster.region, f"{field}.region")
        super().__init__(scope, id_)
        self.name = spec.name
        self.spec = spec
        self.zones: tuple[str, ...] = tuple(zones)
        self.machine_type = spec.machine_type
        self.gpu_type: str | None = spec.gpu.type if spec.gpu else None
        self.gpu_count: int = spec.gpu_count
        gpu_taints = (TaintSpec(key=GPU_TAINT_KEY, value=GPU_TAINT_VALUE, effect="NO_SCHEDULE"),) if spec.gpu else ()
        self.taints: tuple[TaintSpec, ...] = gpu_taints + spec.taints
        self.node_selector: dict[str, str] = {NODE_POOL_LABEL: spec.name}
        self.capacity: NodeCapacity | None = node_capacity(spec.machine_type)

        np = container_node_pool
        gpu = spec.gpu
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
                location_policy=spec.location_policy or ("ANY" if spec.spot else "BALANCED"),
            ),
            management=np.ContainerNodePoolManagement(auto_repair=True, auto_upgrade=True),
            upgrade_settings=np.ContainerNodePoolUpgradeSettings(
                strategy="SURGE", max_surge=spec.max_surge, max_unavailable=spec.max_unavailable,
            ),
            node_config=np.ContainerNodePoolNodeConfig(
                machine_type=spec.machine_type,
                disk_size_gb=spec.disk_size_gb,
                disk_type=spec.disk_type,
                image_type=spec.image_type,
                spot=spec.spot or None,
                service_account=cluster.node_service_account_email,
                oauth_scopes=["https://www.googleapis.com/auth/cloud-platform"],
                metadata={"disable-legacy-endpoints": "true"},
                tags=[cluster.node_tag],
                labels={**spec.labels} or None,
                resource_labels=cluster.naming.common_labels(**cluster.spec.labels, **{"node-pool": spec.name}),
                shielded_instance_config=np.ContainerNodePoolNodeConfigShieldedInstanceConfig(
                    enable_secure_boot=True, enable_integrity_monitoring=True,
                ),
                workload_metadata_config=np.ContainerNodePoolNodeConfigWorkloadMetadataConfig(mode="GKE_METADATA"),
                guest_accelerator=[np.ContainerNodePoolNodeConfigGuestAccelerator(
                    type=gpu.type,
                    count=self.gpu_count,
                    gpu_driver_installation_config=np.ContainerNodePoolNodeConfigGuestAcceleratorGpuDriverInstallationConfig(
                        gpu_driver_version=gpu.driver_version,
                    ),
                )] if gpu else None,
                taint=[
                    np.ContainerNodePoolNodeConfigTaint(key=t.key, value=t.value, effect=t.effect) for t in self.taints
                ] or None,
            ),
            lifecycle=TerraformResourceLifecycle(ignore_changes=["initial_node_count"]),
        )

    @property
    def tolerations(self) -> list[dict[str, str]]:
        """The pool's taints as Kubernetes tolerations (``key``, ``operator``, ``value``, ``effect``)."""
        return [{"key": t.key, "operator": "Equal", "value": t.value, "effect": t.kubernetes_effect} for t in self.taints]


class ServingCluster(Construct):
    """Private, regional GKE Standard cluster for model serving (see the module docstring).

    Construct ids: ``subnet``, ``nat``, ``node-identity`` (``default`` + ``role-<role>``),
    ``default`` (the cluster), ``pool-<name>`` (``NodePool``).

    Public attributes: ``name``, ``region``, ``zones``, ``project_id``, ``spec``, ``cluster``,
    ``subnet``, ``nat``, ``node_service_account``, ``node_service_account_email``,
    ``node_role_bindings``, ``node_tag``, ``workload_pool``, ``endpoint``,
    ``cluster_ca_certificate``, ``node_pools`` (name -> ``NodePool``), ``system_pool``,
    ``model_pool``. Intent methods: ``add_node_pool(spec)``, ``allow_load_balancer_health_checks(port)``,
    ``add_outputs()``.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        network: ServingNetwork,
        naming: Naming,
        project_id: str,
        region: str,
        spec: ClusterSpec | None = None,
    ) -> None:
        spec = spec or ClusterSpec()
        if region not in network.regions:
            raise ConfigurationError("region", region, f"must be one of the network's regions ({', '.join(network.regions)}): the cluster uses its Cloud Router")
        zones = spec.zones or zones_of(region)[:3]
        for index, zone in enumerate(zones):
            check_zone(zone, region, f"cluster.zones[{index}]")
        repeated = sorted({z for z in zones if zones.count(z) > 1})
        if repeated:
            raise ConfigurationError("cluster.zones", list(zones), f"each zone may be listed once; repeated: {', '.join(repeated)}")
        _check_against_network(spec, network)
        system = spec.system_pool
        if system.min_nodes_per_zone < 1 or (system.zones and set(system.zones) != set(zones)):
            raise ConfigurationError(
                "cluster.system_pool", f"min_nodes_per_zone={system.min_nodes_per_zone}, zones={list(system.zones)}",
                "the system pool must keep >= 1 node in every cluster zone: GKE creates a model's NEGs only in zones with nodes",
            )
        name = naming.name(spec.name, max_length=CLUSTER_NAME_MAX)
        account_id = spec.node_service_account_id or check_account_id(
            naming.name(spec.name, "nodes"), "cluster.node_service_account_id",
        )
        super().__init__(scope, id_)

        self.naming = naming
        self.spec = spec
        self.project_id = project_id
        self.region = region
        self.zones: tuple[str, ...] = tuple(zones)
        self.name = name
        self.network = network
        self.node_tag = naming.name(spec.name, "node")
        self.workload_pool = f"{project_id}.svc.id.goog"
        labels = naming.common_labels(**spec.labels)

        flow = network.spec.flow_logs
        sn = compute_subnetwork
        self.subnet = sn.ComputeSubnetwork(
            self, "subnet",
            name=naming.name(spec.name, region),
            region=region,
            network=network.network.id,
            ip_cidr_range=spec.node_cidr,
            private_ip_google_access=True,
            secondary_ip_range=[
                sn.ComputeSubnetworkSecondaryIpRange(range_name="pods", ip_cidr_range=spec.pods_cidr),
                sn.ComputeSubnetworkSecondaryIpRange(range_name="services", ip_cidr_range=spec.services_cidr),
            ],
            log_config=sn.ComputeSubnetworkLogConfig(
                aggregation_interval=flow.aggregation_interval, flow_sampling=flow.flow_sampling, metadata=flow.metadata,
            ) if flow.enabled else None,
        )

        self.nat = compute_router_nat.ComputeRouterNat(
            self, "nat",
            name=naming.name(spec.name, "nat", region),
            region=region,
            router=network.routers[region].name,
            nat_ip_allocate_option="AUTO_ONLY",
            source_subnetwork_ip_ranges_to_nat="LIST_OF_SUBNETWORKS",
            subnetwork=[compute_router_nat.ComputeRouterNatSubnetwork(
                name=self.subnet.id, source_ip_ranges_to_nat=["ALL_IP_RANGES"],
            )],
            min_ports_per_vm=network.spec.nat_min_ports_per_vm,
            log_config=compute_router_nat.ComputeRouterNatLogConfig(enable=True, filter=network.spec.nat_log_filter)
            if network.spec.nat_log_filter else None,
        ) if spec.egress_nat else None

        identity = Construct(self, "node-identity")
        self.node_service_account = google_service_account.ServiceAccount(
            identity, "default",
            account_id=account_id,
            display_name=f"GKE nodes of {name}",
            description=f"Runs the nodes of GKE cluster {name}; managed by cdktf",
            project=project_id,
        )
        self.node_service_account_email: str = self.node_service_account.email
        self.node_role_bindings: dict[str, project_iam_member.ProjectIamMember] = {}
        for role in NODE_ROLES:
            key = role.rsplit("/", 1)[-1]
            self.node_role_bindings[role] = project_iam_member.ProjectIamMember(
                identity, f"role-{key}", project=project_id, role=role, member=self.node_service_account.member,
            )

        cc = container_cluster
        self.cluster = cc.ContainerCluster(
            self, "default",
            name=name,
            description=f"Model serving cluster of {naming.prefix} (managed by cdktf)",
            project=project_id,
            location=region,
            node_locations=list(self.zones),
            network=network.network.id,
            subnetwork=self.subnet.id,
            networking_mode="VPC_NATIVE",
            ip_allocation_policy=cc.ContainerClusterIpAllocationPolicy(
                cluster_secondary_range_name="pods", services_secondary_range_name="services",
            ),
            private_cluster_config=cc.ContainerClusterPrivateClusterConfig(
                enable_private_nodes=True,
                enable_private_endpoint=spec.enable_private_endpoint,
                master_ipv4_cidr_block=spec.master_ipv4_cidr_block,
            ),
            master_authorized_networks_config=cc.ContainerClusterMasterAuthorizedNetworksConfig(
                cidr_blocks=[
                    cc.ContainerClusterMasterAuthorizedNetworksConfigCidrBlocks(cidr_block=cidr, display_name=f"authorized-{i + 1}")
                    for i, cidr in enumerate(spec.master_authorized_networks)
                ] or None,
                gcp_public_cidrs_access_enabled=False,
            ),
            master_auth=cc.ContainerClusterMasterAuth(
                client_certificate_config=cc.ContainerClusterMasterAuthClientCertificateConfig(issue_client_certificate=False),
            ),
            workload_identity_config=cc.ContainerClusterWorkloadIdentityConfig(workload_pool=self.workload_pool),
            datapath_provider="ADVANCED_DATAPATH",
            # Dataplane V2 enforces NetworkPolicy itself; the Calico add-on must stay off with it.
            network_policy=cc.ContainerClusterNetworkPolicy(enabled=False, provider="PROVIDER_UNSPECIFIED"),
            enable_intranode_visibility=spec.intranode_visibility,
            binary_authorization=cc.ContainerClusterBinaryAuthorization(evaluation_mode="PROJECT_SINGLETON_POLICY_ENFORCE")
            if spec.binary_authorization else None,
            authenticator_groups_config=cc.ContainerClusterAuthenticatorGroupsConfig(security_group=spec.rbac_security_group)
            if spec.rbac_security_group else None,
            release_channel=cc.ContainerClusterReleaseChannel(channel=spec.release_channel),
            enable_shielded_nodes=True,
            enable_legacy_abac=False,
            cluster_autoscaling=cc.ContainerClusterClusterAutoscaling(autoscaling_profile=spec.autoscaling_profile),
            addons_config=cc.ContainerClusterAddonsConfig(
                # The NEG controller that creates the model's NEGs is part of HTTP load balancing.
                http_load_balancing=cc.ContainerClusterAddonsConfigHttpLoadBalancing(disabled=False),
                horizontal_pod_autoscaling=cc.ContainerClusterAddonsConfigHorizontalPodAutoscaling(disabled=False),
            ),
            database_encryption=cc.ContainerClusterDatabaseEncryption(
                state="ENCRYPTED", key_name=spec.secrets_encryption_key,
            ) if spec.secrets_encryption_key else None,
            resource_labels=labels,
            deletion_protection=spec.deletion_protection,
            remove_default_node_pool=True,
            initial_node_count=1,
            # The default pool lives for minutes (it is removed); give it the hardened settings
            # anyway, and ignore node_config afterwards: changing it would recreate the cluster.
            node_config=cc.ContainerClusterNodeConfig(
                service_account=self.node_service_account_email,
                oauth_scopes=["https://www.googleapis.com/auth/cloud-platform"],
                metadata={"disable-legacy-endpoints": "true"},
                shielded_instance_config=cc.ContainerClusterNodeConfigShieldedInstanceConfig(
                    enable_secure_boot=True, enable_integrity_monitoring=True,
                ),
                workload_metadata_config=cc.ContainerClusterNodeConfigWorkloadMetadataConfig(mode="GKE_METADATA"),
            ),
            depends_on=list(self.node_role_bindings.values()),
            lifecycle=TerraformResourceLifecycle(ignore_changes=["node_config", "initial_node_count"]),
        )
        self.endpoint: str = self.cluster.endpoint
        self.cluster_ca_certificate: str = self.cluster.master_auth.cluster_ca_certificate

        self.node_pools: dict[str, NodePool] = {}
        self.system_pool = self.add_node_pool(spec.system_pool)
        self.model_pool = self.add_node_pool(spec.model_pool) if spec.model_pool else None

    def add_node_pool(self, spec: NodePoolSpec) -> NodePool:
        """A node pool ``pool-<name>`` in this cluster (names are unique per cluster)."""
        if spec.name in self.node_pools:
            raise ConfigurationError("node_pools", spec.name, "a node pool with this name exists already")
        pool = NodePool(self, f"pool-{spec.name}", cluster=self, spec=spec)
        self.node_pools[spec.name] = pool
        return pool

    def allow_load_balancer_health_checks(self, port: int) -> compute_firewall.ComputeFirewall:
        """Admit Google's health-check / proxy ranges to ``port`` on this cluster's nodes (with
        container-native load balancing they probe and reach pod IPs, which live on the nodes)."""
        rule_id = f"allow-health-checks-{self.spec.name}-{port}"
        return self.network.allow_health_checks(port=port, target_tags=(self.node_tag,), id_=rule_id)

    def add_outputs(self, scope: Construct | None = None) -> dict[str, TerraformOutput]:
        """Outputs ``<name>_cluster_name``, ``_location``, ``_node_service_account``."""
        scope = scope or self
        prefix = self.spec.name.replace("-", "_")
        values = {
            "cluster_name": (self.cluster.name, "Name of the GKE serving cluster"),
            "cluster_location": (self.cluster.location, "Region of the GKE serving cluster"),
            "node_service_account": (self.node_service_account_email, "Service account of the cluster's nodes"),
        }
        return {
            key: TerraformOutput(scope, f"{prefix}_{key}", value=value, description=description, static_id=True)
            for key, (value, description) in values.items()
        }


def _check_against_network(spec: ClusterSpec, network: ServingNetwork) -> None:
    """The cluster's ranges must not overlap the serving network's subnets or its range pool."""
    taken: dict[str, ipaddress.IPv4Network] = {
        f"network subnet of {region}": ipaddress.ip_network(cidr) for region, cidr in network.subnet_cidrs.items()
    }
    taken["network.subnet_cidr_base"] = ipaddress.ip_network(network.spec.subnet_cidr_base)
    if network.spec.private_services_address:
        psa = ipaddress.ip_network(f"{network.spec.private_services_address}/{network.spec.private_services_prefix_length}", strict=False)
        taken["network private services range"] = psa
    for field in ("node_cidr", "pods_cidr", "services_cidr", "master_ipv4_cidr_block"):
        mine = ipaddress.ip_network(getattr(spec, field))
        for what, other in taken.items():
            if mine.overlaps(other):
                raise ConfigurationError(f"cluster.{field}", str(mine), f"overlaps the {what} ({other}); pick a disjoint private range")


__all__ = [
    "ClusterSpec",
    "DAEMONSET_RESERVE_MIB",
    "DAEMONSET_RESERVE_MILLICPU",
    "GPU_RESOURCE",
    "GPU_TAINT_KEY",
    "MACHINE_SHAPES",
    "NODE_POOL_LABEL",
    "NODE_ROLES",
    "NodeCapacity",
    "NodeGpuSpec",
    "NodePool",
    "NodePoolSpec",
    "ServingCluster",
    "TaintSpec",
    "node_capacity",
]
