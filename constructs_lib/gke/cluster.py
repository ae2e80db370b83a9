"""``ServingCluster``: the private GKE Standard cluster and node pools of the GKE runtime.

What one ``ServingCluster`` creates (construct ids in brackets):

* ``google_compute_subnetwork`` [``subnet``] in the cluster's region, with the secondary ranges
  ``pods`` and ``services`` (VPC-native cluster). The cluster gets its own subnet so the serving
  network's subnets stay untouched; the ranges are checked against the network's subnets and
  against each other.
* ``google_compute_router_nat`` [``nat``] on the network's Cloud Router of that region, for the
  cluster subnet (all ranges): private nodes pull images and reach Google APIs without public IPs.
* a ``ServiceIdentity`` [``node-identity``] with least-privilege project roles (log writer, metric
  writer, monitoring viewer, resource-metadata writer, Artifact Registry reader) instead of the
  default compute service account.
* ``google_container_cluster`` [``default``]: regional, private nodes (control-plane CIDR a
  validated /28), master authorized networks, Workload Identity, Dataplane V2, a release
  channel (REGULAR), shielded nodes, cluster-autoscaler profile, fixed node zones, the Cloud
  Storage FUSE CSI driver add-on (models mount their weights), ``remove_default_node_pool`` and
  ``deletion_protection``.
* ``NodePool`` per pool [``pool-<name>``]: a small ``system`` pool and a ``model`` pool (by default
  L4 GPUs on g2-standard-8, image streaming on). GPU pools are created after the system pool:
  GKE taints GPU nodes ``nvidia.com/gpu`` only while the cluster has a pool without GPUs.
* ``google_project_iam_member`` [``node-identity/role-serviceusage.serviceUsageConsumer``] when a pool streams
  images (GKE requires it of a custom node service account).

Network policy: the cluster sets no ``network_policy`` block. Dataplane V2
(``datapath_provider = ADVANCED_DATAPATH``) always enforces Kubernetes NetworkPolicy itself;
GKE's guidance is not to enable (or configure) the Calico network-policy option next to it, and
the provider suppresses the diff when an earlier ``network_policy { enabled = false }`` is removed,
so existing clusters plan no change.

How models reach the load balancer (standalone NEGs) and why the cluster lives in its own
stack: ``constructs_lib.gke`` (package docstring). Spec: ``constructs_lib.specs.gke``.
"""

from __future__ import annotations

import ipaddress

from cdktf import TerraformOutput, TerraformResourceLifecycle
from constructs import Construct

from constructs_lib._google import compute_firewall, container_cluster, project_iam_member
from constructs_lib.errors import ConfigurationError
from constructs_lib.gke.node_pool import NodePool
from constructs_lib.identity import ServiceIdentity, derived_account_id
from constructs_lib.labels import apply_common_labels
from constructs_lib.naming import Naming
from constructs_lib.network import ServingNetwork, add_nat, add_subnet, check_served
from constructs_lib.regions import check_zone, zones_of
from constructs_lib.specs.gke import CLUSTER_NAME_MAX, GkeClusterSpec, NodePoolSpec
from constructs_lib.values import check_unique


NODE_ROLES: tuple[str, ...] = (
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/stackdriver.resourceMetadata.writer",
    "roles/artifactregistry.reader",
)
"""Least-privilege roles of the node service account (what GKE's own guidance lists, plus
reading images from Artifact Registry)."""


IMAGE_STREAMING_ROLE = "roles/serviceusage.serviceUsageConsumer"
"""Granted to the node service account when a pool streams images: GKE's image streaming needs
it of a custom node service account (in the project that holds the images; here, the cluster's)."""


