import json

import pytest
from pydantic import ValidationError

from constructs_lib._google import compute_backend_service
from constructs_lib.errors import ConfigurationError
from constructs_lib.gke import ClusterSpec, NodePoolSpec, ServingCluster
from constructs_lib.interfaces import CacheConnection, NetworkEndpointGroupTarget
from constructs_lib.model_store import ModelStore
from constructs_lib.model_workload import ClusterAccess, ModelWorkload, WorkloadSpec, cpu_millis, memory_mib
from constructs_lib.naming import Naming
from constructs_lib.network import ServingNetwork
from tests.conftest import TEST_PROJECT, new_stack, only_resource, resource_by_path, resources, synth

IMAGE = "europe-docker.pkg.dev/test-project-123/models/server:1.4"
ZONES = ("europe-west1-b", "europe-west1-c", "europe-west1-d")


def _setup(stack, naming, cluster_spec=None):
    network = ServingNetwork(stack, "network", naming=naming, regions=["europe-west1"])
    cluster = ServingCluster(stack, "cluster", network=network, naming=naming, project_id=TEST_PROJECT,
                             region="europe-west1", spec=cluster_spec)
    store = ModelStore(stack, "models", naming=naming)
    return cluster, store


def _workload(stack, naming, cluster=None, store=None, pool=None, id_="workload", cache=None, **spec):
    if cluster is None:
        cluster, store = _setup(stack, naming)
    spec.setdefault("name", "resnet")
    spec.setdefault("image", IMAGE)
    return ModelWorkload(
        stack, id_, cluster=cluster, pool=pool or cluster.model_pool, naming=naming, model_store=store,
        cache=cache, spec=WorkloadSpec(**spec),
    )


def _container(out):
    return only_resource(out, "kubernetes_deployment_v1")["spec"]["template"]["spec"]["container"][0]


@pytest.fixture
def default_out(stack, naming):
    cluster, store = _setup(stack, naming)
    ClusterAccess(stack, "kubernetes", cluster=cluster)
    _workload(stack, naming, cluster, store)
    return synth(stack)


# -- provider ----------------------------------------------------------------------------------

def test_kubernetes_provider_reads_the_cluster_through_a_data_source(default_out):
    found = only_resource({"resource": default_out["data"]}, "google_container_cluster")
    assert found == {"name": "ml-test-gke", "location": "europe-west1", "project": TEST_PROJECT}
    assert "google_client_config" in default_out["data"]
    provider = default_out["provider"]["kubernetes"][0]
    assert provider["host"].startswith("https://${data.google_container_cluster.kubernetes_cluster_")
    assert provider["host"].endswith(".endpoint}")
    assert provider["cluster_ca_certificate"].startswith("${base64decode(data.google_container_cluster.kubernetes_cluster_")
    assert provider["cluster_ca_certificate"].endswith(".master_auth[0].cluster_ca_certificate)}")
    assert provider["token"].startswith("${data.google_client_config.kubernetes_client-config_")
    assert provider["token"].endswith(".access_token}")
    assert provider["ignore_annotations"] == [r"^cloud\.google\.com\/neg-status$"]


def test_kubernetes_provider_can_use_the_cluster_resource(stack, naming):
    cluster, _ = _setup(stack, naming)
    ClusterAccess(stack, "kubernetes", cluster=cluster, source="resource")
    out = synth(stack)
    provider = out["provider"]["kubernetes"][0]
    assert provider["host"].startswith("https://${google_container_cluster.cluster_default_")
    assert "base64decode(google_container_cluster.cluster_default_" in provider["cluster_ca_certificate"]
    assert "google_container_cluster" not in out.get("data", {})


def test_fails_when_cluster_access_source_is_unknown(stack, naming):
    cluster, _ = _setup(stack, naming)
    with pytest.raises(ConfigurationError, match=r"source = 'kubeconfig': must be 'data' or 'resource'"):
        ClusterAccess(stack, "kubernetes", cluster=cluster, source="kubeconfig")


# -- deployment defaults -----------------------------------------------------------------------

