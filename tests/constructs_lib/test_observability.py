"""``ServingObservability`` (constructs_lib/observability*.py): every SLO and alert selects the
right backend service, instance group, pods or cache by exact filter; burn-rate windows and
thresholds are the spec's; alerts route by severity; the dashboard has its tiles per model."""

import json

import pytest

from constructs_lib._google import monitoring_notification_channel
from constructs_lib.errors import ConfigurationError
from constructs_lib.naming import Naming
from constructs_lib.observability import ObservedModel, ServingObservability, build_dashboard, default_uptime_path, observed_models
from constructs_lib.observability_queries import SectionHeader, XyChart, escape_templates
from constructs_lib.serving import ModelServing
from constructs_lib.specs.cache import CacheSpec
from constructs_lib.specs.load_balancer import LoadBalancerSpec
from constructs_lib.specs.model import ModelSpec
from constructs_lib.specs.observability import ObservabilitySpec
from tests.conftest import TEST_PROJECT, new_stack, resource_by_path, resources, synth

IMAGE = "europe-docker.pkg.dev/test-project-123/serving/server:1.4.0"
REGIONS = ["europe-west1", "us-central1"]
PAGE_CHANNEL = "projects/test-project-123/notificationChannels/111"
TICKET_CHANNEL = "projects/test-project-123/notificationChannels/222"
MONITORING = (
    "google_monitoring_alert_policy", "google_monitoring_custom_service", "google_monitoring_slo",
    "google_monitoring_uptime_check_config", "google_monitoring_notification_channel", "google_monitoring_dashboard",
)
COMMON_LABELS = {"app": "ml", "env": "prod", "managed-by": "cdktf"}
LB_REQUESTS = 'metric.type="loadbalancing.googleapis.com/https/request_count" AND resource.type="https_lb_rule"'
LB_LATENCY = 'metric.type="loadbalancing.googleapis.com/https/backend_latencies" AND resource.type="https_lb_rule"'

SPEC = ObservabilitySpec(
    notifications={
        "page": {"channels": [PAGE_CHANNEL], "emails": ["oncall@example.com"]},
        "ticket": {"channels": [TICKET_CHANNEL], "emails": ["ml-team@example.com", "oncall@example.com"]},
    },
    models={"llm": {"latency_threshold_ms": 8000, "availability_target": 0.99}},
)


def _serving(stack, naming, models, **options):
    options.setdefault("load_balancer", LoadBalancerSpec(domains=["models.example.com"]))
    return ModelServing(stack, "Default", naming=naming, project_id=TEST_PROJECT, regions=options.pop("regions", REGIONS),
                        models=models, **options)


def _observe(stack, naming, serving, spec=None, **options):
    return ServingObservability(
        stack, "observability", naming=naming, project_id=TEST_PROJECT, spec=spec, load_balancer=serving.load_balancer,
        models=options.pop("models", None) or observed_models(serving, **options), cache=serving.cache,
    )


@pytest.fixture(scope="module")
def prod():
    return Naming(app="ml", env="prod")


def _vm_serving(stack, prod):
    return _serving(stack, prod, [
        ModelSpec(name="resnet", image=IMAGE),
        ModelSpec(name="resnet-v2", image=IMAGE, canary_of="resnet"),
        ModelSpec(name="llm", image=IMAGE, accelerator={"type": "nvidia-l4"}, scaling={"max_replicas": 4}),
    ], cache=CacheSpec())


@pytest.fixture(scope="module")
def vm(prod):
    """Two VM models in two regions (resnet on CPU, llm on an L4 with its own objectives, canary
    resnet-v2), HTTPS with a domain, a STANDARD_HA cache."""
    stack = new_stack()
    serving = _vm_serving(stack, prod)
    obs = _observe(stack, prod, serving, spec=SPEC)
    return serving, obs, synth(stack)


@pytest.fixture(scope="module")
def gke(prod):
    """One GKE model on an L4 (max 4 pods), HTTP only (no domains)."""
    stack = new_stack()
    serving = _serving(stack, prod, [ModelSpec(
        name="bert", runtime="gke", image=IMAGE, accelerator={"type": "nvidia-l4"},
        scaling={"min_replicas": 1, "max_replicas": 4, "signal": "cpu", "allow_cpu_only": True},
    )], regions=["europe-west1"], load_balancer=LoadBalancerSpec())
    obs = _observe(stack, prod, serving, spec=ObservabilitySpec())
    return serving, obs, synth(stack)


def policy(result, id_):
    return resource_by_path(result, "google_monitoring_alert_policy", f"observability/{id_}")


