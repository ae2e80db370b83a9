import json

import pytest

from constructs_lib.errors import ConfigurationError
from constructs_lib.gke.cluster import IMAGE_STREAMING_ROLE, NODE_ROLES, ServingCluster
from constructs_lib.machines import machine_shape
from constructs_lib.naming import Naming
from constructs_lib.network import ServingNetwork
from constructs_lib.specs.gke import (
    GkeClusterSpec,
    NodeCapacity,
    NodeGpuSpec,
    NodePoolSpec,
    ReservationSpec,
    SecondaryBootDiskSpec,
    TaintSpec,
    node_capacity,
)
from constructs_lib.specs.network import NetworkSpec
from tests.conftest import TEST_PROJECT, new_stack, only_resource, resource_by_path, resources, synth

LABELS = {"app": "ml", "env": "test", "managed-by": "cdktf"}


def _cluster(stack, naming, region="europe-west1", network_spec=None, **spec):
    network = ServingNetwork(stack, "network", naming=naming, regions=[region], spec=network_spec)
    return ServingCluster(
        stack, "cluster", network=network, naming=naming, project_id=TEST_PROJECT, region=region, spec=GkeClusterSpec(**spec),
    )


def _pool(out, name):
    return resource_by_path(out, "google_container_node_pool", f"cluster/pool-{name}/default")


@pytest.fixture(scope="module")
def default_synth():
    """The default cluster on its network (``default_out``)."""
    stack = new_stack()
    _cluster(stack, Naming(app="ml", env="test"))
    return json.dumps(synth(stack))


# -- cluster defaults ------------------------------------------------------------------------

def test_cluster_is_regional_private_and_hardened_by_default(default_out):
    cluster = only_resource(default_out, "google_container_cluster")
    assert cluster["name"] == "ml-test-gke"
    assert cluster["location"] == "europe-west1"
    assert cluster["project"] == TEST_PROJECT
    assert cluster["node_locations"] == ["europe-west1-b", "europe-west1-c", "europe-west1-d"]
    assert cluster["private_cluster_config"] == {
        "enable_private_nodes": True, "enable_private_endpoint": False, "master_ipv4_cidr_block": "172.16.0.0/28",
    }
    assert cluster["master_authorized_networks_config"] == {"gcp_public_cidrs_access_enabled": False}
    assert cluster["master_auth"] == {"client_certificate_config": {"issue_client_certificate": False}}
    assert cluster["workload_identity_config"] == {"workload_pool": f"{TEST_PROJECT}.svc.id.goog"}
    assert cluster["datapath_provider"] == "ADVANCED_DATAPATH"
    assert cluster["release_channel"] == {"channel": "REGULAR"}
    assert cluster["enable_shielded_nodes"] is True
    assert cluster["enable_legacy_abac"] is False
    assert cluster["enable_intranode_visibility"] is True
    assert cluster["deletion_protection"] is True
    assert cluster["remove_default_node_pool"] is True
    assert cluster["initial_node_count"] == 1
    assert cluster["cluster_autoscaling"] == {"autoscaling_profile": "OPTIMIZE_UTILIZATION"}
    assert cluster["networking_mode"] == "VPC_NATIVE"
    assert cluster["ip_allocation_policy"] == {"cluster_secondary_range_name": "pods", "services_secondary_range_name": "services"}
    assert cluster["addons_config"] == {
        "http_load_balancing": {"disabled": False}, "horizontal_pod_autoscaling": {"disabled": False},
        "gcs_fuse_csi_driver_config": {"enabled": True},
    }
    assert cluster["resource_labels"] == LABELS
    assert cluster["lifecycle"] == {"ignore_changes": ["node_config", "initial_node_count"]}
    for absent in ("database_encryption", "binary_authorization", "authenticator_groups_config"):
        assert absent not in cluster


def test_dataplane_v2_enforces_network_policy_without_a_network_policy_block(default_out):
    # GKE: NetworkPolicy is always enforced with Dataplane V2; do not configure network policy
    # (Calico) next to it. The provider suppresses the diff when an old enabled=false block goes.
    cluster = only_resource(default_out, "google_container_cluster")
    assert cluster["datapath_provider"] == "ADVANCED_DATAPATH"
    assert "network_policy" not in cluster
    assert "network_policy_config" not in cluster["addons_config"]


def test_gcs_fuse_csi_driver_add_on_can_be_turned_off(stack, naming):
    _cluster(stack, naming, gcs_fuse_csi_driver=False)
    cluster = only_resource(synth(stack), "google_container_cluster")
    assert "gcs_fuse_csi_driver_config" not in cluster["addons_config"]