def test_deployment_defaults(default_out):
    deployment = only_resource(default_out, "kubernetes_deployment_v1")
    assert deployment["metadata"]["name"] == "resnet"
    assert "kubernetes_namespace_v1.workload_namespace" in deployment["metadata"]["namespace"]
    assert deployment["wait_for_rollout"] is True
    assert deployment["timeouts"] == {"create": "30m", "update": "30m"}
    assert deployment["lifecycle"] == {"ignore_changes": ["spec[0].replicas"]}
    assert [d.split(".")[0] for d in deployment["depends_on"]] == [
        "kubernetes_service_v1", "google_service_account_iam_member", "google_storage_bucket_iam_member",
    ]
    spec = deployment["spec"]
    assert spec["replicas"] == "2"
    assert spec["progress_deadline_seconds"] == 1200
    assert spec["strategy"] == {"type": "RollingUpdate", "rolling_update": {"max_surge": "1", "max_unavailable": "0"}}
    selector = {"app.kubernetes.io/name": "resnet", "app.kubernetes.io/instance": "ml-test-resnet"}
    assert spec["selector"] == {"match_labels": selector}
    assert spec["template"]["metadata"]["labels"] == {
        **selector, "app.kubernetes.io/part-of": "ml-test", "app.kubernetes.io/managed-by": "cdktf",
    }