def reference(result, resource_type, path, attribute, parent="observability"):
    """``${<type>.<logical id>.<attribute>}`` of the resource at construct path ``<parent>/<path>``."""
    wanted = f"{parent}_{path}"
    ids = [i for i in resources(result, resource_type) if i.rsplit("_", 1)[0] == wanted]
    assert len(ids) == 1, ids
    return f"${{{resource_type}.{ids[0]}.{attribute}}}"


def threshold(condition):
    return condition["condition_threshold"]


# -- what is created ------------------------------------------------------------------------------

def test_every_model_gets_a_service_two_slos_and_its_alerts(vm):
    _, _, result = vm
    policies = {i.rsplit("_", 1)[0].removeprefix("observability_") for i in resources(result, "google_monitoring_alert_policy")}
    for model in ("resnet", "resnet-v2", "llm"):
        for sli in ("availability", "latency"):
            assert {f"burn-{model}-{sli}-fast", f"burn-{model}-{sli}-slow"} <= policies
        assert {f"alert-{model}-error-ratio", f"alert-{model}-p95-latency", f"alert-{model}-no-healthy-backends",
                f"alert-{model}-saturation"} <= policies
    assert "alert-llm-gpu-utilization" in policies and "alert-resnet-gpu-utilization" not in policies
    assert {"alert-resnet-uptime", "alert-resnet-v2-uptime", "alert-llm-uptime"} <= policies
    services = resources(result, "google_monitoring_custom_service")
    assert sorted(s["service_id"] for s in services.values()) == ["ml-prod-llm", "ml-prod-resnet", "ml-prod-resnet-v2"]
    assert len(resources(result, "google_monitoring_slo")) == 6


# -- SLOs select the model's backend service ----------------------------------------------------

@pytest.mark.parametrize("model", ["resnet", "resnet-v2", "llm"])
def test_availability_slo_counts_the_5xx_of_the_models_backend_service_against_its_requests(vm, model):
    serving, _, result = vm
    backend = f"ml-prod-lb-bs-{model}"
    assert serving.backends[model].service_name == backend
    slo = resource_by_path(result, "google_monitoring_slo", f"observability/slo-{model}-availability")
    ratio = slo["request_based_sli"]["good_total_ratio"]
    assert ratio == {
        "total_service_filter": f'{LB_REQUESTS} AND resource.labels.backend_target_name="{backend}"',
        "bad_service_filter": f'{LB_REQUESTS} AND resource.labels.backend_target_name="{backend}" AND metric.labels.response_code_class="500"',
    }
    assert slo["service"] == reference(result, "google_monitoring_custom_service", f"service-{model}", "service_id")
    assert (slo["slo_id"], slo["rolling_period_days"]) == ("availability", 28)
    assert slo["goal"] == (0.99 if model == "llm" else 0.995)


@pytest.mark.parametrize(("model", "threshold_ms"), [("resnet", 1000), ("llm", 8000)])
def test_latency_slo_cuts_the_backend_latency_distribution_of_the_model_at_its_threshold(vm, model, threshold_ms):
    _, _, result = vm
    slo = resource_by_path(result, "google_monitoring_slo", f"observability/slo-{model}-latency")
    assert slo["request_based_sli"]["distribution_cut"] == {
        "distribution_filter": f'{LB_LATENCY} AND resource.labels.backend_target_name="ml-prod-lb-bs-{model}"',
        "range": {"max": threshold_ms},
    }
    assert (slo["slo_id"], slo["goal"]) == ("latency", 0.99)


# -- burn rates ---------------------------------------------------------------------------------

@pytest.mark.parametrize("model", ["resnet", "llm"])
@pytest.mark.parametrize("sli", ["availability", "latency"])
def test_burn_rate_alerts_use_the_spec_windows_and_factors_on_the_models_own_slo(vm, model, sli):
    _, _, result = vm
    slo_name = reference(result, "google_monitoring_slo", f"slo-{model}-{sli}", "name")
    expected = {"fast": (3600, 300, 14.4, "CRITICAL"), "slow": (21600, 1800, 6.0, "WARNING")}
    for window, (long_sec, short_sec, factor, severity) in expected.items():
        alert = policy(result, f"burn-{model}-{sli}-{window}")
        assert alert["combiner"] == "AND", "both windows must burn: the short one stops the page soon after the burn stops"
        assert [threshold(c) for c in alert["conditions"]] == [
            {"filter": f'select_slo_burn_rate("{slo_name}", "{seconds}s")', "comparison": "COMPARISON_GT",
             "threshold_value": factor, "duration": "0s"}
            for seconds in (long_sec, short_sec)
        ]
        assert alert["severity"] == severity


