import pytest

from stacks.config import ENVIRONMENTS_DIR, EnvironmentFileError, environment_files, load_environment, parse_environment
from stacks.serving_stack import ServingStack
from stacks.synth import build_stacks
from tests.conftest import new_app, only_resource, resource_by_path, resources, server_env, synth

MINIMAL = 'project_id = "my-project-1"\nregions = ["us-central1"]\n'
MODEL = '\n[[models]]\nname = "resnet"\nimage = "us-docker.pkg.dev/p/r/server:1"\n'


def _stack(text: str = MINIMAL, name: str = "dev", models: str = MODEL) -> ServingStack:
    return ServingStack(new_app(), parse_environment(text + models, name=name, source="test"))


def test_stack_is_named_after_environment():
    assert _stack().config.stack_name == "ml-serving-dev"


def test_provider_uses_project_and_first_region():
    provider = synth(_stack('project_id = "my-project-1"\nregions = ["europe-west4", "us-east1"]\n'))["provider"]["google"][0]
    assert provider == {"project": "my-project-1", "region": "europe-west4", "add_terraform_attribution_label": False}


def test_resources_carry_environment_labels():
    result = synth(_stack(MINIMAL + '[labels]\nteam = "platform"\n', name="qa"))
    labels = resource_by_path(result, "google_compute_global_address", "lb/address")["labels"]
    assert labels == {"team": "platform", "app": "ml", "env": "qa", "managed-by": "cdktf"}


def test_local_backend_by_default():
    assert _stack().to_terraform()["terraform"]["backend"] == {"local": {"path": "../../../state/ml-serving-dev.tfstate"}}


def test_gcs_backend_prefix_defaults_to_the_stack_name():
    stack = _stack(MINIMAL + '[backend]\ntype = "gcs"\nbucket = "acme-tf-state"\n', name="prod")
    assert stack.to_terraform()["terraform"]["backend"] == {"gcs": {"bucket": "acme-tf-state", "prefix": "terraform/ml-serving-prod"}}


def test_gcs_backend_prefix_can_be_set():
    stack = _stack(MINIMAL + '[backend]\ntype = "gcs"\nbucket = "acme-tf-state"\nprefix = "teams/ml"\n')
    assert stack.to_terraform()["terraform"]["backend"]["gcs"]["prefix"] == "teams/ml"


def test_outputs_a_user_needs_after_deploy():
    outputs = synth(_stack())["output"]
    assert {"lb_ipv4_address", "lb_urls", "model_bucket", "fleet_service_accounts", "network_self_link",
            "cache-host-us-central1", "cache-auth-string-us-central1"} <= set(outputs)
    assert outputs["cache-auth-string-us-central1"]["sensitive"] is True
    assert outputs["cache-ca-certs-us-central1"]["sensitive"] is True
    assert list(outputs["fleet_service_accounts"]["value"]) == ["resnet"]


def _model(name: str, extra: str = "") -> str:
    return f'\n[[models]]\nname = "{name}"\nimage = "us-docker.pkg.dev/p/r/{name}:1"\n{extra}'


def test_every_model_gets_a_fleet_and_autoscaler_per_region_and_one_backend():
    stack = _stack('project_id = "my-project-1"\nregions = ["us-central1", "europe-west4"]\n',
                   models=_model("a") + _model("b", 'regions = ["europe-west4"]\n'))
    result = synth(stack)
    assert len(resources(result, "google_compute_region_instance_group_manager")) == 3
    assert len(resources(result, "google_compute_region_autoscaler")) == 3
    assert len(resources(result, "google_compute_backend_service")) == 2
    assert len(resources(result, "google_service_account")) == 2
    backend_b = resource_by_path(result, "google_compute_backend_service", "lb/backend-b/default")
    assert len(backend_b["backend"]) == 1