def test_default_pool_is_hardened_while_it_exists(default_out):
    node_config = only_resource(default_out, "google_container_cluster")["node_config"]
    assert node_config["service_account"].endswith(".email}") and "node-identity_default" in node_config["service_account"]
    assert node_config["shielded_instance_config"] == {"enable_secure_boot": True, "enable_integrity_monitoring": True}
    assert node_config["workload_metadata_config"] == {"mode": "GKE_METADATA"}
    assert node_config["metadata"] == {"disable-legacy-endpoints": "true"}


def test_cluster_gets_its_own_subnet_with_pod_and_service_ranges(default_out):
    subnet = resource_by_path(default_out, "google_compute_subnetwork", "cluster/subnet")
    assert subnet["name"] == "ml-test-gke-europe-west1"
    assert subnet["ip_cidr_range"] == "10.20.0.0/20"
    assert subnet["private_ip_google_access"] is True
    assert subnet["secondary_ip_range"] == [
        {"range_name": "pods", "ip_cidr_range": "10.24.0.0/14"},
        {"range_name": "services", "ip_cidr_range": "10.28.0.0/20"},
    ]
    assert subnet["log_config"]["aggregation_interval"] == "INTERVAL_5_SEC"
    cluster = only_resource(default_out, "google_container_cluster")
    assert "cluster_subnet" in cluster["subnetwork"]
    assert "network_default" in cluster["network"]


def test_cluster_subnet_has_its_own_nat_on_the_network_router(default_out):
    nat = resource_by_path(default_out, "google_compute_router_nat", "cluster/nat")
    assert nat["name"] == "ml-test-gke-nat-europe-west1"
    assert "network_router-europe-west1" in nat["router"]
    assert nat["source_subnetwork_ip_ranges_to_nat"] == "LIST_OF_SUBNETWORKS"
    assert len(nat["subnetwork"]) == 1 and "cluster_subnet" in nat["subnetwork"][0]["name"]
    assert nat["subnetwork"][0]["source_ip_ranges_to_nat"] == ["ALL_IP_RANGES"]


def test_nodes_run_as_a_dedicated_least_privilege_service_account(default_out):
    account = resource_by_path(default_out, "google_service_account", "cluster/node-identity/default")
    assert account["account_id"] == "ml-test-gke-nodes"
    assert account["project"] == TEST_PROJECT
    bindings = resources(default_out, "google_project_iam_member")
    # The model pool streams images: GKE needs serviceUsageConsumer of a custom node account.
    assert sorted(b["role"] for b in bindings.values()) == sorted((*NODE_ROLES, IMAGE_STREAMING_ROLE))
    assert all(b["member"].endswith(".member}") and b["project"] == TEST_PROJECT for b in bindings.values())
    cluster = only_resource(default_out, "google_container_cluster")
    assert len(cluster["depends_on"]) == len(NODE_ROLES)


def test_node_account_gets_no_streaming_role_when_no_pool_streams(stack, naming):
    _cluster(stack, naming, model_pool=None)
    roles = sorted(b["role"] for b in resources(synth(stack), "google_project_iam_member").values())
    assert roles == sorted(NODE_ROLES)


# -- node pools ------------------------------------------------------------------------------

def test_system_pool_defaults(default_out):
    pool = _pool(default_out, "system")
    assert pool["name"] == "system"
    assert pool["location"] == "europe-west1"
    assert pool["node_locations"] == ["europe-west1-b", "europe-west1-c", "europe-west1-d"]
    assert pool["autoscaling"] == {"min_node_count": 1, "max_node_count": 2, "location_policy": "BALANCED"}
    assert pool["initial_node_count"] == 1
    assert pool["lifecycle"] == {"ignore_changes": ["initial_node_count"]}
    assert pool["management"] == {"auto_repair": True, "auto_upgrade": True}
    assert pool["upgrade_settings"] == {"strategy": "SURGE", "max_surge": 1, "max_unavailable": 0}
    config = pool["node_config"]
    assert config["machine_type"] == "e2-standard-4"
    assert config["image_type"] == "COS_CONTAINERD"
    assert config["disk_type"] == "pd-balanced" and config["disk_size_gb"] == 100
    assert config["shielded_instance_config"] == {"enable_secure_boot": True, "enable_integrity_monitoring": True}
    assert config["workload_metadata_config"] == {"mode": "GKE_METADATA"}
    assert config["oauth_scopes"] == ["https://www.googleapis.com/auth/cloud-platform"]
    assert config["metadata"] == {"disable-legacy-endpoints": "true"}
    assert config["tags"] == ["ml-test-gke-node"]
    assert config["resource_labels"] == {**LABELS, "node-pool": "system"}
    assert "node-identity_default" in config["service_account"]
    for absent in ("guest_accelerator", "taint", "spot", "labels", "gcfs_config", "flex_start", "reservation_affinity"):
        assert absent not in config
    assert "depends_on" not in pool and "queued_provisioning" not in pool