def test_burn_rate_windows_and_severities_follow_the_spec(prod):
    stack = new_stack()
    serving = _serving(stack, prod, [ModelSpec(name="resnet", image=IMAGE)], regions=["europe-west1"])
    spec = ObservabilitySpec(
        notifications={"page": {"channels": [PAGE_CHANNEL]}},
        burn_rates=[{"name": "quick", "long_window": "2h", "short_window": "10m", "factor": 10, "severity": "page"}],
    )
    _observe(stack, prod, serving, spec=spec)
    result = synth(stack)
    alert = policy(result, "burn-resnet-availability-quick")
    assert [threshold(c)["filter"].rsplit(", ", 1)[1] for c in alert["conditions"]] == ['"7200s")', '"600s")']
    assert [threshold(c)["threshold_value"] for c in alert["conditions"]] == [10, 10]
    assert alert["notification_channels"] == [PAGE_CHANNEL]
    assert not [i for i in resources(result, "google_monitoring_alert_policy") if "-fast_" in i or "-slow_" in i]


# -- symptom alerts -------------------------------------------------------------------------------

def test_error_ratio_alert_divides_the_models_5xx_by_its_requests(vm):
    _, _, result = vm
    condition = threshold(policy(result, "alert-resnet-error-ratio")["conditions"][0])
    backend = 'resource.labels.backend_target_name="ml-prod-lb-bs-resnet"'
    assert condition["filter"] == f'{LB_REQUESTS} AND {backend} AND metric.labels.response_code_class="500"'
    assert condition["denominator_filter"] == f"{LB_REQUESTS} AND {backend}"
    rate = {"alignment_period": "60s", "per_series_aligner": "ALIGN_RATE", "cross_series_reducer": "REDUCE_SUM"}
    assert condition["aggregations"] == [rate] and condition["denominator_aggregations"] == [rate]
    assert (condition["comparison"], condition["threshold_value"], condition["duration"]) == ("COMPARISON_GT", 0.05, "300s")


@pytest.mark.parametrize(("model", "p95"), [("resnet", 2000), ("llm", 16000)])
def test_p95_latency_alert_defaults_to_twice_the_models_latency_threshold(vm, model, p95):
    _, _, result = vm
    condition = threshold(policy(result, f"alert-{model}-p95-latency")["conditions"][0])
    assert condition["filter"] == f'{LB_LATENCY} AND resource.labels.backend_target_name="ml-prod-lb-bs-{model}"'
    assert condition["aggregations"] == [
        {"alignment_period": "60s", "per_series_aligner": "ALIGN_DELTA", "cross_series_reducer": "REDUCE_PERCENTILE_95"},
    ]
    assert (condition["threshold_value"], condition["duration"]) == (p95, "600s")


def test_no_healthy_backend_alert_matches_the_models_load_balancer_log(vm):
    _, _, result = vm
    alert = policy(result, "alert-llm-no-healthy-backends")
    assert alert["conditions"][0]["condition_matched_log"] == {"filter": (
        'resource.type="http_load_balancer" AND resource.labels.backend_service_name="ml-prod-lb-bs-llm" '
        'AND jsonPayload.statusDetails="failed_to_pick_backend"'
    )}
    assert alert["alert_strategy"] == {"auto_close": "1800s", "notification_rate_limit": {"period": "300s"}}
    assert alert["severity"] == "CRITICAL"


def test_no_healthy_backend_alert_needs_request_logging(prod):
    stack = new_stack()
    serving = _serving(stack, prod, [ModelSpec(name="resnet", image=IMAGE, backend={"logging": False})], regions=["europe-west1"])
    _observe(stack, prod, serving)
    assert not [i for i in resources(synth(stack), "google_monitoring_alert_policy") if "no-healthy-backends" in i]


def test_vm_saturation_alert_watches_each_regional_instance_group_at_max_replicas(vm):
    _, _, result = vm
    conditions = [threshold(c) for c in policy(result, "alert-llm-saturation")["conditions"]]
    assert [c["filter"] for c in conditions] == [
        'metric.type="compute.googleapis.com/instance_group/size" AND resource.type="instance_group" AND '
        f'resource.labels.instance_group_name="ml-prod-llm-{region}" AND resource.labels.location="{region}"'
        for region in REGIONS
    ]
    # "at least 4 of 4 VMs": conditions only compare GT/LT, so > 3.5 for 30 minutes, the worst minute counting.
    assert {(c["threshold_value"], c["duration"], c["aggregations"][0]["per_series_aligner"]) for c in conditions} == {(3.5, "1800s", "ALIGN_MIN")}


