"""Which changes replace a resource (tools/tfdouble/force_new.py), without terraform: the walk
over old/new values, the vendored rules, and the script that regenerates them."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pytest

from tools.tfdouble import behaviour, catalog, cty, force_new, force_new_data, schema

rules = force_new.rules_for


def paths(type_name: str, old: dict, new: dict, **kwargs) -> list[str]:
    return [force_new.path_text(p) for p in force_new.replace_paths(rules(type_name), old, new, **kwargs)]


# -- the vendored rules ------------------------------------------------------------------------


def test_vendored_google_rules_match_the_providers_source():
    redis, cert = rules("google_redis_instance"), rules("google_compute_managed_ssl_certificate")
    assert {"tier", "name", "authorized_network", "connect_mode", "transit_encryption_mode"} <= redis.force_new
    assert "memory_size_gb" not in redis.force_new
    assert ("redis_version", "version_decrease") in redis.conditional
    assert {"name", "managed", "managed.domains"} <= cert.force_new and "managed" in cert.blocks
    pool = rules("google_container_node_pool")
    assert "node_config.guest_accelerator" in pool.force_new and "node_config.machine_type" not in pool.force_new
    assert ("labels", "labels") in rules("google_compute_instance_template").conditional
    assert ("ip_cidr_range", "cidr_not_covering") in rules("google_compute_subnetwork").conditional


def test_vendored_google_rules_record_their_source_and_fit_the_vendored_schema():
    document = json.loads(catalog.get("google").force_new_file.read_text())
    assert document["source"]["file"] == "google-6.50.0.force-new.json.gz"
    assert len(document["source"]["sha256"]) == 64 and document["source"]["tag"] == "v6.50.0"
    google = schema.load("google")
    for type_name in document["types"]:
        assert google.get("resource", type_name) is not None, type_name


def test_kubernetes_rules_are_the_hand_checked_metadata_and_selector_ones():
    deployment = rules("kubernetes_deployment_v1")
    assert {"metadata.name", "metadata.namespace", "spec.selector.match_labels"} <= deployment.force_new
    assert "spec.replicas" not in deployment.force_new
    assert rules("kubernetes_config_map_v1") is None  # not covered: updates in place offline


# -- the walk ----------------------------------------------------------------------------------


def test_a_changed_force_new_argument_replaces_and_an_updatable_one_does_not():
    assert paths("google_redis_instance", {"tier": "BASIC", "memory_size_gb": 1},
                 {"tier": "STANDARD_HA", "memory_size_gb": 1}) == ["tier"]
    assert paths("google_redis_instance", {"tier": "BASIC", "memory_size_gb": 1},
                 {"tier": "BASIC", "memory_size_gb": 4}) == []


def test_unset_equals_the_zero_value_and_unknown_counts_as_a_change():
    assert paths("google_compute_network", {"description": None}, {"description": ""}) == []
    assert paths("google_compute_network", {"description": "a"}, {"description": None}) == ["description"]
    assert paths("google_compute_subnetwork", {"network": "projects/p/global/networks/a"},
                 {"network": cty.UNKNOWN}) == ["network"]


def test_nested_paths_go_through_list_elements_by_index():
    old = {"node_config": [{"machine_type": "g2-standard-8", "guest_accelerator": [{"count": 1, "type": "nvidia-l4"}]}]}
    resized = {"node_config": [{"machine_type": "g2-standard-16", "guest_accelerator": [{"count": 2, "type": "nvidia-l4"}]}]}
    machine_only = {"node_config": [{"machine_type": "g2-standard-16", "guest_accelerator": [{"count": 1, "type": "nvidia-l4"}]}]}

    assert paths("google_container_node_pool", old, resized) == ["node_config[0].guest_accelerator[0].count"]
    assert paths("google_container_node_pool", old, machine_only) == []


def test_a_force_new_block_replaces_only_when_its_element_count_changes():
    pool = {"name": "p", "node_config": [{"machine_type": "e2"}]}
    assert paths("google_container_node_pool", pool, {"name": "p", "node_config": [{"machine_type": "n2"}]}) == []
    assert paths("google_container_node_pool", pool, {"name": "p", "node_config": []}) == ["node_config"]
    cert = {"name": "c", "managed": [{"domains": ["a.example.com"]}]}
    assert paths("google_compute_managed_ssl_certificate", cert,
                 {"name": "c", "managed": {"domains": ["b.example.com"]}}) == ["managed[0].domains"]  # cdktf: object


def test_a_changed_set_element_replaces_at_the_set():
    old = {"disk": [{"boot": True, "disk_size_gb": 10}, {"boot": False, "disk_size_gb": 20}]}
    new = {"disk": [{"boot": True, "disk_size_gb": 10}, {"boot": False, "disk_size_gb": 30}]}
    assert paths("google_compute_instance_template", old, new, is_set=lambda p: p == "disk") == ["disk"]
    assert paths("google_compute_instance_template", old, new) == ["disk[1].disk_size_gb"]


@pytest.mark.parametrize(("type_name", "old", "new", "expected"), [
    ("google_compute_instance_template", {"labels": {"team": "a"}}, {"labels": {"team": "b"}}, ["effective_labels"]),
    ("google_compute_instance_template", {"labels": {"team": "a"}}, {"labels": {"team": "a"}}, []),
    ("google_redis_instance", {"redis_version": "REDIS_7_2"}, {"redis_version": "REDIS_7_0"}, ["redis_version"]),
    ("google_redis_instance", {"redis_version": "REDIS_6_X"}, {"redis_version": "REDIS_7_0"}, []),
    ("google_redis_instance", {"redis_version": "REDIS_7_0"}, {"redis_version": cty.UNKNOWN}, []),
    ("google_compute_subnetwork", {"ip_cidr_range": "10.0.0.0/24"}, {"ip_cidr_range": "10.0.0.0/20"}, []),
    ("google_compute_subnetwork", {"ip_cidr_range": "10.0.0.0/20"}, {"ip_cidr_range": "10.0.0.0/24"}, ["ip_cidr_range"]),
    ("google_compute_disk", {"size": 100}, {"size": 50}, ["size"]),
    ("google_compute_disk", {"size": 50}, {"size": 100}, []),
    ("google_storage_bucket", {"retention_policy": [{"is_locked": True}]}, {"retention_policy": [{"is_locked": False}]},
     ["retention_policy[0].is_locked"]),
])
def test_conditional_rules_decided_from_old_and_new_values(type_name, old, new, expected):
    assert paths(type_name, old, new) == expected


def test_the_double_answers_requires_replace_with_id_as_sdkv2_does():
    block = schema.load("google").get("resource", "google_redis_instance")[1]
    prior = {"id": "projects/p/locations/r/instances/c", "tier": "BASIC", "memory_size_gb": 1}

    assert behaviour.requires_replace("google_redis_instance", block, prior, {**prior, "tier": "STANDARD_HA"}) == [
        ("tier",), ("id",)]
    assert behaviour.requires_replace("google_redis_instance", block, prior, {**prior, "memory_size_gb": 2}) == []
    assert behaviour.requires_replace("google_redis_instance", block, None, prior) == []  # a create


def test_schema_sets_reads_nesting_from_the_compact_schema():
    block = schema.load("google").get("resource", "google_compute_firewall")[1]
    is_set = force_new.schema_sets(block)
    assert is_set("allow") and is_set("source_ranges") and not is_set("name") and not is_set("log_config")


# -- the regenerate script ---------------------------------------------------------------------

FIXTURE_SOURCE = {
    "provider": "registry.terraform.io/hashicorp/google", "version": "6.50.0",
    "source": {"repo": "hashicorp/terraform-provider-google", "tag": "v6.50.0"},
    "resources": {
        "google_thing": {
            "force_new": ["name", "spec", "gone"], "nested_force_new": ["spec.size", "spec.items.kind"],
            "force_new_blocks": ["spec"],
            "conditional_force_new": [
                {"attribute": "labels", "via": "effective_labels is ForceNew and is recomputed from labels"},
                {"attribute": "version", "via": "customdiff.ForceNewIfChange", "condition": "redis.isRedisVersionDecreasing"},
                {"attribute": "mode", "via": "someCustomizeDiff (thing.go)"}]},
        "google_updatable": {"force_new": [], "nested_force_new": [], "conditional_force_new": []},
    },
}
FIXTURE_SCHEMA = {"provider_schemas": {"registry.terraform.io/hashicorp/google": {"resource_schemas": {
    "google_thing": {"block": {
        "attributes": {"name": {"type": "string"}, "labels": {"type": ["map", "string"]}, "version": {"type": "string"},
                       "mode": {"type": "string"},
                       "items": {"type": ["list", ["object", {"kind": "string"}]]}},
        "block_types": {"spec": {"nesting_mode": "list", "block": {
            "attributes": {"size": {"type": "number"},
                           "items": {"type": ["list", ["object", {"kind": "string"}]]}}}}}}},
    "google_updatable": {"block": {"attributes": {"name": {"type": "string"}}}},
}}}}


def test_regenerate_script_derives_paths_blocks_and_rules(tmp_path, capsys):
    source = tmp_path / "google-6.50.0.force-new.json.gz"
    source.write_bytes(gzip.compress(json.dumps(FIXTURE_SOURCE).encode()))
    schema_file = tmp_path / "schema.json.gz"
    schema_file.write_bytes(gzip.compress(json.dumps(FIXTURE_SCHEMA).encode()))
    out = tmp_path / "out.json"

    code = force_new_data.main([str(source), "--schema", str(schema_file), "--out", str(out)])

    assert code == 0
    assert capsys.readouterr().out.strip() == f"{out}: 1 resource types; 1 paths not in the schema, left out"
    document = json.loads(out.read_text())
    assert document["source"]["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert document["types"] == {"google_thing": {
        "force_new": ["name", "spec", "spec.items.kind", "spec.size"], "blocks": ["spec"],
        "conditional": [["labels", "labels"], ["version", "version_decrease"]],
        "undecided": ["mode (someCustomizeDiff (thing.go))"]}}
    assert len(out.read_text().splitlines()) == 3  # header, one line per type, closing


def test_regenerate_script_rejects_a_file_that_is_not_the_reference_data(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert force_new_data.main([str(bad), "--out", str(tmp_path / "out.json")]) == 2
    assert capsys.readouterr().err.startswith(f"force_new_data: {bad}: ")
    assert not (tmp_path / "out.json").exists()


def test_vendored_file_is_what_the_script_writes_for_its_recorded_input():
    """Re-serializing the vendored document gives the same bytes: the file is the script's output."""
    path: Path = catalog.get("google").force_new_file
    assert force_new_data.dumps(json.loads(path.read_text())) == path.read_text()