def test_model_pool_has_l4_gpus_driver_and_image_streaming_by_default(default_out):
    pool = _pool(default_out, "model")
    config = pool["node_config"]
    assert config["machine_type"] == "g2-standard-8"
    assert config["guest_accelerator"] == [{
        "type": "nvidia-l4", "count": 1, "gpu_driver_installation_config": {"gpu_driver_version": "DEFAULT"},
    }]
    assert config["gcfs_config"] == {"enabled": True}
    assert pool["autoscaling"] == {"min_node_count": 0, "max_node_count": 2, "location_policy": "BALANCED"}
    assert pool["initial_node_count"] == 0
    assert pool["management"] == {"auto_repair": True, "auto_upgrade": True}


def test_gpu_pool_leaves_the_gpu_taint_to_gke(default_out):
    # GKE taints GPU nodes nvidia.com/gpu=present:NoSchedule itself; a pool that sets it too can be
    # refused with "more than one taint with key nvidia.com/gpu" (terraform-provider-google#7928).
    config = _pool(default_out, "model")["node_config"]
    assert "taint" not in config


def test_gpu_pool_is_created_after_the_system_pool(default_out):
    # GKE adds the GPU taint only while the cluster has a pool without GPUs; the default pool is
    # deleted right after the cluster is created, so the system pool must exist first.
    depends_on = _pool(default_out, "model")["depends_on"]
    assert any(d.startswith("google_container_node_pool.cluster_pool-system_default_") for d in depends_on)
    assert any(d.startswith("google_project_iam_member.cluster_node-identity_role-serviceusageserviceUsageConsumer_") for d in depends_on)