def test_saturation_threshold_is_a_share_of_max_replicas(prod):
    stack = new_stack()
    serving = _serving(stack, prod, [ModelSpec(name="resnet", image=IMAGE, scaling={"max_replicas": 10})], regions=["europe-west1"])
    _observe(stack, prod, serving, spec=ObservabilitySpec(saturation={"threshold": 0.8, "duration": "1h"}))
    condition = threshold(policy(synth(stack), "alert-resnet-saturation")["conditions"][0])
    assert (condition["threshold_value"], condition["duration"]) == (7.5, "3600s")


def test_a_fixed_size_fleet_has_no_saturation_alert(prod):
    stack = new_stack()
    serving = _serving(stack, prod, [ModelSpec(name="resnet", image=IMAGE, vm={"target_size": 2})], regions=["europe-west1"])
    obs = _observe(stack, prod, serving)
    assert obs.models["resnet"].max_replicas is None
    assert not [i for i in resources(synth(stack), "google_monitoring_alert_policy") if "saturation" in i]


def test_vm_gpu_alert_averages_the_ops_agent_metric_of_each_instance_group(vm):
    serving, _, result = vm
    conditions = [threshold(c) for c in policy(result, "alert-llm-gpu-utilization")["conditions"]]
    groups = [serving.runtimes["llm"].fleets[region].name for region in REGIONS]
    assert groups == ["ml-prod-llm-europe-west1", "ml-prod-llm-us-central1"]
    assert [c["filter"] for c in conditions] == [
        f'metric.type="agent.googleapis.com/gpu/utilization" AND resource.type="gce_instance" AND metadata.system_labels."instance_group"="{g}"'
        for g in groups
    ]
    assert {(c["threshold_value"], c["duration"], c["aggregations"][0]["cross_series_reducer"]) for c in conditions} == {
        (90, "1800s", "REDUCE_MEAN"),
    }


def test_gke_saturation_compares_the_models_hpa_replicas_with_its_maximum(gke):
    _, _, result = gke
    condition = policy(result, "alert-bert-saturation")["conditions"][0]["condition_prometheus_query_language"]
    assert condition == {
        "query": 'kube_horizontalpodautoscaler_status_current_replicas{cluster="ml-prod-gke",location="europe-west1",'
                 'namespace="serving",horizontalpodautoscaler="bert"} >= 4',
        "duration": "1800s", "evaluation_interval": "60s",
    }


def test_gke_gpu_alert_selects_the_models_server_containers(gke):
    _, _, result = gke
    condition = threshold(policy(result, "alert-bert-gpu-utilization")["conditions"][0])
    assert condition["filter"] == (
        'metric.type="kubernetes.io/container/accelerator/duty_cycle" AND resource.type="k8s_container" AND '
        'resource.labels.cluster_name="ml-prod-gke" AND resource.labels.location="europe-west1" AND '
        'resource.labels.namespace_name="serving" AND resource.labels.container_name="server" AND '
        'metadata.user_labels."app.kubernetes.io/name"="bert"'
    )
    assert condition["threshold_value"] == 90


def test_gke_model_slos_select_its_backend_service(gke):
    serving, obs, result = gke
    assert obs.models["bert"].backend_service == serving.backends["bert"].service_name == "ml-prod-lb-bs-bert"
    slo = resource_by_path(result, "google_monitoring_slo", "observability/slo-bert-availability")
    assert 'resource.labels.backend_target_name="ml-prod-lb-bs-bert"' in slo["request_based_sli"]["good_total_ratio"]["total_service_filter"]


def test_disabled_symptom_alerts_are_not_created(prod):
    stack = new_stack()
    serving = _serving(stack, prod, [ModelSpec(name="resnet", image=IMAGE)], regions=["europe-west1"])
    spec = ObservabilitySpec(error_ratio={"enabled": False}, latency_alert={"enabled": False}, saturation={"enabled": False})
    _observe(stack, prod, serving, spec=spec)
    ids = [i for i in resources(synth(stack), "google_monitoring_alert_policy")]
    assert not [i for i in ids if any(s in i for s in ("error-ratio", "p95-latency", "saturation"))]
    assert [i for i in ids if "no-healthy-backends" in i]


