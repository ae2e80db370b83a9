"""Every seed design, as an example environment file, synthesizes to the design's shape.

README's "Seed designs" table points at these files; each test asserts what makes the design
that design, and a snapshot keeps the whole stack reviewed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stacks.config import environment_files, load_environment
from stacks.serving_stack import ServingStack
from tests.conftest import new_app, only_resource, resource_by_path, resources, server_env, synth

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _synth(name: str) -> dict:
    return synth(ServingStack(new_app(), load_environment(EXAMPLES / f"{name}.toml")))


@pytest.fixture(scope="module")
def low_latency() -> dict:
    return _synth("low-latency-cdn")


def test_low_latency_serves_https_with_quic_and_redirect(low_latency):
    proxy = only_resource(low_latency, "google_compute_target_https_proxy")
    assert proxy["quic_override"] == "ENABLE"
    cert = only_resource(low_latency, "google_compute_managed_ssl_certificate")
    assert sorted(cert["managed"]["domains"]) == ["edge.acme.example", "models.acme.example"]
    redirect = resource_by_path(low_latency, "google_compute_url_map", "lb/redirect-url-map")
    assert redirect["default_url_redirect"]["https_redirect"] is True


def test_low_latency_caches_the_ranker_at_the_edge(low_latency):
    ranker = resource_by_path(low_latency, "google_compute_backend_service", "lb/backend-ranker/default")
    assert ranker["enable_cdn"] is True
    assert ranker["cdn_policy"]["cache_mode"] == "CACHE_ALL_STATIC" and ranker["timeout_sec"] == 10
    other = resource_by_path(low_latency, "google_compute_backend_service", "lb/backend-personalize/default")
    assert other["enable_cdn"] is False


def test_low_latency_routes_each_model_and_the_egress_route(low_latency):
    url_map = resource_by_path(low_latency, "google_compute_url_map", "lb/url-map")
    matched = {m.get("prefix_match") or m.get("full_path_match")
               for pm in url_map["path_matcher"] for rule in pm["route_rules"] for m in rule["match_rules"]}
    assert {"/v1/rank", "/v1/rank/", "/v1/personalize", "/v1/personalize/"} <= matched
    route = only_resource(low_latency, "google_compute_route")
    assert route["dest_range"] == "0.0.0.0/0" and route["tags"] == ["model-server"]


def test_low_latency_runs_in_both_regions(low_latency):
    groups = resources(low_latency, "google_compute_region_instance_group_manager")
    assert sorted({g["region"] for g in groups.values()}) == ["europe-west1", "us-east4"]


def test_redis_cache_in_front_of_the_fleet_with_models_in_a_bucket():
    result = _synth("redis-cache-fleet")
    redis = only_resource(result, "google_redis_instance")
    assert redis["tier"] == "STANDARD_HA" and redis["auth_enabled"] is True
    assert redis["read_replicas_mode"] == "READ_REPLICAS_ENABLED" and redis["replica_count"] == 2
    bucket = only_resource(result, "google_storage_bucket")
    assert bucket["location"] == "US-CENTRAL1" and bucket["public_access_prevention"] == "enforced"
    template = only_resource(result, "google_compute_instance_template")
    env = server_env(template)
    assert env["MODEL_URI"] == "gs://acme-inference-ml-redis-cache-fleet-models/sentiment/2026-11-01"
    assert env["CACHE_ENDPOINT_SECRET"].startswith("${google_secret_manager_secret.") and "CACHE_AUTH_SECRET" in env
    assert "startup-script" in template["metadata"]
    read = only_resource(result, "google_storage_bucket_iam_member")
    assert read["role"] == "roles/storage.objectViewer"


def test_regional_mig_across_three_zones_with_cpu_autoscaler_behind_global_lb():
    result = _synth("regional-mig-autoscaler")
    group = only_resource(result, "google_compute_region_instance_group_manager")
    assert group["distribution_policy_zones"] == ["us-central1-a", "us-central1-b", "us-central1-c"]
    policy = only_resource(result, "google_compute_region_autoscaler")["autoscaling_policy"]
    assert (policy["min_replicas"], policy["max_replicas"]) == (1, 10)
    assert policy["cpu_utilization"]["target"] == 0.6
    rule = only_resource(result, "google_compute_global_forwarding_rule")
    assert rule["load_balancing_scheme"] == "EXTERNAL_MANAGED" and rule["port_range"] == "80"


def test_autoscaling_backend_services_behind_a_url_map():
    result = _synth("autoscaling-backends-urlmap")
    services = resources(result, "google_compute_backend_service")
    assert len(services) == 3
    vision = resource_by_path(result, "google_compute_backend_service", "lb/backend-vision/default")
    assert {b["balancing_mode"] for b in vision["backend"]} == {"RATE"} and len(vision["backend"]) == 2
    scalers = resources(result, "google_compute_region_autoscaler")
    lb_scaled = [s for s in scalers.values() if "load_balancing_utilization" in s["autoscaling_policy"]]
    assert len(lb_scaled) == 2 and lb_scaled[0]["autoscaling_policy"]["load_balancing_utilization"]["target"] == 0.8
    url_map = resource_by_path(result, "google_compute_url_map", "lb/url-map")
    weights = [w["weight"] for pm in url_map["path_matcher"] for rule in pm["route_rules"]
               for w in rule.get("route_action", {}).get("weighted_backend_services", [])]
    assert sorted(set(weights)) == [20, 80]


@pytest.mark.parametrize("path", environment_files(EXAMPLES), ids=lambda p: p.stem)
def test_example_snapshot(path, snapshot_json):
    assert synth(ServingStack(new_app(), load_environment(path))) == snapshot_json


def test_every_example_names_the_schema_for_editors():
    for path in EXAMPLES.glob("*.toml"):
        assert path.read_text().startswith("#:schema ../environments/environment.schema.json"), path.name
    json.loads((EXAMPLES.parent / "environments" / "environment.schema.json").read_text())