def test_model_identity_reads_the_bucket_and_the_cache_secrets():
    result = synth(_stack())
    read = only_resource(result, "google_storage_bucket_iam_member")
    assert read["role"] == "roles/storage.objectViewer" and "google_service_account.model-resnet_identity" in read["member"]
    grants = resources(result, "google_secret_manager_secret_iam_member")
    assert {g["role"] for g in grants.values()} == {"roles/secretmanager.secretAccessor"}


def test_fleet_gets_model_uri_and_the_caches_secrets():
    env = server_env(only_resource(synth(_stack()), "google_compute_instance_template"))
    assert env["MODEL_URI"] == "gs://my-project-1-ml-dev-models/resnet"
    assert env["CACHE_ENDPOINT_SECRET"].endswith("/versions/latest") and env["CACHE_AUTH_SECRET"].endswith("/versions/latest")
    assert not any("google_redis_instance" in value for value in env.values()), "the template must not reference the cache"


def test_model_without_cache_use_gets_no_cache_environment():
    template = only_resource(synth(_stack(models=_model("a", "use_cache = false\n"))), "google_compute_instance_template")
    assert not [name for name in server_env(template) if name.startswith("CACHE_")]


def test_cache_can_be_turned_off():
    result = synth(_stack(MINIMAL + "[cache]\nenabled = false\n"))
    assert resources(result, "google_redis_instance") == {}
    assert not any(k.startswith("cache-") for k in result["output"])


def test_canary_takes_its_weight_of_the_stable_routes():
    result = synth(_stack(models=_model("llm") + _model("llm-next", 'canary_of = "llm"\ncanary_weight = 25\n')))
    url_map = resource_by_path(result, "google_compute_url_map", "lb/url-map")
    rules = [r for m in url_map["path_matcher"] for r in m.get("route_rules", [])]
    weighted = [r for r in rules if "weighted_backend_services" in r.get("route_action", {})]
    assert weighted, "the llm routes are split"
    weights = sorted(w["weight"] for w in weighted[0]["route_action"]["weighted_backend_services"])
    assert weights == [25, 75]


def test_cloud_armor_attaches_to_models_that_allow_it():
    result = synth(_stack(MINIMAL + "[cloud_armor]\nenabled = true\n", models=_model("a") + _model("b", "cloud_armor = false\n")))
    policy_ref = "google_compute_security_policy"
    a = resource_by_path(result, "google_compute_backend_service", "lb/backend-a/default")
    b = resource_by_path(result, "google_compute_backend_service", "lb/backend-b/default")
    assert policy_ref in a["security_policy"] and "security_policy" not in b


def test_static_content_routes_to_a_backend_bucket():
    result = synth(_stack(MINIMAL + '[static_content]\nbucket_name = "acme-model-cards"\n'))
    bucket = only_resource(result, "google_compute_backend_bucket")
    assert bucket["bucket_name"] == "acme-model-cards" and bucket["enable_cdn"] is True


@pytest.mark.parametrize("path", environment_files(), ids=lambda p: p.stem)
def test_environment_snapshot(path, snapshot_json):
    """One reviewed snapshot per shipped environment file (every stack it makes, by name)."""
    stacks = build_stacks(new_app(), load_environment(path))
    assert {stack.node.id: synth(stack) for stack in stacks} == snapshot_json


def test_one_stack_without_gke_models():
    stack = _stack()
    assert [s.node.id for s in stack.stacks] == ["ml-serving-dev"] and stack.serving.cluster_stack is None


