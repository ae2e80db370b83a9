"""The offline Terraform harness, end to end: the real terraform CLI against the provider double.

Every test here runs terraform; without a `terraform` binary on PATH they are skipped with a
reason (they fail under CI=true, see conftest.py). Terraform-behaviour tests use hand-written Terraform JSON (cheap, explicit); one test
goes through cdktf to prove synthesized stacks plan.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest

from tools.tfdouble import harness, mirror

pytestmark = [
    pytest.mark.terraform,
    pytest.mark.slow,
]

PROJECT, REGION = "my-project", "europe-west1"

GOOGLE_ONLY: dict[str, Any] = {
    "terraform": {"required_providers": {"google": {"source": "google", "version": "6.50.0"}}},
    "provider": {"google": [{"project": PROJECT, "region": REGION}]},
    "resource": {
        "google_compute_network": {"net": {"name": "net1", "auto_create_subnetworks": False}},
        "google_compute_subnetwork": {"sub": {
            "name": "sub1", "ip_cidr_range": "10.0.0.0/24", "network": "${google_compute_network.net.id}",
        }},
    },
}


def google_config(**resources: dict[str, Any]) -> dict[str, Any]:
    """GOOGLE_ONLY with extra/overridden resource types (a value of None drops the type)."""
    config = copy.deepcopy(GOOGLE_ONLY)
    for type_name, bodies in resources.items():
        if bodies is None:
            config["resource"].pop(type_name, None)
        else:
            config["resource"][type_name] = bodies
    return config


@pytest.fixture(scope="module")
def tf_mirror() -> mirror.Mirror:
    """The shared filesystem mirror (.tfharness), installed once per module."""
    return mirror.install()


@pytest.fixture
def offline(tmp_path: Path, tf_mirror: mirror.Mirror):
    """Factory: an OfflineTerraform working dir under tmp_path holding `config`."""

    def make(config: dict[str, Any], name: str = "work") -> harness.OfflineTerraform:
        tf = harness.OfflineTerraform(tmp_path / name, mirror=tf_mirror)
        tf.write_config(config)
        return tf

    return make


def changes(plan_json: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {rc["address"]: rc["change"] for rc in plan_json.get("resource_changes", [])}


# --------------------------------------------------------------------------------------------
# a cdktf-synthesized stack


@pytest.fixture(scope="module")
def cdktf_stack_json() -> dict[str, Any]:
    """A small stack synthesized by cdktf: network, subnetwork referencing it, global address."""
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    from cdktf import TerraformStack, Testing
    from cdktf_cdktf_provider_google.compute_global_address import ComputeGlobalAddress
    from cdktf_cdktf_provider_google.compute_network import ComputeNetwork
    from cdktf_cdktf_provider_google.compute_subnetwork import ComputeSubnetwork
    from cdktf_cdktf_provider_google.provider import GoogleProvider

    from tests.conftest import new_app

    stack = TerraformStack(new_app(), "test")
    GoogleProvider(stack, "google", project=PROJECT, region=REGION)
    network = ComputeNetwork(stack, "network", name="vpc", auto_create_subnetworks=False)
    ComputeSubnetwork(stack, "subnet", name="subnet", ip_cidr_range="10.10.0.0/20", network=network.id)
    ComputeGlobalAddress(stack, "address", name="psa-range", purpose="VPC_PEERING", address_type="INTERNAL",
                         prefix_length=16, network=network.id)
    return json.loads(Testing.synth(stack))


def test_synthesized_stack_validates_and_plans(cdktf_stack_json, tmp_path, tf_mirror):
    checked = harness.check_stack(cdktf_stack_json, tmp_path)

    assert checked.validate["valid"] is True
    assert checked.counts == {"add": 3, "change": 0, "destroy": 0, "replace": 0, "import": 0}
    by_type = {rc["type"]: rc["change"] for rc in checked.plan["resource_changes"]}
    network, subnet, address = (by_type[t] for t in
                                ("google_compute_network", "google_compute_subnetwork", "google_compute_global_address"))
    # computed attributes are "known after apply"
    assert network["after_unknown"]["id"] is True and network["after_unknown"]["self_link"] is True
    assert subnet["after_unknown"]["gateway_address"] is True
    # references to other resources' computed attributes are unknown too
    assert subnet["after_unknown"]["network"] is True and address["after_unknown"]["network"] is True
    # project/region come from the provider block, as with the real provider
    assert network["after"]["project"] == PROJECT and address["after"]["project"] == PROJECT
    assert subnet["after"]["project"] == PROJECT and subnet["after"]["region"] == REGION
    # configured values pass through unchanged
    assert subnet["after"]["ip_cidr_range"] == "10.10.0.0/20" and address["after"]["prefix_length"] == 16
    assert (tmp_path / "plan.json").exists() and set(checked.timings) >= {"init", "validate", "plan"}


def test_backend_block_is_replaced_by_local_state(tmp_path, tf_mirror):
    config = google_config()
    config["terraform"]["backend"] = {"gcs": {"bucket": "state-bucket-that-does-not-exist", "prefix": "x"}}

    checked = harness.check_stack(config, tmp_path)

    assert checked.counts["add"] == 2
    assert "backend" not in json.loads((tmp_path / harness.CONFIG_NAME).read_text())["terraform"]


@pytest.mark.parametrize("plugin_tls, handshake", [(None, "mTLS: no"), (True, "mTLS: yes")])
def test_plugins_run_without_tls_unless_asked(tmp_path, tf_mirror, monkeypatch, plugin_tls, handshake):
    """Terraform's AutoMTLS to the plugins is off by default (TF_DISABLE_PLUGIN_TLS), and the
    double still serves it when it is on: the same plan either way."""
    monkeypatch.delenv(harness.PLUGIN_TLS_ENV, raising=False)
    log = tmp_path / "double.log"
    tf = harness.OfflineTerraform(tmp_path / "work", mirror=tf_mirror, env={"TFDOUBLE_LOG": str(log)},
                                  plugin_tls=plugin_tls)
    tf.write_config(google_config())

    assert harness.summarize(tf.plan())["add"] == 2
    launches = [line for line in log.read_text().splitlines() if " launch (mTLS: " in line]
    assert launches and all(handshake in line for line in launches), launches


def test_plugin_tls_follows_the_environment_when_not_given(tmp_path, tf_mirror, monkeypatch):
    tf = harness.OfflineTerraform(tmp_path / "work", mirror=tf_mirror)
    monkeypatch.delenv(harness.PLUGIN_TLS_ENV, raising=False)
    assert tf._env()["TF_DISABLE_PLUGIN_TLS"] == "1"
    monkeypatch.setenv(harness.PLUGIN_TLS_ENV, "1")
    assert "TF_DISABLE_PLUGIN_TLS" not in tf._env()
    monkeypatch.setenv("TF_DISABLE_PLUGIN_TLS", "")  # a caller's own TF_* settings never leak in
    assert "TF_DISABLE_PLUGIN_TLS" not in tf._env()


# --------------------------------------------------------------------------------------------
# mistakes are caught with Terraform's own messages


def _net(config: dict[str, Any]) -> dict[str, Any]:
    return config["resource"]["google_compute_network"]["net"]


def _sub(config: dict[str, Any]) -> dict[str, Any]:
    return config["resource"]["google_compute_subnetwork"]["sub"]


MISTAKES = {
    "unknown argument": (lambda c: _net(c).update(no_such_argument="x"),
                         'No argument or block type is named "no_such_argument"'),
    "wrong type": (lambda c: _net(c).update(mtu={"not": "a number"}), "Incorrect attribute value type"),
    "missing required argument": (lambda c: _net(c).pop("name"), "Missing required argument"),
    "undeclared resource": (lambda c: _sub(c).update(network="${google_compute_network.missing.id}"),
                            "Reference to undeclared resource"),
    "unsupported attribute in reference": (lambda c: _sub(c).update(network="${google_compute_network.net.nope}"),
                                           "Unsupported attribute"),
    "too many blocks": (lambda c: _sub(c).update(log_config=[{}, {}]), "Too many log_config blocks"),
    "misspelled resource type": (
        lambda c: c["resource"].update(google_compute_adress={"a": {"name": "a"}}),
        'does not support resource type "google_compute_adress"'),
}


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_mistakes_fail_validate_with_terraform_message(mistake, offline):
    break_config, expected = MISTAKES[mistake]
    config = google_config()
    break_config(config)

    with pytest.raises(harness.TerraformError) as caught:
        offline(config).validate()

    assert expected in str(caught.value)
    if mistake == "misspelled resource type":  # the restricted schema keeps Terraform's suggestion
        assert "Did you mean" in str(caught.value) and "google_compute_address" in str(caught.value)


# --------------------------------------------------------------------------------------------
# apply, drift-free re-plan, every kind of change, import


def test_apply_then_plan_reports_no_changes(offline):
    config = google_config()
    config["data"] = {"google_client_config": {"current": {}}}
    config["output"] = {"token_length": {"value": "${length(data.google_client_config.current.access_token)}",
                                         "sensitive": True}}
    tf = offline(config)
    assert harness.summarize(tf.plan())["add"] == 2
    tf.apply("plan.bin")

    again = tf.plan()

    assert harness.summarize(again) == {"add": 0, "change": 0, "destroy": 0, "replace": 0, "import": 0}
    assert {c["actions"][0] for c in changes(again).values()} == {"no-op"}
    state = {r["address"]: r["values"] for r in tf.state()["values"]["root_module"]["resources"]}
    # deterministic, plausible fake values; known values survive apply
    assert state["google_compute_network.net"]["id"] == f"projects/{PROJECT}/global/networks/net1"
    assert state["google_compute_subnetwork.sub"]["network"] == state["google_compute_network.net"]["id"]
    assert state["google_compute_subnetwork.sub"]["id"] == f"projects/{PROJECT}/regions/{REGION}/subnetworks/sub1"
    assert state["data.google_client_config.current"]["access_token"].startswith("fake-")


def test_plans_contain_create_update_delete_and_replace(offline):
    tf = offline(google_config(google_compute_global_address={"addr": {"name": "addr1"}}))
    tf.apply()
    edited = google_config(google_compute_global_address=None,
                           google_compute_router={"router": {"name": "r1", "network": "${google_compute_network.net.name}"}})
    _net(edited)["mtu"] = 1500  # updatable in place (description would replace the network)
    tf.write_config(edited)

    plan_json = tf.plan(replace=["google_compute_subnetwork.sub"])

    actions = {address: change["actions"] for address, change in changes(plan_json).items()}
    assert actions["google_compute_network.net"] == ["update"]
    assert actions["google_compute_global_address.addr"] == ["delete"]
    assert actions["google_compute_router.router"] == ["create"]
    assert sorted(actions["google_compute_subnetwork.sub"]) == ["create", "delete"]
    assert harness.summarize(plan_json) == {"add": 2, "change": 1, "destroy": 2, "replace": 1, "import": 0}


# --------------------------------------------------------------------------------------------
# replacements: the double answers RequiresReplace as the real provider does (force_new.py)

CERT = "google_compute_managed_ssl_certificate"


def replacement_config(**overrides: Any) -> dict[str, Any]:
    """A cache, a managed certificate and an instance template (create_before_destroy), a node pool."""
    values = {"tier": "BASIC", "memory": 1, "version": "REDIS_7_2", "domains": ["a.example.com"],
              "labels": {"team": "ml"}, "gpus": 1, "machine": "g2-standard-8", **overrides}
    return google_config(
        google_redis_instance={"cache": {"name": "cache", "tier": values["tier"], "memory_size_gb": values["memory"],
                                         "redis_version": values["version"]}},
        google_compute_managed_ssl_certificate={"cert": {
            "name": "cert", "managed": [{"domains": values["domains"]}],
            "lifecycle": {"create_before_destroy": True}}},
        google_compute_instance_template={"template": {
            "name_prefix": "fleet-", "machine_type": "n2-standard-4", "labels": values["labels"],
            "disk": [{"source_image": "cos-cloud/cos-stable", "boot": True}],
            "network_interface": [{"subnetwork": "${google_compute_subnetwork.sub.self_link}"}],
            "lifecycle": {"create_before_destroy": True}}},
        google_container_node_pool={"pool": {
            "name": "gpu", "cluster": "projects/p/locations/europe-west1/clusters/c", "location": REGION,
            "node_config": [{"machine_type": values["machine"],
                             "guest_accelerator": [{"type": "nvidia-l4", "count": values["gpus"]}]}]}},
    )


@pytest.fixture
def applied_replacements(offline) -> harness.OfflineTerraform:
    tf = offline(replacement_config())
    tf.apply()
    return tf


def test_force_new_change_is_planned_as_delete_then_create(applied_replacements):
    tf = applied_replacements
    tf.write_config(replacement_config(tier="STANDARD_HA"))

    cache = changes(tf.plan())["google_redis_instance.cache"]

    assert cache["actions"] == ["delete", "create"]
    assert ["tier"] in cache["replace_paths"]
    assert cache["before"]["tier"] == "BASIC" and cache["after"]["tier"] == "STANDARD_HA"
    # a new instance: what the provider computes is unknown again (host, AUTH string...)
    assert cache["after_unknown"]["host"] is True and cache["after_unknown"]["id"] is True
    assert "forces replacement" in tf.last_plan.stdout


def test_create_before_destroy_replacement_is_planned_as_create_then_delete(applied_replacements):
    tf = applied_replacements
    tf.write_config(replacement_config(domains=["b.example.com"]))

    cert = changes(tf.plan())[f"{CERT}.cert"]

    assert cert["actions"] == ["create", "delete"]
    assert ["managed", 0, "domains"] in cert["replace_paths"]


def test_changes_the_provider_makes_in_place_stay_updates(applied_replacements):
    tf = applied_replacements
    tf.write_config(replacement_config(memory=4, version="REDIS_7_2", machine="g2-standard-16"))

    plan_json = tf.plan()

    assert changes(plan_json)["google_redis_instance.cache"]["actions"] == ["update"]
    assert changes(plan_json)["google_container_node_pool.pool"]["actions"] == ["update"]
    assert not changes(plan_json)["google_redis_instance.cache"].get("replace_paths")
    assert harness.summarize(plan_json)["replace"] == 0


def test_nested_and_conditional_replacements(applied_replacements):
    tf = applied_replacements
    tf.write_config(replacement_config(gpus=2, labels={"team": "ml", "model": "resnet"}, version="REDIS_7_0"))

    by_address = changes(tf.plan())

    pool, template = by_address["google_container_node_pool.pool"], by_address["google_compute_instance_template.template"]
    assert pool["actions"] == ["delete", "create"]
    assert ["node_config", 0, "guest_accelerator", 0, "count"] in pool["replace_paths"]
    assert template["actions"] == ["create", "delete"]  # a label change replaces a template
    assert ["effective_labels"] in template["replace_paths"]
    assert ["redis_version"] in by_address["google_redis_instance.cache"]["replace_paths"]  # a downgrade


def test_applying_a_replacement_then_planning_again_shows_no_changes(applied_replacements):
    tf = applied_replacements
    tf.write_config(replacement_config(tier="STANDARD_HA", domains=["b.example.com"]))
    tf.plan()
    tf.apply("plan.bin")

    again = tf.plan()

    assert harness.summarize(again) == {"add": 0, "change": 0, "destroy": 0, "replace": 0, "import": 0}


def test_kubernetes_metadata_name_replaces(offline):
    def namespace(name: str) -> dict[str, Any]:
        return {
            "terraform": {"required_providers": {"kubernetes": {"source": "hashicorp/kubernetes", "version": "2.38.0"}}},
            "provider": {"kubernetes": [{"host": "https://10.0.0.1", "token": "not-a-real-token"}]},
            "resource": {"kubernetes_namespace_v1": {"ns": {"metadata": [{"name": name, "labels": {"team": "ml"}}]}}}}
    tf = offline(namespace("serving"))
    tf.apply()
    tf.write_config(namespace("serving-v2"))

    change = changes(tf.plan())["kubernetes_namespace_v1.ns"]

    assert change["actions"] == ["delete", "create"] and ["metadata", 0, "name"] in change["replace_paths"]


def test_import_block_and_import_command(offline):
    network_id = f"projects/{PROJECT}/global/networks/net1"
    config = google_config(google_compute_subnetwork=None)
    config["import"] = [{"to": "google_compute_network.net", "id": network_id}]
    tf = offline(config, "import-block")

    plan_json = tf.plan()

    assert changes(plan_json)["google_compute_network.net"]["importing"] == {"id": network_id}
    assert changes(plan_json)["google_compute_network.net"]["actions"] == ["update"]  # not a replacement
    assert harness.summarize(plan_json)["import"] == 1
    tf.apply("plan.bin")
    assert harness.summarize(tf.plan()) == {"add": 0, "change": 0, "destroy": 0, "replace": 0, "import": 0}

    cli = offline(google_config(google_compute_subnetwork=None), "import-cli")
    assert "Import successful" in cli.import_resource("google_compute_network.net", network_id).stdout
    (resource,) = cli.state()["values"]["root_module"]["resources"]
    assert resource["values"]["id"] == network_id
    assert changes(cli.plan())["google_compute_network.net"]["actions"] == ["update"]


# --------------------------------------------------------------------------------------------
# kubernetes provider and output-only blocks


def test_kubernetes_resources_validate_and_plan(offline):
    config = {
        "terraform": {"required_providers": {"kubernetes": {"source": "hashicorp/kubernetes", "version": "2.38.0"}}},
        "provider": {"kubernetes": [{"host": "https://10.0.0.1", "token": "not-a-real-token"}]},
        "resource": {
            "kubernetes_namespace": {"serving": {"metadata": [{"name": "serving", "labels": {"team": "ml"}}]}},
            "kubernetes_deployment_v1": {"api": {
                "metadata": [{"name": "api", "namespace": "${kubernetes_namespace.serving.metadata[0].name}"}],
                "spec": [{
                    "replicas": "2",
                    "selector": [{"match_labels": {"app": "api"}}],
                    "template": [{"metadata": [{"labels": {"app": "api"}}],
                                  "spec": [{"container": [{"name": "api", "image": "nginx:1.27"}]}]}],
                }],
            }},
        },
    }
    tf = offline(config)

    tf.validate()
    plan_json = tf.plan()

    by_address = changes(plan_json)
    assert harness.summarize(plan_json)["add"] == 2
    namespace = by_address["kubernetes_namespace.serving"]
    assert namespace["after"]["metadata"][0]["name"] == "serving"
    assert namespace["after_unknown"]["metadata"][0]["uid"] is True
    deployment = by_address["kubernetes_deployment_v1.api"]
    assert deployment["after"]["metadata"][0]["namespace"] == "serving"  # known: configured name
    assert deployment["after_unknown"]["metadata"][0]["resource_version"] is True


def test_gke_credentials_pattern_plans(offline):
    """google_container_cluster.master_auth[0] (output-only block) and google_client_config feed
    the kubernetes provider, the usual GKE wiring."""
    config = {
        "terraform": {"required_providers": {
            "google": {"source": "google", "version": "6.50.0"},
            "kubernetes": {"source": "hashicorp/kubernetes", "version": "2.38.0"}}},
        "provider": {
            "google": [{"project": PROJECT, "region": REGION}],
            "kubernetes": [{
                "host": "https://${google_container_cluster.gke.endpoint}",
                "token": "${data.google_client_config.current.access_token}",
                "cluster_ca_certificate": "${base64decode(google_container_cluster.gke.master_auth[0].cluster_ca_certificate)}",
            }]},
        "data": {"google_client_config": {"current": {}}},
        "resource": {
            "google_container_cluster": {"gke": {"name": "serving", "location": REGION, "initial_node_count": 1}},
            "kubernetes_namespace": {"serving": {"metadata": [{"name": "serving"}]}},
        },
    }
    tf = offline(config)

    plan_json = tf.plan()

    cluster = changes(plan_json)["google_container_cluster.gke"]
    assert cluster["after_unknown"]["master_auth"][0]["cluster_ca_certificate"] is True
    assert harness.summarize(plan_json)["add"] == 2