def test_pods_land_on_the_gpu_pool_only(default_out):
    pod = only_resource(default_out, "kubernetes_deployment_v1")["spec"]["template"]["spec"]
    assert pod["node_selector"] == {"cloud.google.com/gke-nodepool": "model"}
    assert pod["toleration"] == [{"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}]
    assert pod["topology_spread_constraint"][0]["topology_key"] == "topology.kubernetes.io/zone"
    assert pod["topology_spread_constraint"][0]["when_unsatisfiable"] == "ScheduleAnyway"


def test_resources_requests_equal_limits_with_the_pools_gpus(default_out):
    resources_ = _container(default_out)["resources"]
    expected = {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"}
    assert resources_ == {"requests": expected, "limits": expected}


def test_probes_on_the_health_path(default_out):
    container = _container(default_out)
    http = {"path": "/healthz", "port": "http"}
    assert container["startup_probe"] == {"http_get": http, "period_seconds": 10, "timeout_seconds": 5, "failure_threshold": 90}
    assert container["readiness_probe"] == {
        "http_get": http, "period_seconds": 10, "timeout_seconds": 5, "failure_threshold": 3, "success_threshold": 1,
    }
    assert container["liveness_probe"] == {"http_get": http, "period_seconds": 20, "timeout_seconds": 5, "failure_threshold": 3}
    assert container["port"] == [{"name": "http", "container_port": 8080, "protocol": "TCP"}]


def test_pod_runs_non_root_read_only_without_privileges(default_out):
    pod = only_resource(default_out, "kubernetes_deployment_v1")["spec"]["template"]["spec"]
    assert pod["automount_service_account_token"] is False
    assert pod["security_context"] == {
        "run_as_non_root": True, "run_as_user": "1000", "run_as_group": "1000", "fs_group": "1000",
        "seccomp_profile": {"type": "RuntimeDefault"},
    }
    assert pod["container"][0]["security_context"] == {
        "run_as_non_root": True, "run_as_user": "1000", "run_as_group": "1000", "read_only_root_filesystem": True,
        "allow_privilege_escalation": False, "privileged": False, "capabilities": {"drop": ["ALL"]},
        "seccomp_profile": {"type": "RuntimeDefault"},
    }
    assert pod["volume"] == [
        {"name": "tmp", "empty_dir": {"size_limit": "1Gi"}},
        {"name": "model-cache", "empty_dir": {"size_limit": "20Gi"}},
    ]
    assert pod["container"][0]["volume_mount"] == [
        {"name": "tmp", "mount_path": "/tmp"}, {"name": "model-cache", "mount_path": "/models"},
    ]
    assert pod["termination_grace_period_seconds"] == 60
    assert "kubernetes_service_account_v1.workload_service-account" in pod["service_account_name"]


def test_env_carries_the_model_uri_and_port(default_out):
    container = _container(default_out)
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env == {
        "MODEL_URI": "gs://${google_storage_bucket.models_default_35540A87.name}/resnet/",
        "MODEL_DIR": "/models", "PORT": "8080",
    }
    assert container["image"] == IMAGE
    assert container["image_pull_policy"] == "Always"


# -- identity ----------------------------------------------------------------------------------

def test_workload_identity_binds_the_kubernetes_sa_to_a_google_sa(default_out):
    account = resource_by_path(default_out, "google_service_account", "workload/identity")
    assert account["account_id"] == "ml-test-resnet-wi"
    assert account["project"] == TEST_PROJECT
    binding = only_resource(default_out, "google_service_account_iam_member")
    assert binding["role"] == "roles/iam.workloadIdentityUser"
    assert binding["member"] == f"serviceAccount:{TEST_PROJECT}.svc.id.goog[serving/resnet]"
    assert binding["service_account_id"].endswith(".name}")
    ksa = only_resource(default_out, "kubernetes_service_account_v1")
    assert ksa["metadata"]["name"] == "resnet"
    (annotation,) = ksa["metadata"]["annotations"].items()
    assert annotation[0] == "iam.gke.io/gcp-service-account"
    assert annotation[1].startswith("${google_service_account.workload_identity_") and annotation[1].endswith(".email}")
    assert ksa["automount_service_account_token"] is False


def test_google_sa_reads_the_model_bucket(default_out):
    grant = only_resource(default_out, "google_storage_bucket_iam_member")
    assert grant["role"] == "roles/storage.objectViewer"
    assert grant["member"].startswith("${google_service_account.workload_identity_") and grant["member"].endswith(".member}")


def test_namespace_enforces_restricted_pod_security(default_out):
    namespace = only_resource(default_out, "kubernetes_namespace_v1")
    assert namespace["metadata"] == {
        "name": "serving",
        "labels": {
            "app.kubernetes.io/part-of": "ml-test", "app.kubernetes.io/managed-by": "cdktf",
            "pod-security.kubernetes.io/enforce": "restricted",
        },
    }


# -- service, NEGs, autoscaling ----------------------------------------------------------------

def test_service_exposes_standalone_negs_with_a_stable_name(default_out):
    service = only_resource(default_out, "kubernetes_service_v1")
    annotation = json.loads(service["metadata"]["annotations"]["cloud.google.com/neg"])
    assert annotation == {"exposed_ports": {"8080": {"name": "ml-test-neg-resnet"}}}
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["port"] == [{"name": "http", "port": 8080, "target_port": "http", "protocol": "TCP"}]
    assert service["spec"]["selector"] == {"app.kubernetes.io/name": "resnet", "app.kubernetes.io/instance": "ml-test-resnet"}


def test_negs_are_a_load_balancer_target_per_cluster_zone(stack, naming):
    workload = _workload(stack, naming)
    assert isinstance(workload.negs, NetworkEndpointGroupTarget)
    assert workload.negs.network_endpoint_groups == tuple(
        f"projects/{TEST_PROJECT}/zones/{zone}/networkEndpointGroups/ml-test-neg-resnet" for zone in ZONES
    )
    assert workload.negs.port == 8080 and workload.negs.zones == ZONES


def test_add_dependent_orders_a_resource_after_service_and_rollout(stack, naming):
    workload = _workload(stack, naming)
    backend = compute_backend_service.ComputeBackendService(stack, "backend", name="b")
    workload.add_dependent(backend)
    workload.add_dependent(backend)  # idempotent
    depends_on = only_resource(synth(stack), "google_compute_backend_service")["depends_on"]
    assert [d.split(".")[0] for d in depends_on] == ["kubernetes_service_v1", "kubernetes_deployment_v1"]
    assert all(not d.startswith("${") for d in depends_on)


def test_autoscaler_and_disruption_budget(default_out):
    hpa = only_resource(default_out, "kubernetes_horizontal_pod_autoscaler_v2")["spec"]
    assert hpa["min_replicas"] == 2 and hpa["max_replicas"] == 6
    assert hpa["scale_target_ref"]["kind"] == "Deployment" and hpa["scale_target_ref"]["api_version"] == "apps/v1"
    assert hpa["metric"] == [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "average_utilization": 70}}}]
    assert hpa["behavior"]["scale_down"][0]["stabilization_window_seconds"] == 300
    pdb = only_resource(default_out, "kubernetes_pod_disruption_budget_v1")["spec"]
    assert pdb == {
        "max_unavailable": "1",
        "selector": {"match_labels": {"app.kubernetes.io/name": "resnet", "app.kubernetes.io/instance": "ml-test-resnet"}},
    }


