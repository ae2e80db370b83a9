"""The GKE runtime of ``ServingStack``: models with ``runtime = "gke"`` make the environment two
stacks (``<stack>-cluster`` with network and cluster, then the serving stack)."""

import json

import pytest

from constructs_lib.errors import ConfigurationError
from constructs_lib.gke.workload import DEFAULT_MAX_RATE_PER_ENDPOINT
from stacks.config import parse_environment
from stacks.serving_stack import ServingStack
from tests.conftest import new_app, only_resource, resource_by_path, resources, synth

PROJECT = "my-project-1"
IMAGE = "europe-docker.pkg.dev/my-project-1/models/server:1.4"
ZONES = ("europe-west1-b", "europe-west1-c", "europe-west1-d")
ENVIRONMENT = f'project_id = "{PROJECT}"\nregions = ["europe-west1"]\n[cache]\nenabled = false\n'
STATIC = '[static_content]\nbucket_name = "ml-dev-model-cards"\n'


def gke_model(name: str = "resnet", extra: str = "", **tables: str) -> str:
    """A GKE model table with the former GKE defaults spelled out (2..6 replicas on CPU 70 %, 15
    minutes to load, files under <name>/, one L4 of the model pool) so outputs stay comparable."""
    text = (
        f'\n[[models]]\nname = "{name}"\nruntime = "gke"\nimage = "{IMAGE}"\nstartup_timeout_sec = 900\n'
        f'model_path = "{name}/"\naccelerator = {{ type = "nvidia-l4" }}\n{extra}'
    )
    tables.setdefault("scaling", "min_replicas = 2\nmax_replicas = 6\ncpu_target = 0.7\n")
    return text + "".join(f"[models.{table}]\n{body}" for table, body in tables.items())


def _stack(models: str | None = None, environment: str = ENVIRONMENT + STATIC) -> ServingStack:
    config = parse_environment(environment + (models if models is not None else gke_model()), name="dev", source="test")
    return ServingStack(new_app(), config)


def _stacks(stack: ServingStack) -> tuple[dict, dict]:
    cluster_stack = stack.serving.cluster_stack
    assert cluster_stack is not None
    return synth(cluster_stack), synth(stack)


@pytest.fixture(scope="module")
def built():
    stack = _stack()
    return (stack, *_stacks(stack))


def test_two_stacks_cluster_first(built):
    stack, _, _ = built
    assert [s.node.id for s in stack.stacks] == ["ml-serving-dev-cluster", "ml-serving-dev"]
    assert stack.serving.cluster_stack in stack.dependencies


def test_serving_stack_reads_the_cluster_by_name_without_remote_state(built):
    _, _, serving = built
    assert "terraform_remote_state" not in serving["data"]
    found = only_resource({"resource": serving["data"]}, "google_container_cluster")
    assert found == {"name": "ml-dev-gke", "location": "europe-west1", "project": PROJECT}
    assert set(serving["provider"]) == {"google", "kubernetes"}
    assert serving["provider"]["google"] == [{"project": PROJECT, "region": "europe-west1", "add_terraform_attribution_label": False}]


def test_cluster_stack_holds_network_cluster_and_probe_firewall(built):
    _, cluster, _ = built
    assert only_resource(cluster, "google_container_cluster")["name"] == "ml-dev-gke"
    assert len(resources(cluster, "google_container_node_pool")) == 2
    rule = resource_by_path(cluster, "google_compute_firewall", "network/allow-health-checks-gke-8080")
    assert rule["target_tags"] == ["ml-dev-gke-node"] and rule["allow"] == [{"protocol": "tcp", "ports": ["8080"]}]
    assert set(cluster["output"]) == {"gke_cluster_name", "gke_cluster_location", "gke_node_service_account", "network_self_link"}
    assert not any(t.startswith("kubernetes_") for t in cluster["resource"])


def test_backend_service_points_at_the_zonal_negs_with_rate_balancing(built):
    _, _, serving = built
    backend = only_resource(serving, "google_compute_backend_service")
    assert backend["backend"] == [
        {"group": f"projects/{PROJECT}/zones/{zone}/networkEndpointGroups/ml-dev-neg-resnet", "balancing_mode": "RATE",
         "max_rate_per_endpoint": DEFAULT_MAX_RATE_PER_ENDPOINT, "capacity_scaler": 1}
        for zone in ZONES
    ]
    assert [d.split(".")[0] for d in backend["depends_on"]] == ["kubernetes_service_v1", "kubernetes_deployment_v1"]
    health = only_resource(serving, "google_compute_health_check")
    assert health["http_health_check"]["request_path"] == "/healthz"
    assert health["http_health_check"]["port_specification"] == "USE_SERVING_PORT"


