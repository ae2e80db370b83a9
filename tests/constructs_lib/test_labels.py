"""The ``CommonLabels`` aspect: every google resource gets the environment's labels and the reserved
``app`` / ``env`` / ``managed-by`` at synth, wherever it keeps its labels."""

import pytest
from cdktf import Testing, TerraformVariable, Token

from constructs_lib._google import (
    compute_global_address,
    compute_instance_template,
    compute_network,
    container_cluster,
    container_node_pool,
    data_google_storage_project_service_account,
    monitoring_notification_channel,
)
from constructs_lib._kubernetes import namespace_v1, provider as kubernetes_provider
from constructs_lib.errors import ConfigurationError
from constructs_lib.labels import CommonLabels, apply_common_labels
from constructs_lib.naming import Naming
from constructs_lib.network import ServingNetwork
from tests.conftest import only_resource, resources, synth

ENV = Naming(app="ml", env="test", labels={"team": "platform", "cost-center": "ml-1"})
COMMON = {"app": "ml", "env": "test", "managed-by": "cdktf", "team": "platform", "cost-center": "ml-1"}


def _labelled(stack, naming=ENV):
    apply_common_labels(stack, naming)
    return stack


def _address(stack, id_="address", **kwargs):
    return compute_global_address.ComputeGlobalAddress(stack, id_, name=f"ml-test-{id_}", **kwargs)


# -- where the labels go ----------------------------------------------------------------------

def test_top_level_labels_get_env_labels_and_reserved_keys(stack):
    _address(_labelled(stack))
    assert only_resource(synth(stack), "google_compute_global_address")["labels"] == COMMON


def test_resource_labels_of_a_cluster_get_them(stack):
    container_cluster.ContainerCluster(
        _labelled(stack), "cluster", name="ml-test-gke", location="europe-west1", initial_node_count=1, deletion_protection=False,
    )
    cluster = only_resource(synth(stack), "google_container_cluster")
    assert cluster["resource_labels"] == COMMON
    assert "labels" not in cluster


def test_user_labels_get_them_and_a_notification_channels_labels_are_left_alone(stack):
    # a notification channel's `labels` configure the channel (its address), not the resource
    monitoring_notification_channel.MonitoringNotificationChannel(
        _labelled(stack), "channel", display_name="ops", type="email", labels={"email_address": "ops@example.com"},
    )
    channel = only_resource(synth(stack), "google_monitoring_notification_channel")
    assert channel["user_labels"] == COMMON
    assert channel["labels"] == {"email_address": "ops@example.com"}


def test_template_disks_get_them(stack):
    t = compute_instance_template
    t.ComputeInstanceTemplate(
        _labelled(stack), "template", machine_type="e2-small", labels={"model": "resnet"},
        disk=[
            t.ComputeInstanceTemplateDisk(source_image="cos-cloud/cos-stable", boot=True, labels={"disk": "boot"}),
            t.ComputeInstanceTemplateDisk(disk_size_gb=100, disk_type="pd-ssd"),
        ],
        network_interface=[t.ComputeInstanceTemplateNetworkInterface(network="default")],
    )
    template = only_resource(synth(stack), "google_compute_instance_template")
    assert template["labels"] == {**COMMON, "model": "resnet"}
    assert [disk["labels"] for disk in template["disk"]] == [{**COMMON, "disk": "boot"}, COMMON]


def test_node_pool_nodes_get_them_in_resource_labels_not_in_kubernetes_labels(stack):
    p = container_node_pool
    _labelled(stack)
    p.ContainerNodePool(
        stack, "gpu", name="gpu", cluster="ml-test-gke", location="europe-west1",
        node_config=p.ContainerNodePoolNodeConfig(machine_type="g2-standard-8", labels={"node-pool": "gpu"},
                                                 resource_labels={"node-pool": "gpu"}),
    )
    p.ContainerNodePool(stack, "bare", name="bare", cluster="ml-test-gke", location="europe-west1")
    pools = {pool["name"]: pool for pool in resources(synth(stack), "google_container_node_pool").values()}
    assert pools["gpu"]["node_config"]["resource_labels"] == {**COMMON, "node-pool": "gpu"}
    assert pools["gpu"]["node_config"]["labels"] == {"node-pool": "gpu"}  # kubernetes node labels: the pool's own
    assert "node_config" not in pools["bare"]


def test_a_resource_without_labels_is_unchanged(stack):
    compute_network.ComputeNetwork(_labelled(stack), "vpc", name="ml-test-vpc", auto_create_subnetworks=False)
    assert "labels" not in only_resource(synth(stack), "google_compute_network")


def test_kubernetes_resources_and_data_sources_are_untouched(stack):
    _labelled(stack)
    kubernetes_provider.KubernetesProvider(stack, "kubernetes", host="https://10.0.0.2", token="offline")
    namespace_v1.NamespaceV1(stack, "namespace", metadata=namespace_v1.NamespaceV1Metadata(name="models", labels={"team": "vision"}))
    data_google_storage_project_service_account.DataGoogleStorageProjectServiceAccount(stack, "agent")
    result = synth(stack)
    assert only_resource(result, "kubernetes_namespace_v1")["metadata"] == {"name": "models", "labels": {"team": "vision"}}
    agent = next(iter(result["data"]["google_storage_project_service_account"].values()))
    assert "labels" not in agent and "user_labels" not in agent