class ServingCluster(Construct):
    """Private, regional GKE Standard cluster for model serving (see the module docstring).

    Construct ids: ``subnet``, ``nat``, ``node-identity`` (``default`` + ``role-<role>``),
    ``default`` (the cluster), ``pool-<name>`` (``NodePool``).

    Public attributes: ``name``, ``region``, ``zones``, ``project_id``, ``spec``, ``cluster``,
    ``subnet``, ``nat``, ``node_service_account``, ``node_service_account_email``,
    ``node_role_bindings``, ``node_tag``, ``workload_pool``, ``endpoint``,
    ``cluster_ca_certificate``, ``node_pools`` (name -> ``NodePool``), ``system_pool``,
    ``model_pool``, ``image_streaming_grant`` (the node account's serviceUsageConsumer binding,
    None while no pool streams images). Intent methods: ``add_node_pool(spec)``, ``allow_load_balancer_health_checks(port)``,
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
        spec: GkeClusterSpec | None = None,
    ) -> None:
        spec = spec or GkeClusterSpec()
        check_served(network, region, "region", why="the cluster uses its Cloud Router")
        zones = spec.zones or zones_of(region)[:3]
        for index, zone in enumerate(zones):
            check_zone(zone, region, f"cluster.zones[{index}]")
        check_unique(list(zones), "cluster.zones", "zone")
        _check_against_network(spec, network)
        system = spec.system_pool
        if system.min_nodes_per_zone < 1 or (system.zones and set(system.zones) != set(zones)):
            raise ConfigurationError(
                "cluster.system_pool", f"min_nodes_per_zone={system.min_nodes_per_zone}, zones={list(system.zones)}",
                "the system pool must keep >= 1 node in every cluster zone: GKE creates a model's NEGs only in zones with nodes",
            )
        name = naming.name(spec.name, max_length=CLUSTER_NAME_MAX)
        account_id = spec.node_service_account_id or derived_account_id(naming, spec.name, "nodes")
        super().__init__(scope, id_)
        apply_common_labels(self, naming)

        self.naming = naming
        self.spec = spec
        self.project_id = project_id
        self.region = region
        self.zones: tuple[str, ...] = tuple(zones)
        self.name = name
        self.network = network
        self.node_tag = naming.name(spec.name, "node")
        self.workload_pool = f"{project_id}.svc.id.goog"
        self.subnet = add_subnet(
            self, "subnet", name=naming.name(spec.name, region), region=region, network_id=network.network_id,
            cidr=spec.node_cidr, flow_logs=network.spec.flow_logs,
            secondary_ranges={"pods": spec.pods_cidr, "services": spec.services_cidr},
        )
        self.nat = add_nat(
            self, "nat", name=naming.name(spec.name, "nat", region), region=region,
            router=network.routers[region].name, subnet_id=self.subnet.id, spec=network.spec,
        ) if spec.egress_nat else None

        self.node_identity = ServiceIdentity(
            self, "node-identity",
            account_id=account_id,
            display_name=f"GKE nodes of {name}",
            description=f"Runs the nodes of GKE cluster {name}; managed by cdktf",
            roles=NODE_ROLES,
            project=project_id,
        )
        self.node_service_account = self.node_identity.service_account
        self.node_service_account_email: str = self.node_identity.email
        self.node_role_bindings = self.node_identity.role_bindings

        cc = container_cluster
        self.cluster = cc.ContainerCluster(
            self, "default",
            name=name,
            description=f"Model serving cluster of {naming.prefix} (managed by cdktf)",
            project=project_id,
            location=region,
            node_locations=list(self.zones),
            network=network.network_id,
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
            # Dataplane V2 always enforces NetworkPolicy; no network_policy block next to it (module docstring).
            datapath_provider="ADVANCED_DATAPATH",
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
                gcs_fuse_csi_driver_config=cc.ContainerClusterAddonsConfigGcsFuseCsiDriverConfig(enabled=True)
                if spec.gcs_fuse_csi_driver else None,
            ),
            database_encryption=cc.ContainerClusterDatabaseEncryption(
                state="ENCRYPTED", key_name=spec.secrets_encryption_key,
            ) if spec.secrets_encryption_key else None,
            resource_labels=dict(spec.labels),
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

        self.image_streaming_grant: project_iam_member.ProjectIamMember | None = None
        self.node_pools: dict[str, NodePool] = {}
        self.system_pool: NodePool = self._add_pool(spec.system_pool, system=True)
        self.model_pool = self.add_node_pool(spec.model_pool) if spec.model_pool else None

    def add_node_pool(self, spec: NodePoolSpec) -> NodePool:
        """A node pool ``pool-<name>`` in this cluster (names are unique per cluster). A GPU pool is
        created after the system pool (so GKE taints its nodes); a pool that streams images after
        the node account's ``serviceUsageConsumer`` grant."""
        return self._add_pool(spec, system=False)

    def _add_pool(self, spec: NodePoolSpec, *, system: bool) -> NodePool:
        if spec.name in self.node_pools:
            raise ConfigurationError("node_pools", spec.name, "a node pool with this name exists already")
        depends_on: list = []
        if spec.gpu is not None and not system:
            depends_on.append(self.system_pool.node_pool)
        if spec.streams_images(system=system):
            depends_on.append(self._grant_image_streaming())
        pool = NodePool(self, f"pool-{spec.name}", cluster=self, spec=spec, system=system, depends_on=depends_on)
        self.node_pools[spec.name] = pool
        return pool

    def _grant_image_streaming(self) -> project_iam_member.ProjectIamMember:
        """``roles/serviceusage.serviceUsageConsumer`` for the node account, once (id ``node-identity/role-serviceusage.serviceUsageConsumer``)."""
        if self.image_streaming_grant is None:
            self.image_streaming_grant = project_iam_member.ProjectIamMember(
                self.node_identity, f"role-{IMAGE_STREAMING_ROLE.rsplit('/', 1)[-1]}",
                project=self.project_id, role=IMAGE_STREAMING_ROLE, member=self.node_identity.iam_member,
            )
            self.node_role_bindings[IMAGE_STREAMING_ROLE] = self.image_streaming_grant
        return self.image_streaming_grant

    def allow_load_balancer_health_checks(self, port: int) -> compute_firewall.ComputeFirewall:
        """Admit Google's health-check / proxy ranges to ``port`` on this cluster's nodes (with
        container-native load balancing they probe and reach pod IPs, which live on the nodes).
        Idempotent: one rule per port."""
        rule_id = f"allow-health-checks-{self.spec.name}-{port}"
        existing = self.network.firewall_rules.get(rule_id)
        if existing is not None:
            return existing
        return self.network.allow_health_checks(port=port, target_tags=(self.node_tag,), id_=rule_id)

    def admits_load_balancer_health_checks(self, port: int) -> bool:
        """Whether the network admits the health-check ranges to ``port`` on this cluster's nodes."""
        return self.network.admits_health_checks(port, tag=self.node_tag)

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


def _check_against_network(spec: GkeClusterSpec, network: ServingNetwork) -> None:
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