# -- options -----------------------------------------------------------------------------------

def test_options(stack, naming):
    cache = CacheConnection(host="10.0.0.5", port="6378", auth_secret="projects/p/secrets/auth/versions/1", tls=True,
                            ca_secret="projects/p/secrets/ca/versions/1", read_host="10.0.0.6")
    _workload(
        stack, naming, cache=cache, name="llama", namespace="models", create_namespace=False, port=9000,
        health_path="/ready", replicas=3, min_replicas=2, max_replicas=8, target_cpu_utilization=50,
        cpu="2", memory="8Gi", cpu_limit="4", memory_limit="12Gi", model_path="llama/v3/", model_cache_size="40Gi",
        startup_timeout_sec=1800, pdb_max_unavailable=2, run_as_user=65532, neg_name="llama-neg",
        service_account_id="llama-pods", env={"LOG_LEVEL": "debug"}, args=("--max-batch", "8"),
        image="europe-docker.pkg.dev/p/r/server@sha256:" + "a" * 64,
    )
    out = synth(stack)
    assert not resources(out, "kubernetes_namespace_v1")
    deployment = only_resource(out, "kubernetes_deployment_v1")
    assert deployment["metadata"]["namespace"] == "models"
    assert deployment["timeouts"] == {"create": "45m", "update": "45m"}
    container = deployment["spec"]["template"]["spec"]["container"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["MODEL_URI"].endswith("/llama/v3/")
    assert env["PORT"] == "9000" and env["LOG_LEVEL"] == "debug"
    assert (env["CACHE_HOST"], env["CACHE_PORT"], env["CACHE_TLS"], env["CACHE_READ_HOST"]) == ("10.0.0.5", "6378", "true", "10.0.0.6")
    assert env["CACHE_AUTH_SECRET"] == "projects/p/secrets/auth/versions/1"
    assert env["CACHE_CA_SECRET"] == "projects/p/secrets/ca/versions/1"
    assert container["args"] == ["--max-batch", "8"]
    assert container["image_pull_policy"] == "IfNotPresent"
    assert container["resources"]["requests"] == {"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": "1"}
    assert container["resources"]["limits"] == {"cpu": "4", "memory": "12Gi", "nvidia.com/gpu": "1"}
    assert container["readiness_probe"]["http_get"] == {"path": "/ready", "port": "http"}
    assert container["startup_probe"]["failure_threshold"] == 180
    assert container["security_context"]["run_as_user"] == "65532"
    assert deployment["spec"]["replicas"] == "3"
    service = only_resource(out, "kubernetes_service_v1")
    assert json.loads(service["metadata"]["annotations"]["cloud.google.com/neg"]) == {"exposed_ports": {"9000": {"name": "llama-neg"}}}
    assert resource_by_path(out, "google_service_account", "workload/identity")["account_id"] == "llama-pods"
    assert only_resource(out, "google_service_account_iam_member")["member"] == f"serviceAccount:{TEST_PROJECT}.svc.id.goog[models/llama]"
    assert only_resource(out, "kubernetes_horizontal_pod_autoscaler_v2")["spec"]["max_replicas"] == 8
    assert only_resource(out, "kubernetes_pod_disruption_budget_v1")["spec"]["max_unavailable"] == "2"


def test_workload_can_reference_another_workloads_namespace(stack, naming):
    cluster, store = _setup(stack, naming)
    first = _workload(stack, naming, cluster, store, name="resnet", cpu="2", memory="8Gi")
    second = ModelWorkload(stack, "bert", cluster=cluster, pool=cluster.model_pool, naming=naming, model_store=store,
                           namespace=first.namespace_resource, spec=WorkloadSpec(name="bert", image=IMAGE, cpu="2", memory="8Gi"))
    out = synth(stack)
    assert len(resources(out, "kubernetes_namespace_v1")) == 1
    assert second.namespace_resource is None
    bert = resource_by_path(out, "kubernetes_deployment_v1", "bert/deployment")
    assert bert["metadata"]["namespace"].startswith("${kubernetes_namespace_v1.workload_namespace_")


def test_fails_when_namespace_is_not_a_namespace_resource(stack, naming):
    cluster, store = _setup(stack, naming)
    with pytest.raises(ConfigurationError, match=r"workloads\[resnet\]\.namespace = 'str': must be a kubernetes_namespace_v1 resource"):
        ModelWorkload(stack, "w", cluster=cluster, pool=cluster.model_pool, naming=naming, model_store=store,
                      namespace="serving", spec=WorkloadSpec(name="resnet", image=IMAGE))


def test_cpu_pool_workload_has_no_gpu_and_no_gpu_toleration(stack, naming):
    cluster, store = _setup(stack, naming, ClusterSpec(model_pool=NodePoolSpec(name="cpu", machine_type="n2-standard-8")))
    workload = _workload(stack, naming, cluster, store, cpu="2", memory="4Gi")
    out = synth(stack)
    pod = only_resource(out, "kubernetes_deployment_v1")["spec"]["template"]["spec"]
    assert "toleration" not in pod
    assert pod["container"][0]["resources"]["requests"] == {"cpu": "2", "memory": "4Gi"}
    assert workload.gpus == 0


def test_requests_are_not_checked_on_machine_types_outside_the_table(stack, naming):
    pool = NodePoolSpec(name="a100", machine_type="a2-highgpu-1g", gpu={"type": "nvidia-tesla-a100", "skip_region_check": True})
    cluster, store = _setup(stack, naming, ClusterSpec(model_pool=pool))
    workload = _workload(stack, naming, cluster, store, cpu="64", memory="900Gi")
    assert workload.gpus == 1


def test_quantities():
    assert cpu_millis("500m") == 500 and cpu_millis("2") == 2000 and cpu_millis("1.5") == 1500
    assert memory_mib("16Gi") == 16384 and memory_mib("512Mi") == 512 and memory_mib("1G") == pytest.approx(953.674, rel=1e-4)


# -- validation --------------------------------------------------------------------------------

def test_fails_when_cpu_request_exceeds_the_pool_machine(stack, naming):
    with pytest.raises(ConfigurationError, match=r"workloads\[resnet\]\.cpu = '8': exceeds what a pod can request on g2-standard-8 \(node pool 'model'\): 7710m"):
        _workload(stack, naming, cpu="8")


def test_fails_when_memory_request_exceeds_the_pool_machine(stack, naming):
    with pytest.raises(ConfigurationError, match=r"workloads\[resnet\]\.memory = '30Gi': exceeds what a pod can request on g2-standard-8 \(node pool 'model'\): 28510Mi"):
        _workload(stack, naming, memory="30Gi")


def test_fails_when_more_gpus_than_a_node_has(stack, naming):
    with pytest.raises(ConfigurationError, match=r"workloads\[resnet\]\.gpus = 2: node pool 'model' has 1 x nvidia-l4 per node"):
        _workload(stack, naming, gpus=2)


def test_fails_when_gpus_on_a_cpu_pool(stack, naming):
    cluster, store = _setup(stack, naming, ClusterSpec(model_pool=NodePoolSpec(name="cpu", machine_type="n2-standard-8")))
    with pytest.raises(ConfigurationError, match=r"workloads\[resnet\]\.gpus = 1: node pool 'cpu' \(n2-standard-8\) has no GPUs"):
        _workload(stack, naming, cluster, store, gpus=1, cpu="2", memory="4Gi")


def test_fails_when_neg_names_collide(stack, naming):
    cluster, store = _setup(stack, naming)
    _workload(stack, naming, cluster, store, name="resnet")
    with pytest.raises(ConfigurationError, match=r"workloads\[bert\]\.neg_name = 'ml-test-neg-resnet': is already used by test/workload"):
        _workload(stack, naming, cluster, store, name="bert", id_="bert", neg_name="ml-test-neg-resnet", create_namespace=False)


def test_fails_when_neg_names_collide_across_stacks_of_one_app(naming):
    first = new_stack()
    cluster, store = _setup(first, naming)
    _workload(first, naming, cluster, store)
    second = type(first)(first.node.scope, "second")
    cluster2, store2 = _setup(second, Naming(app="ml", env="test2"))
    with pytest.raises(ConfigurationError, match=r"neg_name = 'ml-test-neg-resnet': is already used by test/workload"):
        _workload(second, naming, cluster2, store2, neg_name="ml-test-neg-resnet")


def test_fails_when_neg_name_is_not_a_gcp_name():
    with pytest.raises(ValidationError, match=r"neg_name\n.*must match \^\[a-z\]"):
        WorkloadSpec(image=IMAGE, neg_name="Resnet_NEG")


def test_fails_when_pool_is_not_of_the_cluster(stack, naming):
    cluster, store = _setup(stack, naming)
    other = new_stack()
    other_cluster, _ = _setup(other, naming)
    with pytest.raises(ConfigurationError, match=r"workloads\[resnet\]\.node_pool = 'model': must be a node pool of cluster ml-test-gke"):
        _workload(stack, naming, cluster, store, pool=other_cluster.model_pool)


def test_fails_when_max_replicas_below_min():
    with pytest.raises(ValidationError, match=r"max_replicas \(1\) must be >= min_replicas \(2\)"):
        WorkloadSpec(image=IMAGE, max_replicas=1)


def test_fails_when_replicas_outside_the_autoscaler_range():
    with pytest.raises(ValidationError, match=r"replicas \(9\) must be between min_replicas \(2\) and max_replicas \(6\)"):
        WorkloadSpec(image=IMAGE, replicas=9)


def test_fails_when_limit_is_below_request():
    with pytest.raises(ValidationError, match=r"memory_limit \(8Gi\) must be >= memory \(16Gi\)"):
        WorkloadSpec(image=IMAGE, memory_limit="8Gi")
    with pytest.raises(ValidationError, match=r"cpu_limit \(2\) must be >= cpu \(4\)"):
        WorkloadSpec(image=IMAGE, cpu_limit="2")


@pytest.mark.parametrize(("field", "value", "message"), [
    ("cpu", "two", r"must be a Kubernetes CPU quantity"),
    ("cpu", "0.0001", r"must be a positive whole number of millicores"),
    ("memory", "16GB", r"must be a Kubernetes memory quantity"),
    ("health_path", "health", r"must start with /"),
    ("env", {"MODEL_URI": "x"}, r"'MODEL_URI' is set by the construct"),
    ("env", {"1BAD": "x"}, r"is not an environment variable name"),
    ("port", 80, r"greater than or equal to 1024"),
    ("image", "my image", r"must be a container image reference"),
    ("model_path", "../other/", r"must be a relative object path"),
    ("service_account_id", "wi", r"must be 6-30 characters"),
])
def test_fails_when_workload_field_is_bad(field, value, message):
    with pytest.raises(ValidationError, match=message):
        WorkloadSpec(**{"image": IMAGE, field: value})


# -- snapshot ----------------------------------------------------------------------------------

def test_snapshot_gpu_workload(stack, naming, snapshot_json):
    cluster, store = _setup(stack, naming)
    ClusterAccess(stack, "kubernetes", cluster=cluster)
    _workload(stack, naming, cluster, store)
    out = synth(stack)
    # Only the Kubernetes side and the identity: the cluster has its own snapshot (test_gke).
    kept = {k: v for k, v in out["resource"].items() if k.startswith(("kubernetes_", "google_service_account", "google_storage_bucket_iam"))}
    assert {"provider": out["provider"], "data": out["data"], "resource": kept} == snapshot_json