def test_constructs_get_them_through_apply_common_labels(stack):
    ServingNetwork(stack, "network", naming=ENV, regions=["europe-west1"]).enable_private_services()
    assert only_resource(synth(stack), "google_compute_global_address")["labels"] == COMMON


# -- precedence ---------------------------------------------------------------------------------

def test_a_constructs_own_labels_win_over_env_labels(stack):
    _address(_labelled(stack), labels={"team": "vision", "model": "resnet"})
    assert only_resource(synth(stack), "google_compute_global_address")["labels"] == {
        **COMMON, "team": "vision", "model": "resnet",
    }


def test_reserved_keys_always_win(stack):
    _address(_labelled(stack), labels={"app": "other", "env": "prod", "managed-by": "hand"})
    labels = only_resource(synth(stack), "google_compute_global_address")["labels"]
    assert (labels["app"], labels["env"], labels["managed-by"]) == ("ml", "test", "cdktf")


def test_reserved_keys_win_in_nested_labels_too(stack):
    t = compute_instance_template
    t.ComputeInstanceTemplate(
        _labelled(stack), "template", machine_type="e2-small",
        disk=[t.ComputeInstanceTemplateDisk(source_image="cos-cloud/cos-stable", labels={"env": "prod"})],
        network_interface=[t.ComputeInstanceTemplateNetworkInterface(network="default")],
    )
    assert only_resource(synth(stack), "google_compute_instance_template")["disk"][0]["labels"]["env"] == "test"


# -- references and rules -----------------------------------------------------------------------

def test_label_values_that_are_references_are_kept(stack):
    first = _address(_labelled(stack))
    _address(stack, "second", labels={"pair": first.name})
    second = next(a for a in resources(synth(stack), "google_compute_global_address").values() if a["name"] == "ml-test-second")
    assert second["labels"] == {**COMMON, "pair": "${google_compute_global_address.address.name}"}


def test_a_label_map_that_is_a_reference_is_merged_by_terraform(stack):
    variable = TerraformVariable(_labelled(stack), "labels", type="map(string)", default={"owner": "ml"})
    _address(stack, labels=Token.as_string_map(variable.value))
    t = compute_instance_template
    t.ComputeInstanceTemplate(
        stack, "template", machine_type="e2-small",
        disk=[t.ComputeInstanceTemplateDisk(source_image="cos-cloud/cos-stable", labels=Token.as_string_map(variable.value))],
        network_interface=[t.ComputeInstanceTemplateNetworkInterface(network="default")],
    )
    expected = ('${merge({"team" = "platform", "cost-center" = "ml-1"}, var.labels, '
                '{"app" = "ml", "env" = "test", "managed-by" = "cdktf"})}')
    result = synth(stack)
    assert only_resource(result, "google_compute_global_address")["labels"] == expected
    assert only_resource(result, "google_compute_instance_template")["disk"][0]["labels"] == expected


def test_a_second_synth_gives_the_same_labels(stack):
    variable = TerraformVariable(_labelled(stack), "labels", type="map(string)", default={"owner": "ml"})
    _address(stack, labels=Token.as_string_map(variable.value))
    _address(stack, "literal", labels={"model": "resnet"})
    assert synth(stack) == synth(stack)


def test_fails_at_synth_when_a_resources_own_label_breaks_the_rules(stack):
    _address(_labelled(stack), labels={"model": "ResNet 50"})
    with pytest.raises(RuntimeError) as failed:
        Testing.synth(stack)
    assert "labels.model = 'ResNet 50': label values must match ^[a-z0-9_-]{0,63}$" in str(failed.value)


# -- one naming per stack ----------------------------------------------------------------------

def test_one_aspect_per_stack_and_equal_namings_share_it(stack):
    aspect = apply_common_labels(stack, ENV)
    assert isinstance(aspect, CommonLabels)
    assert apply_common_labels(stack, Naming(app="ml", env="test", labels={"team": "platform", "cost-center": "ml-1"})) is aspect
    ServingNetwork(stack, "network", naming=ENV, regions=["europe-west1"])
    assert [a for a in _aspects(stack) if isinstance(a, CommonLabels)] == [aspect]


def test_fails_when_two_namings_label_one_stack(stack, naming):
    ServingNetwork(stack, "network", naming=naming, regions=["europe-west1"])
    with pytest.raises(ConfigurationError) as failed:
        ServingNetwork(stack, "other", naming=Naming(app="ml", env="prod"), regions=["europe-west1"])
    assert str(failed.value) == "naming = 'ml-prod': stack test already labels its resources as ml-test; one stack is one environment"
    assert stack.node.try_find_child("other") is None


def test_fails_when_the_same_environment_comes_with_other_labels(stack, naming):
    apply_common_labels(stack, naming)
    with pytest.raises(ConfigurationError) as failed:
        apply_common_labels(stack, Naming(app="ml", env="test", labels={"team": "vision"}))
    assert str(failed.value) == (
        "naming.labels = {'team': 'vision'}: stack test already labels its resources as ml-test with labels {}; "
        "one stack is one environment: pass the same Naming to every construct"
    )


def _aspects(stack):
    from cdktf import Aspects

    return list(Aspects.of(stack).all)
