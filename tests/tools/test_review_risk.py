"""Risk rules on replacements and node-pool changes, and the folding of one removal's findings,
fed `terraform show -json`-shaped plans."""

from __future__ import annotations

import pytest

from tools.review import plan_report, risk
from tools.review.fold import fold, model_of


def change(type_name: str, actions: list[str], before: dict | None, after: dict | None, *,
           replace_paths: list | None = None, name: str = "x") -> dict:
    body = {"actions": actions, "before": before, "after": after, "after_unknown": {},
            "before_sensitive": {}, "after_sensitive": {}}
    if replace_paths:
        body["replace_paths"] = replace_paths
    return {"address": f"{type_name}.{name}", "mode": "managed", "type": type_name, "name": name, "change": body}


def findings(*resource_changes: dict) -> list[tuple[str, str, str]]:
    plan = {"format_version": "1.2", "resource_changes": list(resource_changes)}
    stack = plan_report.stack_plan("ml-serving-prod", plan)
    return [(f.severity, f.rule, f.message) for f in fold(risk.assess_all(stack.changes), stack.changes)]


POOL = {"name": "gpu", "version": "1.30.1", "node_config": [{"machine_type": "g2-standard-8", "labels": {"a": "1"},
                                                           "guest_accelerator": [{"type": "nvidia-l4", "count": 1}]}]}


def pool_with(**node_config) -> dict:
    return {**POOL, "node_config": [{**POOL["node_config"][0], **node_config}]}


@pytest.mark.parametrize(("after", "expected"), [
    (pool_with(machine_type="g2-standard-16"),
     [("medium", "node-pool-recreated", "nodes re-created (surge upgrade, pods evicted node by node): "
                                        "node_config[0].machine_type")]),
    ({**POOL, "version": "1.31.0"},
     [("medium", "node-pool-recreated", "nodes re-created (surge upgrade, pods evicted node by node): version")]),
    (pool_with(labels={"a": "2"}), []),  # GKE updates node labels on the running nodes
])
def test_node_pool_updates_that_recreate_nodes_are_medium(after, expected):
    assert findings(change("google_container_node_pool", ["update"], POOL, after)) == expected


def test_node_pool_replacement_is_medium_and_names_what_forced_it():
    after = pool_with(guest_accelerator=[{"type": "nvidia-l4", "count": 2}])
    replaced = change("google_container_node_pool", ["delete", "create"], POOL, after,
                      replace_paths=[["id"], ["node_config", 0, "guest_accelerator", 0, "count"]])

    ((severity, rule, message),) = findings(replaced)

    assert (severity, rule) == ("medium", "node-pool-recreated")
    assert message.startswith("node pool replaced (destroyed, then created; "
                              "forced by node_config[0].guest_accelerator[0].count): every node is deleted")


def test_a_managed_certificate_replaced_create_before_destroy_says_https_fails_until_provisioned():
    before = {"name": "cert-a", "managed": [{"domains": ["a.example.com"]}]}
    after = {"name": "cert-b", "managed": [{"domains": ["b.example.com"]}]}
    cbd = change("google_compute_managed_ssl_certificate", ["create", "delete"], before, after,
                 replace_paths=[["managed", 0, "domains"], ["name"], ["id"]])
    plain = change("google_compute_managed_ssl_certificate", ["delete", "create"], before, after,
                   replace_paths=[["name"]], name="y")

    (first, second) = findings(cbd, plain)

    assert first[:2] == ("high", "stateful-destroyed")
    assert first[2] == ("replaced (new one created first, then the old one destroyed; forced by managed[0].domains, "
                        "name): the proxy switches to the new certificate as soon as it exists, but Google provisions "
                        "it only once every domain resolves to the load balancer (often 15-60 min): HTTPS fails until "
                        "it is ACTIVE. To avoid the gap, serve a new certificate next to the old one first and remove "
                        "the old one once it is ACTIVE")
    assert second[2] == ("replaced (destroyed, then created; forced by name): loses the certificate: HTTPS fails until "
                         "a new one is provisioned (up to an hour)")