# -- uptime ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("model", ["resnet", "resnet-v2"])
def test_uptime_check_gets_the_models_health_route_over_https_on_the_domain(vm, model):
    serving, _, result = vm
    assert serving.load_balancer.health_routes[model] == f"/healthz/{model}", "the load balancer rewrites it to the health path"
    check = resource_by_path(result, "google_monitoring_uptime_check_config", f"observability/uptime-{model}")
    assert check["http_check"] == {
        "path": f"/healthz/{model}", "port": 443, "use_ssl": True, "validate_ssl": True, "request_method": "GET",
        "accepted_response_status_codes": [{"status_class": "STATUS_CLASS_2XX"}],
    }
    assert check["monitored_resource"] == {"type": "uptime_url", "labels": {"host": "models.example.com", "project_id": TEST_PROJECT}}
    assert (check["period"], check["timeout"]) == ("60s", "10s")
    condition = threshold(policy(result, f"alert-{model}-uptime")["conditions"][0])
    check_id = reference(result, "google_monitoring_uptime_check_config", f"uptime-{model}", "uptime_check_id")
    assert condition["filter"] == (
        'metric.type="monitoring.googleapis.com/uptime_check/check_passed" AND resource.type="uptime_url" AND '
        f'metric.labels.check_id="{check_id}"'
    )
    assert condition["aggregations"] == [{"alignment_period": "1200s", "per_series_aligner": "ALIGN_NEXT_OLDER",
                                          "cross_series_reducer": "REDUCE_COUNT_FALSE", "group_by_fields": ["resource.label.*"]}]
    assert (condition["threshold_value"], condition["duration"]) == (1, "300s")


def test_uptime_check_without_https_uses_the_load_balancer_address_on_port_80(gke):
    serving, _, result = gke
    check = resource_by_path(result, "google_monitoring_uptime_check_config", "observability/uptime-bert")
    assert (check["http_check"]["port"], check["http_check"]["use_ssl"], check["http_check"]["validate_ssl"]) == (80, False, False)
    assert check["monitored_resource"]["labels"]["host"].startswith("${google_compute_global_address.")


def test_uptime_paths_can_be_given_per_model(prod):
    stack = new_stack()
    serving = _serving(stack, prod, [ModelSpec(name="resnet", image=IMAGE)], regions=["europe-west1"])
    _observe(stack, prod, serving, uptime_paths={"resnet": "/healthz/resnet"})
    check = resource_by_path(synth(stack), "google_monitoring_uptime_check_config", "observability/uptime-resnet")
    assert check["http_check"]["path"] == "/healthz/resnet"


def test_without_a_health_route_the_uptime_path_is_the_models_first_route():
    assert default_uptime_path(ModelSpec(name="resnet", image=IMAGE)) == "/v1/models/resnet"
    assert default_uptime_path(ModelSpec(name="resnet", image=IMAGE, routes=["/api/resnet/*"])) == "/api/resnet/"
    assert default_uptime_path(ModelSpec(name="v2", image=IMAGE, canary_of="resnet")) is None


def test_a_model_behind_iap_has_no_uptime_check(prod):
    stack = new_stack()
    serving = _serving(stack, prod, [ModelSpec(name="resnet", image=IMAGE, backend={"iap": {}})], regions=["europe-west1"])
    obs = _observe(stack, prod, serving)
    assert obs.models["resnet"].uptime_path is None and not obs.uptime_checks
    assert not resources(synth(stack), "google_monitoring_uptime_check_config")


def test_a_model_can_turn_its_uptime_check_off(prod):
    stack = new_stack()
    serving = _serving(stack, prod, [ModelSpec(name="resnet", image=IMAGE)], regions=["europe-west1"])
    _observe(stack, prod, serving, spec=ObservabilitySpec(models={"resnet": {"uptime_check": False}}))
    assert not resources(synth(stack), "google_monitoring_uptime_check_config")


# -- cache ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("region", REGIONS)
def test_cache_alerts_select_the_regions_redis_instance_by_reference(vm, region):
    _, _, result = vm
    redis_id = reference(result, "google_redis_instance", f"redis-{region}", "id", parent="cache")
    instance = f'resource.type="redis_instance" AND resource.labels.instance_id="{redis_id}"'
    memory = threshold(policy(result, f"cache-{region}-memory")["conditions"][0])
    assert memory["filter"] == f'metric.type="redis.googleapis.com/stats/memory/system_memory_usage_ratio" AND {instance}'
    assert (memory["threshold_value"], memory["duration"]) == (0.8, "300s")
    evictions = threshold(policy(result, f"cache-{region}-evictions")["conditions"][0])
    assert evictions["filter"] == f'metric.type="redis.googleapis.com/stats/evicted_keys" AND {instance}'
    assert (evictions["threshold_value"], evictions["duration"], evictions["aggregations"][0]["per_series_aligner"]) == (100, "900s", "ALIGN_RATE")
    down = policy(result, f"cache-{region}-unavailable")["conditions"][0]["condition_absent"]
    assert (down["filter"], down["duration"]) == (f'metric.type="redis.googleapis.com/server/uptime" AND {instance}', "600s")
    failover = threshold(policy(result, f"cache-{region}-failover")["conditions"][0])
    assert failover["filter"] == f'metric.type="redis.googleapis.com/replication/role" AND {instance}'
    assert (failover["aggregations"][0]["per_series_aligner"], failover["threshold_value"]) == ("ALIGN_STDDEV", 0)