def test_url_map_routes_the_model_and_static_content(built):
    _, _, serving = built
    url_map = only_resource(serving, "google_compute_url_map")
    assert "lb_backend-resnet_default" in url_map["default_service"]
    (matcher,) = url_map["path_matcher"]
    rules = {json.dumps(r["match_rules"][0], sort_keys=True): r["service"] for r in matcher["route_rules"]}
    assert "lb_backend-resnet_default" in rules['{"prefix_match": "/v1/models/resnet/"}']
    assert "lb_backend-resnet_default" in rules['{"full_path_match": "/v1/models/resnet"}']
    assert "google_compute_backend_bucket.lb_bucket-static" in rules['{"prefix_match": "/static/"}']
    bucket = only_resource(serving, "google_compute_backend_bucket")
    assert bucket["bucket_name"] == "ml-dev-model-cards"


def test_outputs(built):
    _, _, serving = built
    assert set(serving["output"]) >= {"lb_ipv4_address", "lb_urls", "model_bucket", "workload_service_accounts", "network_endpoint_groups"}
    assert serving["output"]["network_endpoint_groups"]["value"] == {"resnet": "ml-dev-neg-resnet"}


def test_local_state_per_stack_and_gcs_prefix_per_stack():
    local = _stack()
    assert local.to_terraform()["terraform"]["backend"] == {"local": {"path": "../../../state/ml-serving-dev.tfstate"}}
    assert local.serving.cluster_stack.to_terraform()["terraform"]["backend"] == {"local": {"path": "../../../state/ml-serving-dev-cluster.tfstate"}}
    gcs = _stack(environment=ENVIRONMENT + '[backend]\ntype = "gcs"\nbucket = "acme-tf-state"\n')
    assert gcs.to_terraform()["terraform"]["backend"]["gcs"] == {"bucket": "acme-tf-state", "prefix": "terraform/ml-serving-dev"}
    assert gcs.serving.cluster_stack.to_terraform()["terraform"]["backend"]["gcs"]["prefix"] == "terraform/ml-serving-dev-cluster"
    prefixed = _stack(environment=ENVIRONMENT + '[backend]\ntype = "gcs"\nbucket = "acme-tf-state"\nprefix = "teams/ml/"\n')
    assert prefixed.to_terraform()["terraform"]["backend"]["gcs"]["prefix"] == "teams/ml/ml-serving-dev"
    assert prefixed.serving.cluster_stack.to_terraform()["terraform"]["backend"]["gcs"]["prefix"] == "teams/ml/ml-serving-dev-cluster"


def test_backend_service_override_and_cloud_armor():
    stack = _stack(
        gke_model(extra='health_path = "/ready"\nport = 9000\n',
                  backend='max_rate_per_endpoint = 25\ntimeout_sec = 120\nhealth_check = { request_path = "/ready" }\n'),
        environment=ENVIRONMENT + "[cloud_armor]\nenabled = true\n",
    )
    cluster, serving = _stacks(stack)
    backend = only_resource(serving, "google_compute_backend_service")
    assert {b["max_rate_per_endpoint"] for b in backend["backend"]} == {25}
    assert backend["timeout_sec"] == 120
    assert "google_compute_security_policy" in backend["security_policy"]
    assert not resources(serving, "google_compute_backend_bucket")
    rule = resource_by_path(cluster, "google_compute_firewall", "network/allow-health-checks-gke-9000")
    assert rule["allow"] == [{"protocol": "tcp", "ports": ["9000"]}]


def test_models_in_one_namespace_share_the_first_ones_namespace():
    stack = _stack(gke_model(gke='cpu = "2"\nmemory = "8Gi"\n') + gke_model("bert"))
    serving = synth(stack)
    namespace = resource_by_path(serving, "kubernetes_namespace_v1", "workload-resnet/namespace")
    assert namespace["metadata"]["name"] == "serving"
    for kind in ("kubernetes_deployment_v1", "kubernetes_service_v1", "kubernetes_service_account_v1"):
        for logical_id, body in resources(serving, kind).items():
            if logical_id.startswith("workload-"):
                assert body["metadata"]["namespace"].startswith("${kubernetes_namespace_v1.workload-resnet_namespace_")
    assert stack.serving.runtimes["bert"].namespace_resource is None


def test_gpu_models_scale_on_gpu_duty_cycle_through_one_metrics_adapter():
    # Two L4 models with cpu_target: GPU duty cycle first, CPU second; one adapter in the serving
    # stack (the cluster stack has no Kubernetes provider), at stable addresses metrics-adapter_*.
    stack = _stack(gke_model(gke='cpu = "2"\nmemory = "8Gi"\n') + gke_model("bert"))
    cluster, serving = _stacks(stack)
    for name in ("resnet", "bert"):
        hpa = resource_by_path(serving, "kubernetes_horizontal_pod_autoscaler_v2", f"workload-{name}/autoscaler")["spec"]
        assert [m["type"] for m in hpa["metric"]] == ["External", "Resource"]
        selector = hpa["metric"][0]["external"]["metric"]["selector"][0]["match_labels"]
        assert selector["metadata.system_labels.top_level_controller_name"] == name
        assert selector["resource.labels.cluster_name"] == "ml-dev-gke"
    apis = resources(serving, "kubernetes_api_service_v1")
    assert len(apis) == 3 and all(logical_id.startswith("metrics-adapter_api-") for logical_id in apis)
    assert all("provider" not in body for body in apis.values())  # the ClusterAccess provider of the stack
    assert not any(t.startswith("kubernetes_") for t in cluster["resource"])
    assert resource_by_path(serving, "google_service_account", "metrics-adapter/identity/default")["account_id"] == "ml-dev-gke-metrics"