@pytest.mark.parametrize("type_name", ["google_redis_instance", "google_redis_cluster"])
def test_redis_replaced_is_high(type_name):
    replaced = change(type_name, ["delete", "create"], {"tier": "BASIC"}, {"tier": "STANDARD_HA"},
                      replace_paths=[["tier"], ["id"]])

    ((severity, rule, message),) = findings(replaced)

    assert (severity, rule) == ("high", "stateful-destroyed")
    assert message.startswith("replaced (destroyed, then created; forced by tier): loses the c")


def test_instance_template_replacement_is_the_rollout_finding():
    replaced = change("google_compute_instance_template", ["create", "delete"], {"labels": {"a": "1"}},
                      {"labels": {"a": "2"}}, replace_paths=[["effective_labels"], ["id"]])

    assert findings(replaced) == [("medium", "template-rollout", (
        "instance template replaced (new one created first, then the old one destroyed; forced by effective_labels): "
        "the managed instance groups using it roll every VM (check the rolling update policy and that the new "
        "image/model loads)"))]


def test_a_removed_model_in_a_plan_is_one_finding_its_grants_matched_by_e_mail():
    email = "ml-prod-embeddings@my-project.iam.gserviceaccount.com"
    sa = change("google_service_account", ["delete"], {"email": email, "member": f"serviceAccount:{email}"}, None,
                name="model-embeddings_identity_default_A3307015")
    grants = [change(t, ["delete"], {"role": role, "member": member}, None, name=name) for t, role, name, member in (
        ("google_project_iam_member", "roles/logging.logWriter", "model-embeddings_identity_role-logging_394061E7",
         f"serviceAccount:{email}"),
        ("google_storage_bucket_iam_member", "roles/storage.objectViewer", "models_read-read-embeddings_5F8DD67B",
         f"serviceAccount:{email}"),
        # an offline plan's fake member: found by its name (cache/connect-<model>-...)
        ("google_secret_manager_secret_iam_member", "roles/secretmanager.secretAccessor",
         "cache_connect-embeddings-auth-us-central1_39C3F678", "fake-0a1b2c3d"))]
    group = change("google_compute_region_instance_group_manager", ["delete"], {"name": "g"}, None,
                   name="model-embeddings_fleet-us-central1_group_F37D37E1")
    # named after the model outside its subtree: its backend and its monitoring
    around = [change(t, ["delete"], {"name": n}, None, name=n) for t, n in (
        ("google_compute_backend_service", "lb_backend-embeddings_default_B54AC280"),
        ("google_compute_health_check", "lb_backend-embeddings_health-check_9EC26E26"),
        ("google_monitoring_alert_policy", "observability_alert-embeddings-error-ratio_E8BC7A19"),
        ("google_monitoring_alert_policy", "observability_burn-embeddings-latency-fast_E4D6363B"),
        ("google_monitoring_slo", "observability_slo-embeddings-latency_260A3841"))]
    other = change("google_project_iam_member", ["delete"], {"role": "roles/viewer", "member": "user:a@example.com"},
                   None, name="ops_viewer_1")
    # another model's alert turned off: not part of the removal
    others_alert = change("google_monitoring_alert_policy", ["delete"], {"name": "a"}, None,
                          name="observability_alert-resnet-uptime_F03BEB9A")

    found = findings(sa, *grants, group, *around, other, others_alert)

    # the unrelated grant keeps its two findings (primitive role, revoked); the model is one
    assert [(severity, rule) for severity, rule, _ in found] == [("high", "iam-high")] * 2 + [("high", "model-removed")]
    assert found[2][2] == ("model `embeddings` removed: its serving capacity and identity go; destroys 2 alert policies, "
                           "1 backend service, 3 grants, 1 health check, 1 instance group, 1 service account, 1 SLO")


def test_what_is_named_after_two_removed_models_goes_to_the_longer_name():
    def model(name):
        return [change("google_service_account", ["delete"], {"email": f"{name}@p.iam.gserviceaccount.com"}, None,
                       name=f"model-{name}_identity_default_A1"),
                change("google_compute_backend_service", ["delete"], {"name": name}, None,
                       name=f"lb_backend-{name}_default_B1")]

    found = findings(*model("llm"), *model("llm-next"))

    assert sorted(message for _, _, message in found) == sorted(
        f"model `{name}` removed: its serving capacity and identity go; destroys 1 backend service, 1 service account"
        for name in ("llm", "llm-next"))