def test_basic_tier_has_no_failover_alert_and_cluster_mode_selects_the_cluster(prod):
    stack = new_stack()
    serving = _serving(stack, prod, [ModelSpec(name="resnet", image=IMAGE)], regions=["europe-west1"], cache=CacheSpec(tier="BASIC"))
    _observe(stack, prod, serving)
    assert not [i for i in resources(synth(stack), "google_monitoring_alert_policy") if "failover" in i]

    stack = new_stack()
    serving = _serving(stack, prod, [ModelSpec(name="resnet", image=IMAGE)], regions=["europe-west1"], cache=CacheSpec(mode="cluster"))
    obs = _observe(stack, prod, serving)
    result = synth(stack)
    cluster = reference(result, "google_redis_cluster", "cluster-europe-west1", "name", parent="cache")
    assert threshold(policy(result, "cache-europe-west1-memory")["conditions"][0])["filter"] == (
        'metric.type="redis.googleapis.com/cluster/memory/maximum_utilization" AND resource.type="redis.googleapis.com/Cluster" AND '
        f'resource.labels.cluster_id="{cluster}" AND resource.labels.location="europe-west1"'
    )
    assert not [i for i in obs.alert_policies if "failover" in i]
    titles = [w.title for w in obs.dashboard_model.widgets]
    assert "Memory utilization (fullest node)" in titles and "Hit ratio" not in titles


# -- routing and labels ---------------------------------------------------------------------------

def test_alerts_route_to_the_channels_of_their_severity(vm):
    _, obs, result = vm
    oncall = reference(result, "google_monitoring_notification_channel", "channel-oncall-example-com", "name")
    team = reference(result, "google_monitoring_notification_channel", "channel-ml-team-example-com", "name")
    routes = {"CRITICAL": [PAGE_CHANNEL, oncall], "WARNING": [TICKET_CHANNEL, team, oncall]}
    policies = resources(result, "google_monitoring_alert_policy")
    assert len(policies) == len(obs.alert_policies) > 30
    for logical_id, body in policies.items():
        assert body["notification_channels"] == routes[body["severity"]], logical_id
        assert body["user_labels"]["severity"] == {"CRITICAL": "page", "WARNING": "ticket"}[body["severity"]]
        assert body["documentation"]["mime_type"] == "text/markdown" and "**First checks**" in body["documentation"]["content"]


def test_channels_can_be_terraform_references(prod):
    stack = new_stack()
    slack = monitoring_notification_channel.MonitoringNotificationChannel(stack, "slack", type="slack", labels={"channel_name": "#ml"})
    serving = _serving(stack, prod, [ModelSpec(name="resnet", image=IMAGE)], regions=["europe-west1"])
    _observe(stack, prod, serving, spec=ObservabilitySpec(notifications={"ticket": {"channels": [slack.name]}}))
    result = synth(stack)
    (slack_id,) = resources(result, "google_monitoring_notification_channel")
    assert policy(result, "alert-resnet-saturation")["notification_channels"] == [f"${{google_monitoring_notification_channel.{slack_id}.name}}"]
    assert "notification_channels" not in policy(result, "alert-resnet-error-ratio"), "no page channel: the incident shows in the console"


def test_an_address_in_both_severities_gets_one_email_channel(vm):
    _, _, result = vm
    channels = resources(result, "google_monitoring_notification_channel")
    assert sorted(c["labels"]["email_address"] for c in channels.values()) == ["ml-team@example.com", "oncall@example.com"]
    assert {c["type"] for c in channels.values()} == {"email"}


def test_addresses_with_the_same_slug_get_distinct_channels(prod):
    stack = new_stack()
    serving = _serving(stack, prod, [ModelSpec(name="resnet", image=IMAGE)], regions=["europe-west1"])
    obs = _observe(stack, prod, serving, spec=ObservabilitySpec(notifications={"page": {"emails": ["a.b@example.com", "a-b@example.com"]}}))
    assert [c.node.id for c in obs.email_channels.values()] == ["channel-a-b-example-com", "channel-a-b-example-com-29728d"]
    assert len(obs.channels["page"]) == 2