def test_pool_attributes_for_workloads(stack, naming):
    cluster = _cluster(stack, naming)
    model = cluster.model_pool
    assert cluster.node_pools == {"system": cluster.system_pool, "model": model}
    assert model.gpu_type == "nvidia-l4" and model.gpu_count == 1
    assert model.node_selector == {"cloud.google.com/gke-nodepool": "model"}
    # The pool sets no taint, but pods still tolerate the one GKE puts on GPU nodes.
    assert model.taints == () and [t.key for t in model.gke_taints] == ["nvidia.com/gpu"]
    assert model.tolerations == [{"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}]
    assert model.image_streaming is True and cluster.system_pool.image_streaming is False
    assert model.capacity == node_capacity("g2-standard-8")
    assert cluster.system_pool.gpu_count == 0 and cluster.system_pool.tolerations == []
    assert cluster.workload_pool == f"{TEST_PROJECT}.svc.id.goog"
    assert cluster.zones == ("europe-west1-b", "europe-west1-c", "europe-west1-d")


def test_spot_gpu_pool_with_latest_driver_extra_taint_and_labels(stack, naming):
    _cluster(stack, naming, model_pool=NodePoolSpec(
        name="gpu", machine_type="n1-standard-8", gpu=NodeGpuSpec(type="nvidia-tesla-t4", count=2, driver_version="LATEST"),
        spot=True, min_nodes_per_zone=0, max_nodes_per_zone=4, zones=("europe-west1-b", "europe-west1-c"),
        taints=(TaintSpec(key="team", value="ml", effect="NO_EXECUTE"),), labels={"workload": "inference"},
        max_surge=0, max_unavailable=1, disk_type="pd-ssd", disk_size_gb=200,
    ))
    pool = _pool(synth(stack), "gpu")
    config = pool["node_config"]
    assert config["spot"] is True
    assert pool["autoscaling"]["location_policy"] == "ANY"
    assert pool["autoscaling"]["max_node_count"] == 4
    assert pool["node_locations"] == ["europe-west1-b", "europe-west1-c"]
    assert config["guest_accelerator"] == [{
        "type": "nvidia-tesla-t4", "count": 2, "gpu_driver_installation_config": {"gpu_driver_version": "LATEST"},
    }]
    assert config["taint"] == [{"key": "team", "value": "ml", "effect": "NO_EXECUTE"}]
    assert config["labels"] == {"workload": "inference"}
    assert pool["upgrade_settings"] == {"strategy": "SURGE", "max_surge": 0, "max_unavailable": 1}
    assert config["disk_type"] == "pd-ssd" and config["disk_size_gb"] == 200


L4 = NodeGpuSpec(type="nvidia-l4")


def _model_pool(**fields):
    fields.setdefault("min_nodes_per_zone", 0)
    return NodePoolSpec(name="model", machine_type="g2-standard-8", gpu=L4, **fields)


def test_flex_start_pool_takes_no_reservation_and_any_zone(stack, naming):
    _cluster(stack, naming, model_pool=_model_pool(flex_start=True))
    pool = _pool(synth(stack), "model")
    assert pool["node_config"]["flex_start"] is True
    assert pool["node_config"]["reservation_affinity"] == {"consume_reservation_type": "NO_RESERVATION"}
    assert pool["autoscaling"]["location_policy"] == "ANY"
    assert "spot" not in pool["node_config"] and "queued_provisioning" not in pool
    assert pool["management"] == {"auto_repair": True, "auto_upgrade": True}


def test_queued_provisioning_pool(stack, naming):
    _cluster(stack, naming, model_pool=_model_pool(flex_start=True, queued_provisioning=True, max_nodes_per_zone=4))
    pool = _pool(synth(stack), "model")
    assert pool["queued_provisioning"] == {"enabled": True}
    assert pool["node_config"]["flex_start"] is True
    assert pool["node_config"]["reservation_affinity"] == {"consume_reservation_type": "NO_RESERVATION"}
    assert pool["autoscaling"] == {"min_node_count": 0, "max_node_count": 4, "location_policy": "ANY"}
    # GKE refuses ProvisioningRequests on pools that auto-repair.
    assert pool["management"] == {"auto_repair": False, "auto_upgrade": True}


@pytest.mark.parametrize(("reservation", "expected"), [
    (ReservationSpec(consume="ANY_RESERVATION"), {"consume_reservation_type": "ANY_RESERVATION"}),
    (ReservationSpec(consume="NO_RESERVATION"), {"consume_reservation_type": "NO_RESERVATION"}),
    (ReservationSpec(names=("l4-block", "projects/shared-proj-1/reservations/l4-shared")), {
        "consume_reservation_type": "SPECIFIC_RESERVATION", "key": "compute.googleapis.com/reservation-name",
        "values": ["l4-block", "projects/shared-proj-1/reservations/l4-shared"],
    }),
])
def test_reservation_affinity(stack, naming, reservation, expected):
    _cluster(stack, naming, model_pool=_model_pool(reservation=reservation))
    assert _pool(synth(stack), "model")["node_config"]["reservation_affinity"] == expected


def test_image_streaming_and_secondary_boot_disks(stack, naming):
    _cluster(
        stack, naming,
        system_pool=NodePoolSpec(name="system", image_streaming=True),
        model_pool=_model_pool(secondary_boot_disks=(
            SecondaryBootDiskSpec(disk_image="global/images/llm-server-v2"),
            SecondaryBootDiskSpec(disk_image="projects/images-proj-1/global/images/llm-weights", mode="data"),
        )),
    )
    out = synth(stack)
    assert _pool(out, "system")["node_config"]["gcfs_config"] == {"enabled": True}
    config = _pool(out, "model")["node_config"]
    assert config["gcfs_config"] == {"enabled": True}
    assert config["secondary_boot_disks"] == [
        {"disk_image": "global/images/llm-server-v2", "mode": "CONTAINER_IMAGE_CACHE"},
        {"disk_image": "projects/images-proj-1/global/images/llm-weights"},
    ]


def test_image_streaming_can_be_turned_off(stack, naming):
    cluster = _cluster(stack, naming, model_pool=_model_pool(image_streaming=False))
    out = synth(stack)
    assert "gcfs_config" not in _pool(out, "model")["node_config"]
    assert cluster.image_streaming_grant is None
    assert IMAGE_STREAMING_ROLE not in [b["role"] for b in resources(out, "google_project_iam_member").values()]


def test_ubuntu_pool_does_not_stream_by_default(stack, naming):
    _cluster(stack, naming, model_pool=_model_pool(image_type="UBUNTU_CONTAINERD"))
    assert "gcfs_config" not in _pool(synth(stack), "model")["node_config"]


def test_added_gpu_pool_waits_for_the_system_pool(stack, naming):
    cluster = _cluster(stack, naming, model_pool=None)
    cluster.add_node_pool(NodePoolSpec(name="t4", machine_type="n1-standard-8", gpu=NodeGpuSpec(type="nvidia-tesla-t4"), min_nodes_per_zone=0))
    depends_on = _pool(synth(stack), "t4")["depends_on"]
    assert any(d.startswith("google_container_node_pool.cluster_pool-system_default_") for d in depends_on)


def test_without_model_pool_and_add_node_pool(stack, naming):
    cluster = _cluster(stack, naming, model_pool=None)
    assert cluster.model_pool is None
    cpu = cluster.add_node_pool(NodePoolSpec(name="cpu-models", machine_type="n2-highmem-8", location_policy="ANY"))
    out = synth(stack)
    assert sorted(p["name"] for p in resources(out, "google_container_node_pool").values()) == ["cpu-models", "system"]
    assert _pool(out, "cpu-models")["autoscaling"]["location_policy"] == "ANY"
    assert cpu.capacity == node_capacity("n2-highmem-8")


# -- cluster options -------------------------------------------------------------------------

def test_cluster_options(stack, naming):
    _cluster(
        stack, naming, name="serving", release_channel="STABLE", zones=("europe-west1-c", "europe-west1-d"),
        master_authorized_networks=("203.0.113.0/24", "198.51.100.7/32"), enable_private_endpoint=True,
        autoscaling_profile="BALANCED", deletion_protection=False, intranode_visibility=False,
        secrets_encryption_key="projects/kms-project-1/locations/europe-west1/keyRings/gke/cryptoKeys/secrets",
        binary_authorization=True, rbac_security_group="gke-security-groups@example.com",
        node_service_account_id="gke-serving-nodes", labels={"team": "ml"},
        node_cidr="10.40.0.0/22", pods_cidr="10.44.0.0/16", services_cidr="10.45.0.0/22", master_ipv4_cidr_block="172.16.8.16/28",
    )
    out = synth(stack)
    cluster = only_resource(out, "google_container_cluster")
    assert cluster["name"] == "ml-test-serving"
    assert cluster["release_channel"] == {"channel": "STABLE"}
    assert cluster["node_locations"] == ["europe-west1-c", "europe-west1-d"]
    assert cluster["master_authorized_networks_config"] == {
        "gcp_public_cidrs_access_enabled": False,
        "cidr_blocks": [
            {"cidr_block": "203.0.113.0/24", "display_name": "authorized-1"},
            {"cidr_block": "198.51.100.7/32", "display_name": "authorized-2"},
        ],
    }
    assert cluster["private_cluster_config"]["enable_private_endpoint"] is True
    assert cluster["private_cluster_config"]["master_ipv4_cidr_block"] == "172.16.8.16/28"
    assert cluster["cluster_autoscaling"] == {"autoscaling_profile": "BALANCED"}
    assert cluster["deletion_protection"] is False
    assert cluster["enable_intranode_visibility"] is False
    assert cluster["database_encryption"] == {
        "state": "ENCRYPTED", "key_name": "projects/kms-project-1/locations/europe-west1/keyRings/gke/cryptoKeys/secrets",
    }
    assert cluster["binary_authorization"] == {"evaluation_mode": "PROJECT_SINGLETON_POLICY_ENFORCE"}
    assert cluster["authenticator_groups_config"] == {"security_group": "gke-security-groups@example.com"}
    assert cluster["resource_labels"] == {**LABELS, "team": "ml"}
    assert resource_by_path(out, "google_service_account", "cluster/node-identity/default")["account_id"] == "gke-serving-nodes"
    subnet = resource_by_path(out, "google_compute_subnetwork", "cluster/subnet")
    assert subnet["name"] == "ml-test-serving-europe-west1" and subnet["ip_cidr_range"] == "10.40.0.0/22"
    assert [r["ip_cidr_range"] for r in subnet["secondary_ip_range"]] == ["10.44.0.0/16", "10.45.0.0/22"]
    for pool in resources(out, "google_container_node_pool").values():
        assert pool["node_locations"] == ["europe-west1-c", "europe-west1-d"]
        assert pool["node_config"]["tags"] == ["ml-test-serving-node"]
        assert pool["node_config"]["resource_labels"]["team"] == "ml"


def test_egress_nat_can_be_left_out(stack, naming):
    _cluster(stack, naming, egress_nat=False)
    out = synth(stack)
    assert [n["name"] for n in resources(out, "google_compute_router_nat").values()] == ["ml-test-nat-europe-west1"]


def test_zones_default_to_the_first_three_of_the_region(stack, naming):
    cluster = _cluster(stack, naming, region="us-central1", model_pool=None)
    assert cluster.zones == ("us-central1-a", "us-central1-b", "us-central1-c")


def test_health_check_firewall_targets_the_nodes_on_the_serving_port(stack, naming):
    cluster = _cluster(stack, naming)
    cluster.allow_load_balancer_health_checks(9000)
    rule = resource_by_path(synth(stack), "google_compute_firewall", "network/allow-health-checks-gke-9000")
    assert rule["source_ranges"] == ["35.191.0.0/16", "130.211.0.0/22"]
    assert rule["target_tags"] == ["ml-test-gke-node"]
    assert rule["allow"] == [{"protocol": "tcp", "ports": ["9000"]}]
    assert cluster.network.admits_health_checks(9000, tag="ml-test-gke-node")


def test_outputs(stack, naming):
    _cluster(stack, naming).add_outputs(stack)
    outputs = synth(stack)["output"]
    assert set(outputs) == {"gke_cluster_name", "gke_cluster_location", "gke_node_service_account"}
    assert "google_container_cluster.cluster_default" in outputs["gke_cluster_name"]["value"]


# -- machine capacity ------------------------------------------------------------------------

def test_node_capacity_follows_gke_reservations_minus_daemonsets():
    # e2-standard-4: 4 vCPU, 16 GiB. CPU reserved 60+10+10 = 80m; memory reserved 1024 + 819.2 +
    # 819.2 MiB + 100 MiB eviction; minus the 200m / 512 MiB daemonset allowance.
    assert node_capacity("e2-standard-4") == NodeCapacity(cpu_millis=3720, memory_mib=13109)
    assert node_capacity("g2-standard-8") == NodeCapacity(cpu_millis=7710, memory_mib=28510)
    # Accelerator-optimized types state neither size in their names: the catalogue knows them.
    assert node_capacity("a2-highgpu-1g") == NodeCapacity(cpu_millis=11700, memory_mib=79526)
    assert node_capacity("n1-custom-8-30720") is None
    assert machine_shape("n1-standard-8") == (8, 30.0)
    assert machine_shape("n2-highmem-16") == (16, 128)


# -- validation ------------------------------------------------------------------------------

def test_fails_when_gpu_type_is_unknown():
    with pytest.raises(ConfigurationError, match=r"unknown GPU type; allowed: nvidia-tesla-t4"):
        NodeGpuSpec(type="nvidia-rtx-4090")


def test_fails_when_gpu_type_is_not_offered_in_the_region(stack, naming):
    with pytest.raises(ConfigurationError, match=r"node_pools\[model\]\.region = 'us-west2': nvidia-l4 is not offered there"):
        _cluster(stack, naming, region="us-west2")


def test_gpu_region_check_can_be_skipped(stack, naming):
    pool = NodePoolSpec(name="model", machine_type="g2-standard-8", gpu=NodeGpuSpec(type="nvidia-l4", skip_region_check=True))
    cluster = _cluster(stack, naming, region="us-west2", model_pool=pool)
    assert cluster.model_pool.gpu_type == "nvidia-l4"


def test_fails_when_gpu_does_not_fit_the_machine_type():
    with pytest.raises(ConfigurationError, match=r"machine_type = 'n1-standard-8': cannot take nvidia-l4"):
        NodePoolSpec(name="model", machine_type="n1-standard-8", gpu=NodeGpuSpec(type="nvidia-l4"))


def test_fails_when_accelerator_machine_type_has_no_gpu_declared():
    with pytest.raises(ConfigurationError, match=r"machine_type = 'g2-standard-8': is accelerator-optimized"):
        NodePoolSpec(name="model", machine_type="g2-standard-8")


def test_fails_when_min_nodes_exceed_max_nodes():
    with pytest.raises(ConfigurationError, match=r"max_nodes_per_zone \(2\) must be >= min_nodes_per_zone \(4\)"):
        NodePoolSpec(name="model", min_nodes_per_zone=4, max_nodes_per_zone=2)


def test_fails_when_surge_and_unavailable_are_both_zero():
    with pytest.raises(ConfigurationError, match=r"max_surge and max_unavailable are both 0"):
        NodePoolSpec(name="p1", max_surge=0, max_unavailable=0)


def test_fails_when_gpu_taint_is_set_on_a_gpu_pool():
    with pytest.raises(ConfigurationError, match=r"^NodePoolSpec: taints = 'nvidia.com/gpu': GKE taints GPU nodes with nvidia.com/gpu itself; drop it"):
        NodePoolSpec(name="model", machine_type="g2-standard-8", gpu=NodeGpuSpec(type="nvidia-l4"),
                     taints=(TaintSpec(key="nvidia.com/gpu", value="present"),))


def test_fails_when_system_pool_has_gpus():
    with pytest.raises(ConfigurationError, match=r"^GkeClusterSpec: system_pool\.gpu = 'nvidia-l4': the system pool has no GPUs: GKE taints GPU nodes only while"):
        GkeClusterSpec(system_pool=NodePoolSpec(name="system", machine_type="g2-standard-8", gpu=L4))


@pytest.mark.parametrize(("fields", "message"), [
    ({"spot": True, "flex_start": True}, r"flex_start = True: a node is a Spot VM or a flex-start VM, not both"),
    ({"spot": True, "queued_provisioning": True}, r"queued_provisioning = True: does not take Spot VMs; set spot = false"),
    ({"queued_provisioning": True, "min_nodes_per_zone": 1},
     r"min_nodes_per_zone = 1: must be 0 with queued_provisioning: the pool's nodes come only from ProvisioningRequests"),
    ({"flex_start": True, "reservation": {"consume": "ANY_RESERVATION"}},
     r"reservation\.consume = 'ANY_RESERVATION': flex_start nodes do not consume reservations \(GKE requires reservation affinity none\)"),
    ({"queued_provisioning": True, "reservation": {"names": ["r1"]}},
     r"reservation\.consume = 'SPECIFIC_RESERVATION': queued_provisioning nodes do not consume reservations"),
    ({"spot": True, "reservation": {"names": ["r1"]}},
     r"reservation\.consume = 'SPECIFIC_RESERVATION': Spot VMs do not consume reservations, so the pool could never start a node"),
    ({"reservation": {}}, r"reservation\.names = \[\]: SPECIFIC_RESERVATION needs at least one reservation name"),
    ({"reservation": {"consume": "ANY_RESERVATION", "names": ["r1"]}},
     r"reservation\.names = \['r1'\]: names apply to SPECIFIC_RESERVATION only, not ANY_RESERVATION"),
    ({"reservation": {"names": ["Bad_Name"]}}, r"reservation\.names\[0\] = 'Bad_Name': must be a reservation name"),
    ({"reservation": {"names": ["r1", "r1"]}}, r"reservation\.names = .*: each reservation may be listed once; repeated: r1"),
    ({"image_streaming": True, "image_type": "UBUNTU_CONTAINERD"},
     r"image_streaming = True: needs image_type COS_CONTAINERD \(GKE streams images on Container-Optimized OS only\), not UBUNTU_CONTAINERD"),
    ({"image_streaming": False, "secondary_boot_disks": [{"disk_image": "global/images/weights"}]},
     r"secondary_boot_disks = 'set': need image streaming \(image_streaming not false, image_type COS_CONTAINERD\)"),
    ({"image_type": "UBUNTU_CONTAINERD", "secondary_boot_disks": [{"disk_image": "global/images/weights"}]},
     r"secondary_boot_disks = 'set': need image streaming"),
    ({"secondary_boot_disks": [{"disk_image": "global/images/w"}, {"disk_image": "global/images/w"}]},
     r"secondary_boot_disks = 'global/images/w': each disk image may be attached once"),
    ({"secondary_boot_disks": [{"disk_image": "weights-v2"}]},
     r"secondary_boot_disks\[0\]\.disk_image = 'weights-v2': must be global/images/<name> or projects/<project>/global/images/<name>"),
])
def test_fails_when_gpu_pool_capacity_options_clash(fields, message):
    with pytest.raises(ConfigurationError, match=r"^NodePoolSpec: " + message):
        _model_pool(**fields)


def test_fails_when_queued_provisioning_pool_has_no_gpus():
    with pytest.raises(ConfigurationError, match=r"^NodePoolSpec: queued_provisioning = True: provisions accelerator nodes only"):
        NodePoolSpec(name="batch", machine_type="n2-standard-8", min_nodes_per_zone=0, queued_provisioning=True)


def test_fails_when_pool_name_is_too_long():
    with pytest.raises(ConfigurationError, match=r"must be at most 40 characters"):
        NodePoolSpec(name="p" * 41)


@pytest.mark.parametrize(("cidr", "message"), [
    ("172.16.0.0/24", r"must be a /28"),
    ("8.8.8.0/28", r"must be a private range"),
    ("172.16.0.1/28", r"must be a CIDR block such as 10.20.0.0/20"),
])
def test_fails_when_master_cidr_is_bad(cidr, message):
    with pytest.raises(ConfigurationError, match=rf"GkeClusterSpec: master_ipv4_cidr_block = '{cidr}': {message}"):
        GkeClusterSpec(master_ipv4_cidr_block=cidr)


def test_fails_when_cluster_range_is_public():
    with pytest.raises(ConfigurationError, match=r"GkeClusterSpec: pods_cidr = '34.0.0.0/14': must be a private range"):
        GkeClusterSpec(pods_cidr="34.0.0.0/14")


def test_fails_when_cluster_ranges_overlap():
    with pytest.raises(ConfigurationError, match=r"services_cidr \(10.24.0.0/20\) overlaps pods_cidr \(10.24.0.0/14\)"):
        GkeClusterSpec(services_cidr="10.24.0.0/20")


def test_fails_when_cluster_range_overlaps_the_serving_network(stack, naming):
    with pytest.raises(ConfigurationError, match=r"cluster.node_cidr = '10.10.16.0/20': overlaps the network.subnet_cidr_base \(10.10.0.0/16\)"):
        _cluster(stack, naming, node_cidr="10.10.16.0/20")


def test_fails_when_zone_is_not_in_region(stack, naming):
    with pytest.raises(ConfigurationError, match=r"cluster.zones\[1\] = 'us-east1-b': not a zone of europe-west1"):
        _cluster(stack, naming, zones=("europe-west1-b", "us-east1-b"))


def test_fails_when_cluster_zone_is_listed_twice(stack, naming):
    with pytest.raises(ConfigurationError, match=r"cluster.zones = .*: each zone may be listed once; repeated: europe-west1-b"):
        _cluster(stack, naming, zones=("europe-west1-b", "europe-west1-c", "europe-west1-b"))


def test_fails_when_pool_zone_is_listed_twice(stack, naming):
    pool = NodePoolSpec(name="cpu", machine_type="n2-standard-8", zones=("europe-west1-b", "europe-west1-b"))
    with pytest.raises(ConfigurationError, match=r"node_pools\[cpu\]\.zones = .*: each zone may be listed once; repeated: europe-west1-b"):
        _cluster(stack, naming, model_pool=pool)


def test_fails_when_pool_zone_is_not_a_cluster_zone(stack, naming):
    pool = NodePoolSpec(name="model", machine_type="g2-standard-8", gpu=NodeGpuSpec(type="nvidia-l4"), zones=("europe-west1-d",))
    with pytest.raises(ConfigurationError, match=r"node_pools\[model\]\.zones\[0\] = 'europe-west1-d': must be one of the cluster's zones"):
        _cluster(stack, naming, zones=("europe-west1-b", "europe-west1-c"), model_pool=pool)


def test_fails_when_release_channel_is_bad():
    with pytest.raises(ConfigurationError, match=r"release_channel = 'BETA': Input should be 'RAPID', 'REGULAR', 'STABLE' or 'EXTENDED'"):
        GkeClusterSpec(release_channel="BETA")


def test_fails_when_authorized_network_is_the_internet():
    with pytest.raises(ConfigurationError, match=r"'0.0.0.0/0' admits the whole internet"):
        GkeClusterSpec(master_authorized_networks=("0.0.0.0/0",))


def test_fails_when_authorized_network_is_not_a_cidr():
    with pytest.raises(ConfigurationError, match=r"master_authorized_networks = .*: '10.0.0.1/8' must be a CIDR block such as 10.20.0.0/20"):
        GkeClusterSpec(master_authorized_networks=("10.0.0.1/8",))


def test_fails_when_authorized_network_is_listed_twice():
    with pytest.raises(ConfigurationError, match=r"master_authorized_networks = .*: each CIDR may be listed once; repeated: 203.0.113.0/24"):
        GkeClusterSpec(master_authorized_networks=("203.0.113.0/24", "198.51.100.0/24", "203.0.113.0/24"))


def test_fails_when_authorized_networks_exceed_the_gke_limit():
    cidrs = tuple(f"10.0.{i}.0/24" for i in range(51))
    with pytest.raises(ConfigurationError, match=r"master_authorized_networks = .*: 51 CIDRs: GKE takes at most 50"):
        GkeClusterSpec(master_authorized_networks=cidrs)


def test_fails_when_region_is_not_served_by_the_network(stack, naming):
    network = ServingNetwork(stack, "network", naming=naming, regions=["europe-west1"], spec=NetworkSpec())
    with pytest.raises(ConfigurationError, match=r"^region = 'us-east1': must be among the network's regions \(europe-west1\): the cluster uses its Cloud Router$"):
        ServingCluster(stack, "cluster", network=network, naming=naming, project_id=TEST_PROJECT, region="us-east1")


def test_fails_when_system_pool_can_empty_a_zone(stack, naming):
    with pytest.raises(ConfigurationError, match=r"cluster.system_pool = .*: the system pool must keep >= 1 node in every cluster zone"):
        _cluster(stack, naming, system_pool=NodePoolSpec(name="system", min_nodes_per_zone=0))


def test_fails_when_pools_share_a_name():
    with pytest.raises(ConfigurationError, match=r"system_pool and model_pool must have different names"):
        GkeClusterSpec(model_pool=NodePoolSpec(name="system"))


def test_fails_when_node_pool_is_added_twice(stack, naming):
    cluster = _cluster(stack, naming)
    with pytest.raises(ConfigurationError, match=r"node_pools = 'system': a node pool with this name exists already"):
        cluster.add_node_pool(NodePoolSpec(name="system"))


def test_fails_when_rbac_group_is_not_the_gke_group():
    with pytest.raises(ConfigurationError, match=r"must be gke-security-groups@<your domain>"):
        GkeClusterSpec(rbac_security_group="admins@example.com")


# -- snapshot --------------------------------------------------------------------------------

def test_snapshot_default_gpu_cluster(stack, naming, snapshot_json):
    cluster = _cluster(stack, naming)
    cluster.allow_load_balancer_health_checks(8080)
    assert synth(stack) == snapshot_json
