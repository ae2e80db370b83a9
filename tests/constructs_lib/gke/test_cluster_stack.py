
from constructs_lib.gke.cluster_stack import GkeClusterStack
from constructs_lib.specs.gke import GkeClusterSpec
from constructs_lib.specs.network import NetworkSpec
from tests.conftest import TEST_PROJECT, new_app, only_resource, resource_by_path, synth


def _stack(naming, **options):
    return GkeClusterStack(
        new_app(), "serving-cluster", project_id=TEST_PROJECT, region="europe-west1",
        regions=["europe-west1", "us-central1"], naming=naming, **options,
    )


def test_stack_holds_the_network_and_the_cluster_at_stable_ids(naming):
    stack = _stack(naming)
    out = synth(stack)
    assert stack.network.regions == ("europe-west1", "us-central1")
    assert resource_by_path(out, "google_compute_network", "network/default")["name"] == "ml-test-vpc"
    assert resource_by_path(out, "google_container_cluster", "cluster/default")["name"] == "ml-test-gke"
    assert only_resource(out, "google_container_cluster")["location"] == "europe-west1"
    assert stack.cluster.network is stack.network
    assert (stack.project_id, stack.region, stack.naming) == (TEST_PROJECT, "europe-west1", naming)
    assert out["provider"]["google"] == [
        {"project": TEST_PROJECT, "region": "europe-west1", "add_terraform_attribution_label": False},
    ]


def test_outputs_name_the_cluster_and_the_network(naming):
    outputs = synth(_stack(naming))["output"]
    assert set(outputs) == {"gke_cluster_name", "gke_cluster_location", "gke_node_service_account", "network_self_link"}
    assert "google_container_cluster.cluster_default" in outputs["gke_cluster_name"]["value"]
    assert "google_container_cluster.cluster_default" in outputs["gke_cluster_location"]["value"]
    assert outputs["gke_node_service_account"]["value"].endswith(".email}")
    assert outputs["network_self_link"]["value"].startswith("${google_compute_network.network_default_")


def test_specs_reach_the_network_and_the_cluster(naming):
    stack = _stack(naming, network=NetworkSpec(subnet_cidr_base="10.50.0.0/16"), cluster=GkeClusterSpec(name="serving", model_pool=None))
    out = synth(stack)
    assert only_resource(out, "google_container_cluster")["name"] == "ml-test-serving"
    assert all(cidr.startswith("10.50.") for cidr in stack.network.subnet_cidrs.values())
    assert stack.cluster.model_pool is None
    assert {"serving_cluster_name", "serving_cluster_location", "serving_node_service_account"} <= set(out["output"])


def test_setup_hook_configures_the_new_stack(naming):
    calls = []
    stack = _stack(naming, setup=calls.append)
    assert calls == [stack]