def test_model_of_finds_the_model_segment_under_the_pattern_constructs_scope():
    """Environment stacks put models under ModelServing ``Default``: the construct path is
    ``Default/model-<name>/...`` (VM runtime) or ``Default/workload-<name>/...`` (GKE runtime)."""
    from tools.review.changes import ResourceChange

    def of(path, address="google_x.y"):
        return model_of(ResourceChange("s", address, "google_x", "delete", construct_path=path))

    assert of("Default/model-llm-next/fleet-us-central1/group") == "llm-next"
    assert of("Default/workload-llm/deployment") == "llm"
    assert of("model-embeddings/identity/default") == "embeddings"
    assert of("Default/lb/backend-embeddings/default") is None and of("Default/cache/redis-us-central1") is None
    assert of(None, "google_x.model-embeddings_identity_default_A3307015") == "embeddings"


def test_a_replaced_caches_secret_versions_fold_into_its_finding():
    """The cache's host/AUTH/CA secret versions are re-written when the instance is replaced: one
    finding, which says servers need a restart; a secret version replaced on its own keeps its row,
    and so does one of another region's cache."""
    redis = change("google_redis_instance", ["delete", "create"], {"tier": "BASIC"}, {"tier": "STANDARD_HA"},
                   replace_paths=[["tier"]], name="cache_redis-us-central1_9DF011E6")
    versions = [change("google_secret_manager_secret_version", ["delete", "create"], {"secret_data": "a"}, {"secret_data": "b"},
                       replace_paths=[["secret_data"]], name=f"cache_{kind}-secret-version-{region}_363D3CEE")
                for kind, region in (("auth", "us-central1"), ("ca", "us-central1"), ("host", "us-central1"),
                                     ("host", "europe-west4"))]
    unrelated = change("google_secret_manager_secret_version", ["delete", "create"], {"secret_data": "a"},
                       {"secret_data": "b"}, replace_paths=[["secret_data"]], name="app_token-version_1A2B3C4D")

    found = findings(redis, *versions, unrelated)

    assert [(severity, rule) for severity, rule, _ in found] == [("high", "stateful-destroyed")] * 3
    cache = next(message for _, _, message in found if "cache's data" in message)
    assert cache == ("replaced (destroyed, then created; forced by tier): loses the cache's data, host IP and AUTH string; "
                     "its 3 secret version(s) in Secret Manager are replaced with the new instance's values, which model "
                     "servers read at start: restart them (roll the fleets or Deployments) once it is applied")
    assert sum("loses the secret value" in message for _, _, message in found) == 2


def _url_map(default: str, *, abort: bool, rule_service: str = "bs-a") -> dict:
    action = [{"fault_injection_policy": [{"abort": [{"http_status": 404, "percentage": 100}]}]}] if abort else []
    return {"default_service": default, "default_route_action": action,
            "path_matcher": [{"name": "models", "default_service": default, "default_route_action": action,
                              "route_rules": [{"priority": 1, "service": rule_service}]}]}


@pytest.mark.parametrize(("before", "after", "expected"), [
    # unmatched paths answered 404 on both sides: the nominal default service gets no traffic
    (_url_map("bs-a", abort=True), _url_map("bs-b", abort=True), []),
    (_url_map("bs-a", abort=True), _url_map("bs-b", abort=True, rule_service="bs-b"),
     [("medium", "url-map-traffic", "traffic routing changes: path_matcher[0].route_rules[0].service")]),
    # without the abort (or losing it) the default service is where unmatched requests go
    (_url_map("bs-a", abort=False), _url_map("bs-b", abort=False),
     [("medium", "url-map-traffic", "traffic routing changes: default_service, path_matcher[0].default_service")]),
    (_url_map("bs-a", abort=True), _url_map("bs-b", abort=False),
     [("medium", "url-map-traffic", "traffic routing changes: default_service, path_matcher[0].default_service")]),
])
def test_url_map_default_service_behind_a_404_abort_is_not_a_routing_change(before, after, expected):
    assert findings(change("google_compute_url_map", ["update"], before, after)) == expected