def test_vm_and_gke_models_share_one_load_balancer_and_the_cluster_stacks_network():
    models = MODEL + '\n[[models]]\nname = "llm"\nruntime = "gke"\nimage = "us-docker.pkg.dev/p/r/llm:1"\naccelerator = { type = "nvidia-l4" }\n'
    stack = _stack('project_id = "my-project-1"\nregions = ["us-central1", "europe-west4"]\n', models=models)
    cluster, serving = synth(stack.serving.cluster_stack), synth(stack)
    assert resources(serving, "google_compute_network") == {} and len(resources(cluster, "google_compute_network")) == 1
    assert len(resources(cluster, "google_compute_subnetwork")) == 3, "a subnet per region plus the cluster's"
    template = resource_by_path(serving, "google_compute_instance_template", "model-resnet/fleet-europe-west4/template")
    assert template["network_interface"] == [{"subnetwork": "projects/my-project-1/regions/europe-west4/subnetworks/ml-dev-serving-europe-west4"}]
    redis = resource_by_path(serving, "google_redis_instance", "cache/redis-us-central1")
    assert redis["authorized_network"] == "projects/my-project-1/global/networks/ml-dev-vpc"
    assert redis["reserved_ip_range"] == "ml-dev-psa" and "depends_on" not in redis
    assert len(resources(cluster, "google_service_networking_connection")) == 1, "the cache's peering lives with the network"
    assert {b.split("/")[-1] for b in resources(serving, "google_compute_backend_service")} <= set(resources(serving, "google_compute_backend_service"))
    assert len(resources(serving, "google_compute_backend_service")) == 2
    rule = resource_by_path(cluster, "google_compute_firewall", "network/allow-health-checks")
    assert rule["target_tags"] == ["model-server"], "the VM fleets' health-check rule stays with the network"


def test_environments_folder_is_the_shipped_one():
    assert (ENVIRONMENTS_DIR / "dev.toml").exists()


def _monitoring(stack: ServingStack) -> set[str]:
    """The Cloud Monitoring resource types the stack creates."""
    return {kind for kind in synth(stack)["resource"] if kind.startswith("google_monitoring_")}


@pytest.mark.parametrize(("name", "section", "monitored"), [
    ("dev", "", False),                                            # dev tier: off by default
    ("dev", "[observability]\nenabled = true\n", True),            # ... opts in
    ("qa", "", True),                                              # production tier: on by default
    ("qa", "[observability]\nenabled = false\n", False),           # ... opts out
    ("qa", 'tier = "dev"\n', False),                               # the tier decides, not the name
])
def test_monitoring_follows_the_tier_unless_the_file_says_otherwise(name, section, monitored):
    stack = _stack(MINIMAL + section, name=name)
    expected = {"google_monitoring_alert_policy", "google_monitoring_custom_service", "google_monitoring_slo",
                "google_monitoring_uptime_check_config", "google_monitoring_dashboard"}
    assert (_monitoring(stack) == expected) if monitored else not _monitoring(stack)


def test_monitoring_routes_pages_and_tickets_to_the_files_channels():
    section = ('[observability]\nlatency_threshold_ms = 250\n[observability.notifications.page]\n'
               'channels = ["projects/my-project-1/notificationChannels/42"]\nemails = ["oncall@example.com"]\n')
    out = synth(_stack(MINIMAL + section, name="qa"))
    channel = only_resource(out, "google_monitoring_notification_channel")
    assert channel["labels"] == {"email_address": "oncall@example.com"} and channel["type"] == "email"
    policies = resources(out, "google_monitoring_alert_policy").values()
    pages = [p for p in policies if p["severity"] == "CRITICAL"]
    assert pages and all(p["notification_channels"][0] == "projects/my-project-1/notificationChannels/42" for p in pages)
    assert all(not p.get("notification_channels") for p in policies if p["severity"] == "WARNING")  # no ticket route given
    latency = next(s for s in resources(out, "google_monitoring_slo").values() if s["slo_id"] == "latency")
    assert latency["request_based_sli"]["distribution_cut"]["range"]["max"] == 250


def test_fails_when_observability_names_a_model_the_environment_does_not_have():
    with pytest.raises(EnvironmentFileError, match=r"^test: observability.models.bert = 'bert': is not a model of this environment; models: resnet"):
        _stack(MINIMAL + "[observability.models.bert]\nlatency_threshold_ms = 100\n", name="qa")