def test_paging_alerts_are_the_fast_burns_the_user_facing_symptoms_and_the_cache_going_away(vm):
    _, _, result = vm
    paging = sorted(
        i.rsplit("_", 1)[0].removeprefix("observability_")
        for i, body in resources(result, "google_monitoring_alert_policy").items() if body["severity"] == "CRITICAL"
    )
    assert [p for p in paging if "resnet-" in p and "resnet-v2" not in p] == [
        "alert-resnet-error-ratio", "alert-resnet-no-healthy-backends", "alert-resnet-uptime",
        "burn-resnet-availability-fast", "burn-resnet-latency-fast",
    ]
    assert [p for p in paging if p.startswith("cache-")] == ["cache-europe-west1-unavailable", "cache-us-central1-unavailable"]


def test_everything_that_takes_labels_carries_the_common_labels(vm):
    _, obs, result = vm
    for resource_type in MONITORING:
        for logical_id, body in resources(result, resource_type).items():
            if resource_type == "google_monitoring_dashboard":
                assert json.loads(body["dashboard_json"])["labels"] == COMMON_LABELS, logical_id
            else:
                assert COMMON_LABELS.items() <= body["user_labels"].items(), logical_id


# -- dashboard ------------------------------------------------------------------------------------

def test_dashboard_has_a_section_and_charts_per_model(vm):
    _, obs, result = vm
    board = json.loads(only_dashboard(result)["dashboard_json"])
    assert board["displayName"] == "ml-prod model serving" and board["mosaicLayout"]["columns"] == 48
    titles = [t["widget"]["title"] for t in board["mosaicLayout"]["tiles"]]
    per_model = ["Requests/s", "5xx share", "Backend latency", "VMs per region"]
    assert titles == [
        "Load balancer", "Requests/s by response class", "5xx share", "Total latency (client to load balancer)",
        "Model resnet", *per_model, "Model resnet-v2", *per_model, "Model llm", *per_model, "GPU utilization",
        "Inference cache", "Memory usage ratio", "Hit ratio", "Evicted keys/s",
    ]
    tiles = board["mosaicLayout"]["tiles"]
    assert all(t["width"] in (16, 48) and t.get("xPos", 0) + t["width"] <= 48 for t in tiles)
    assert len({(t.get("xPos", 0), t.get("yPos", 0)) for t in tiles}) == len(tiles), "no two tiles at one place"


def only_dashboard(result):
    (dashboard,) = resources(result, "google_monitoring_dashboard").values()
    return dashboard


def test_dashboard_charts_select_the_models_backend_and_groups(vm):
    _, obs, _ = vm
    charts = {(section, w.title): w for section, w in _by_section(obs.dashboard_model.widgets)}
    requests = charts[("Model llm", "Requests/s")].series[0].query
    assert requests.filter == f'{LB_REQUESTS} AND resource.labels.backend_target_name="ml-prod-lb-bs-llm"'
    vms = charts[("Model llm", "VMs per region")]
    assert [s.query.filter.split("instance_group_name=")[1].split(" ")[0] for s in vms.series] == [
        '"ml-prod-llm-europe-west1"', '"ml-prod-llm-us-central1"',
    ]
    assert [(t.value, t.label) for t in vms.thresholds] == [(4, "max replicas")]
    latency = charts[("Model llm", "Backend latency")]
    assert [s.legend for s in latency.series] == ["p50", "p95", "p99"] and latency.thresholds[0].value == 8000


def _by_section(widgets):
    section = None
    for widget in widgets:
        if isinstance(widget, SectionHeader):
            section = widget.title
        else:
            assert isinstance(widget, XyChart)
            yield section, widget


def test_dashboard_json_is_deterministic_and_escapes_legend_templates(vm, prod):
    _, obs, result = vm
    stack = new_stack()
    serving = _vm_serving(stack, prod)
    _observe(stack, prod, serving, spec=SPEC)
    text = only_dashboard(result)["dashboard_json"]
    assert only_dashboard(synth(stack))["dashboard_json"] == text
    assert build_dashboard(prod, SPEC, list(obs.models.values()), url_map="u").to_json() == \
        build_dashboard(prod, SPEC, list(obs.models.values()), url_map="u").to_json()
    assert '"legendTemplate": "$${metric.labels.response_code_class}"' in text
    assert '"xPos": 0' not in text and '"yPos": 0' not in text, "the API drops zeros: sending them would show a diff on every plan"
    assert escape_templates("${TfToken[TOKEN.1]} ${resource.labels.zone}") == "${TfToken[TOKEN.1]} $${resource.labels.zone}"


def test_gke_dashboard_shows_pods_from_the_hpa(gke):
    _, obs, _ = gke
    charts = dict((w.title, w) for _, w in _by_section(obs.dashboard_model.widgets))
    assert charts["Pods"].series[0].query.query.startswith("kube_horizontalpodautoscaler_status_current_replicas{cluster=\"ml-prod-gke\"")
    assert charts["GPU utilization"].series[0].query.filter.endswith('metadata.user_labels."app.kubernetes.io/name"="bert"')