def test_cluster_stack_model_pool_streams_images_and_leaves_the_gpu_taint_to_gke(built):
    _, cluster, serving = built
    model = resource_by_path(cluster, "google_container_node_pool", "cluster/pool-model/default")
    assert model["node_config"]["gcfs_config"] == {"enabled": True}
    assert "taint" not in model["node_config"]
    assert only_resource(cluster, "google_container_cluster")["addons_config"]["gcs_fuse_csi_driver_config"] == {"enabled": True}
    deployment = resource_by_path(serving, "kubernetes_deployment_v1", "workload-resnet/deployment")
    assert deployment["spec"]["template"]["metadata"]["annotations"]["gke-gcsfuse/volumes"] == "true"


# -- validation --------------------------------------------------------------------------------

def test_fails_when_neg_names_collide_between_models():
    with pytest.raises(ConfigurationError, match=r"models\[bert\]\.gke\.neg_name = 'shared-neg': is already used by ml-serving-dev/Default/workload-resnet"):
        _stack(gke_model(gke='neg_name = "shared-neg"\n') + gke_model("bert", gke='neg_name = "shared-neg"\n'))


def test_fails_when_node_pool_is_unknown():
    with pytest.raises(ConfigurationError, match=r"models\[resnet\]\.gke\.node_pool = 'tpu': not a node pool of the cluster; pools: system, model"):
        _stack(gke_model(gke='node_pool = "tpu"\n'))


def test_fails_when_lb_health_check_probes_another_path():
    with pytest.raises(ConfigurationError, match=r"models\[resnet\]\.backend\.health_check\.request_path = '/health': must be the model's health_path \(/healthz\)"):
        _stack(gke_model(backend='health_check = { request_path = "/health" }\n'))


def test_fails_when_lb_health_check_probes_another_port():
    with pytest.raises(ConfigurationError, match=r"models\[resnet\]\.backend\.health_check\.port = 9090: must be the model's port \(8080\)"):
        _stack(gke_model(backend="health_check = { port = 9090 }\n"))


def test_fails_when_a_gke_model_names_another_region():
    environment = 'project_id = "my-project-1"\nregions = ["europe-west1", "us-east1"]\n[cache]\nenabled = false\n'
    with pytest.raises(ConfigurationError, match=r"models\[resnet\]\.regions = \['us-east1'\]: a GKE model runs in the cluster's region \(europe-west1\)"):
        _stack(gke_model(extra='regions = ["us-east1"]\n'), environment=environment)


# -- snapshots ---------------------------------------------------------------------------------

def test_snapshot_single_gpu_model_with_static_content(built, snapshot_json):
    _, cluster, serving = built
    assert {"ml-serving-dev-cluster": cluster, "ml-serving-dev": serving} == snapshot_json


def test_snapshot_two_models_https_cloud_armor(snapshot_json):
    stack = _stack(
        gke_model(gke='cpu = "2"\nmemory = "8Gi"\n')
        + gke_model("bert", scaling="min_replicas = 1\nmax_replicas = 6\ncpu_target = 0.7\n"),
        environment=ENVIRONMENT + STATIC + '[load_balancer]\ndomains = ["models.example.com"]\n[cloud_armor]\nenabled = true\n',
    )
    assert {s.node.id: synth(s) for s in stack.stacks} == snapshot_json


# -- Terraform in the loop ---------------------------------------------------------------------

def test_terraform_validates_and_plans_both_stacks(tmp_path):
    from tools.tfdouble import harness

    if not harness.terraform_available():
        pytest.skip(harness.UNAVAILABLE_REASON)
    cluster_json, serving_json = _stacks(_stack())
    cluster_plan = harness.check_stack(cluster_json, tmp_path / "cluster")
    assert cluster_plan.counts["add"] == sum(len(v) for v in cluster_json["resource"].values())
    assert harness.validate(serving_json, tmp_path / "serving-validate")["valid"] is True
    # The kubernetes provider decodes the cluster CA with base64decode(); the double's fake
    # certificates are base64 PEM, so the plan runs on the JSON exactly as synthesized.
    serving_plan = harness.check_stack(serving_json, tmp_path / "serving")
    assert serving_plan.counts["add"] == sum(len(v) for v in serving_json["resource"].values())
    types = {rc["type"] for rc in serving_plan.plan["resource_changes"]}
    assert {"kubernetes_deployment_v1", "kubernetes_service_v1", "google_compute_backend_service"} <= types