def test_dashboard_can_be_turned_off(prod):
    stack = new_stack()
    serving = _serving(stack, prod, [ModelSpec(name="resnet", image=IMAGE)], regions=["europe-west1"])
    obs = _observe(stack, prod, serving, spec=ObservabilitySpec(dashboard=False))
    assert obs.dashboard is None and not resources(synth(stack), "google_monitoring_dashboard")


# -- on/off and validation ------------------------------------------------------------------------

def test_disabled_observability_creates_nothing(prod):
    stack = new_stack()
    serving = _serving(stack, prod, [ModelSpec(name="resnet", image=IMAGE)], regions=["europe-west1"])
    _observe(stack, prod, serving, spec=ObservabilitySpec(enabled=False))
    result = synth(stack)
    assert not any(resources(result, t) for t in MONITORING)


def test_observed_models_describe_each_runtime(vm, gke):
    resnet = vm[1].models["resnet"]
    assert (resnet.runtime, resnet.max_replicas, resnet.gpu, resnet.instance_groups) == (
        "vm", 10, False, (("europe-west1", "ml-prod-resnet-europe-west1"), ("us-central1", "ml-prod-resnet-us-central1")),
    )
    assert (resnet.uptime_host, resnet.uptime_https, resnet.request_logging) == ("models.example.com", True, True)
    assert vm[1].models["resnet-v2"].canary_of == "resnet" and vm[1].models["resnet-v2"].uptime_path == "/healthz/resnet-v2"
    bert = gke[1].models["bert"]
    assert (bert.runtime, bert.max_replicas, bert.gpu, bert.cluster, bert.cluster_location, bert.namespace) == (
        "gke", 4, True, "ml-prod-gke", "europe-west1", "serving",
    )


def test_fails_when_spec_names_an_unknown_model(prod):
    stack = new_stack()
    serving = _serving(stack, prod, [ModelSpec(name="resnet", image=IMAGE)], regions=["europe-west1"])
    with pytest.raises(ConfigurationError, match=r"^observability\.models\.bert = 'bert': is not a model of this deployment; models: resnet$"):
        _observe(stack, prod, serving, spec=ObservabilitySpec(models={"bert": {}}))


def test_fails_when_no_models_or_a_model_twice(prod):
    stack = new_stack()
    model = ObservedModel(name="resnet", backend_service="bs", runtime="vm", max_replicas=2, instance_groups=(("europe-west1", "g"),))
    with pytest.raises(ConfigurationError, match=r"^models = \[\]: give at least one ObservedModel"):
        ServingObservability(stack, "o1", naming=prod, project_id=TEST_PROJECT, load_balancer=None, models=[])
    with pytest.raises(ConfigurationError, match=r"^models = \['resnet', 'resnet'\]: each model may be observed once; repeated: resnet$"):
        ServingObservability(stack, "o2", naming=prod, project_id=TEST_PROJECT, load_balancer=None, models=[model, model])


@pytest.mark.parametrize(("fields", "message"), [
    ({"runtime": "vm"}, r"models\[0\]\.instance_groups = \[\]: a VM model names its instance groups"),
    ({"runtime": "gke"}, r"models\[0\]\.cluster = None: a GKE model names its cluster, cluster_location and namespace"),
    ({"runtime": "vm", "instance_groups": (("r", "g"),), "max_replicas": 0}, r"models\[0\]\.max_replicas = 0: must be >= 1"),
    ({"runtime": "vm", "instance_groups": (("r", "g"),), "uptime_path": "healthz", "uptime_host": "h"},
     r"models\[0\]\.uptime_path = 'healthz': must start with / and needs uptime_host"),
    ({"runtime": "vm", "instance_groups": (("r", "g"),), "name": "Bad"}, r"models\[0\]\.name = 'Bad': must match"),
])
def test_fails_when_an_observed_model_misses_what_its_runtime_needs(prod, fields, message):
    fields = {"name": "resnet", "backend_service": "bs", "max_replicas": 2, **fields}
    with pytest.raises(ConfigurationError, match=message):
        ServingObservability(new_stack(), "o", naming=prod, project_id=TEST_PROJECT, load_balancer=None, models=[ObservedModel(**fields)])


# -- snapshot -------------------------------------------------------------------------------------

def test_snapshot_vm_models_with_cache(vm, snapshot_json):
    _, _, result = vm
    assert {t: resources(result, t) for t in MONITORING} == snapshot_json
