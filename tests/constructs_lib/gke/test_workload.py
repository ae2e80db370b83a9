import json

import pytest

from constructs_lib.edge.load_balancer import GlobalLoadBalancer
from constructs_lib.errors import ConfigurationError
from constructs_lib.gke.access import ClusterAccess
from constructs_lib.gke.cluster import ServingCluster
from constructs_lib.gke.workload import ModelWorkload
from constructs_lib.interfaces import BackendTarget, CacheConnection, Grantee
from constructs_lib.model_store import ModelStore
from constructs_lib.naming import Naming
from constructs_lib.network import ServingNetwork
from constructs_lib.serving import ModelServing, _node_pool
from constructs_lib.specs.gke import GkeClusterSpec, GkeRuntimeSpec, NodeGpuSpec, NodePoolSpec, cpu_millis, memory_mib
from constructs_lib.specs.model import AcceleratorSpec, ModelSpec
from constructs_lib.specs.network import NetworkSpec
from constructs_lib.specs.scaling import ScalingSpec
from tests.conftest import TEST_PROJECT, new_stack, only_resource, resource_by_path, resources, synth

IMAGE = "europe-docker.pkg.dev/test-project-123/models/server:1.4"
ZONES = ("europe-west1-b", "europe-west1-c", "europe-west1-d")
L4 = AcceleratorSpec(type="nvidia-l4")
CPU_POOL = NodePoolSpec(name="cpu", machine_type="n2-standard-8")

OLD_DEFAULTS = {
    "startup_timeout_sec": 900,
    "model_path": "resnet/",
    "scaling": ScalingSpec(min_replicas=2, max_replicas=6, cpu_target=0.7),
}
"""What a GKE model got before the model spec was shared with VM fleets (the snapshot keeps them)."""


def _setup(stack, naming, cluster_spec=None, network_spec=None):
    network = ServingNetwork(stack, "network", naming=naming, regions=["europe-west1"], spec=network_spec)
    cluster = ServingCluster(stack, "cluster", network=network, naming=naming, project_id=TEST_PROJECT,
                             region="europe-west1", spec=cluster_spec)
    store = ModelStore(stack, "models", naming=naming, project_id=TEST_PROJECT)
    return cluster, store


def _model(*, gke=None, **fields):
    """A GKE model: resnet on IMAGE with one L4 unless ``accelerator`` says otherwise."""
    fields.setdefault("name", "resnet")
    fields.setdefault("image", IMAGE)
    fields.setdefault("accelerator", L4)
    return ModelSpec(runtime="gke", gke=GkeRuntimeSpec(**(gke or {})), **fields)


def _workload(stack, naming, cluster=None, store=None, pool=None, id_="workload", cache=None, namespace=None, **model):
    if cluster is None:
        cluster, store = _setup(stack, naming)
    return ModelWorkload(
        stack, id_, cluster=cluster, pool=pool or cluster.model_pool, naming=naming, model_store=store,
        cache=cache, namespace=namespace, model=_model(**model),
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
    # startup_timeout_sec (600) + 15 minutes of image pull and node scale-up.
    assert deployment["timeouts"] == {"create": "25m", "update": "25m"}
    assert deployment["lifecycle"] == {"ignore_changes": ["spec[0].replicas"]}
    assert [d.split(".")[0] for d in deployment["depends_on"]] == [
        "kubernetes_service_v1", "google_service_account_iam_member", "google_storage_bucket_iam_member",
    ]
    spec = deployment["spec"]
    assert spec["replicas"] == "1"  # scaling.min_replicas
    assert spec["progress_deadline_seconds"] == 900  # startup_timeout_sec + 300
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
    # The startup probe allows startup_timeout_sec (600 s) in 10 s periods.
    assert container["startup_probe"] == {"http_get": http, "period_seconds": 10, "timeout_seconds": 5, "failure_threshold": 60}
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
        "MODEL_URI": "gs://${google_storage_bucket.models_default_35540A87.name}/resnet",
        "MODEL_DIR": "/models", "PORT": "8080",
    }
    assert container["image"] == IMAGE
    assert container["image_pull_policy"] == "Always"
    assert "command" not in container and "args" not in container


def test_command_is_passed_to_the_container_when_set(stack, naming):
    _workload(stack, naming, command=("python", "-m", "server"), args=("--port", "8080"))
    container = _container(synth(stack))
    assert container["command"] == ["python", "-m", "server"]
    assert container["args"] == ["--port", "8080"]


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


def test_workload_is_a_grantee_with_its_identity(stack, naming):
    workload = _workload(stack, naming)
    assert isinstance(workload, Grantee)
    assert workload.iam_member == workload.identity.iam_member
    assert workload.identity_email == workload.identity.email
    assert workload.read_grant.member == workload.iam_member
    assert workload.read_grant.roles == ("roles/storage.objectViewer",)
    assert workload.read_grant.resources[0].terraform_resource_type == "google_storage_bucket_iam_member"


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
    negs = workload.negs
    assert isinstance(negs, BackendTarget)
    assert workload.backend_targets == [negs]
    assert negs.network_endpoint_groups == tuple(
        f"projects/{TEST_PROJECT}/zones/{zone}/networkEndpointGroups/ml-test-neg-resnet" for zone in ZONES
    )
    assert negs.port == 8080 and negs.zones == ZONES
    assert negs.backend_kind == "network-endpoint-group" and negs.port_name == "http"
    assert negs.location == "cluster ml-test-gke"
    # The workload opened the health-check firewall for its port on the cluster's nodes.
    assert negs.admits_health_checks(8080) and not negs.admits_health_checks(9000)


def test_backend_service_waits_for_service_and_rollout(stack, naming):
    workload = _workload(stack, naming)
    lb = GlobalLoadBalancer(stack, "lb", naming=naming)
    lb.add_backend_service("resnet", targets=workload.backend_targets, health_path=workload.model.health_path)
    out = synth(stack)
    backend = only_resource(out, "google_compute_backend_service")
    depends_on = backend["depends_on"]
    assert [d.split(".")[0] for d in depends_on] == ["kubernetes_service_v1", "kubernetes_deployment_v1"]
    assert all(not d.startswith("${") for d in depends_on)
    assert [b["group"] for b in backend["backend"]] == list(workload.negs.network_endpoint_groups)
    assert {b["balancing_mode"] for b in backend["backend"]} == {"RATE"}


def test_autoscaler_and_disruption_budget(default_out):
    hpa = only_resource(default_out, "kubernetes_horizontal_pod_autoscaler_v2")["spec"]
    assert hpa["min_replicas"] == 1 and hpa["max_replicas"] == 10
    assert hpa["scale_target_ref"]["kind"] == "Deployment" and hpa["scale_target_ref"]["api_version"] == "apps/v1"
    # scaling.cpu_target 0.6 -> averageUtilization 60 (percent of the CPU request).
    assert hpa["metric"] == [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "average_utilization": 60}}}]
    assert hpa["behavior"]["scale_down"][0]["stabilization_window_seconds"] == 300
    pdb = only_resource(default_out, "kubernetes_pod_disruption_budget_v1")["spec"]
    assert pdb == {
        "max_unavailable": "1",
        "selector": {"match_labels": {"app.kubernetes.io/name": "resnet", "app.kubernetes.io/instance": "ml-test-resnet"}},
    }


def test_autoscaler_follows_the_models_scaling(stack, naming):
    _workload(stack, naming, scaling=ScalingSpec(min_replicas=3, max_replicas=12, cpu_target=0.55, scale_down_stabilization_sec=600))
    out = synth(stack)
    hpa = only_resource(out, "kubernetes_horizontal_pod_autoscaler_v2")["spec"]
    assert (hpa["min_replicas"], hpa["max_replicas"]) == (3, 12)
    assert hpa["metric"][0]["resource"]["target"]["average_utilization"] == 55
    assert hpa["behavior"]["scale_down"][0]["stabilization_window_seconds"] == 600
    # The Deployment starts at the autoscaler's floor: never below it while the HPA takes over.
    assert only_resource(out, "kubernetes_deployment_v1")["spec"]["replicas"] == "3"


# -- options -----------------------------------------------------------------------------------

def test_options(stack, naming):
    cache = CacheConnection(host="10.0.0.5", port="6378", auth_secret="projects/p/secrets/auth/versions/1", tls=True,
                            ca_secret="projects/p/secrets/ca/versions/1", read_host="10.0.0.6")
    _workload(
        stack, naming, cache=cache, name="llama", port=9000, health_path="/ready",
        scaling=ScalingSpec(min_replicas=3, max_replicas=8, cpu_target=0.5),
        model_path="llama/v3/", startup_timeout_sec=1800, env={"LOG_LEVEL": "debug"}, args=("--max-batch", "8"),
        image="europe-docker.pkg.dev/p/r/server@sha256:" + "a" * 64,
        gke={
            "namespace": "models", "create_namespace": False, "cpu": "2", "memory": "8Gi", "cpu_limit": "4",
            "memory_limit": "12Gi", "model_cache_size": "40Gi", "pdb_max_unavailable": 2, "run_as_user": 65532,
            "neg_name": "llama-neg", "service_account_id": "llama-pods", "termination_grace_period_sec": 120,
        },
    )
    out = synth(stack)
    assert not resources(out, "kubernetes_namespace_v1")
    deployment = only_resource(out, "kubernetes_deployment_v1")
    assert deployment["metadata"]["namespace"] == "models"
    assert deployment["timeouts"] == {"create": "45m", "update": "45m"}
    pod = deployment["spec"]["template"]["spec"]
    container = pod["container"][0]
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
    assert pod["termination_grace_period_seconds"] == 120
    assert {"name": "model-cache", "empty_dir": {"size_limit": "40Gi"}} in pod["volume"]
    assert deployment["spec"]["replicas"] == "3"
    service = only_resource(out, "kubernetes_service_v1")
    assert json.loads(service["metadata"]["annotations"]["cloud.google.com/neg"]) == {"exposed_ports": {"9000": {"name": "llama-neg"}}}
    assert resource_by_path(out, "google_service_account", "workload/identity")["account_id"] == "llama-pods"
    assert only_resource(out, "google_service_account_iam_member")["member"] == f"serviceAccount:{TEST_PROJECT}.svc.id.goog[models/llama]"
    hpa = only_resource(out, "kubernetes_horizontal_pod_autoscaler_v2")["spec"]
    assert (hpa["min_replicas"], hpa["max_replicas"]) == (3, 8)
    assert hpa["metric"][0]["resource"]["target"]["average_utilization"] == 50
    assert only_resource(out, "kubernetes_pod_disruption_budget_v1")["spec"]["max_unavailable"] == "2"


def test_resources_can_use_an_aliased_kubernetes_provider(stack, naming):
    cluster, store = _setup(stack, naming)
    access = ClusterAccess(stack, "kubernetes", cluster=cluster, alias="serving")
    ModelWorkload(stack, "workload", cluster=cluster, pool=cluster.model_pool, naming=naming, model_store=store,
                  model=_model(), provider=access.provider)
    out = synth(stack)
    assert out["provider"]["kubernetes"][0]["alias"] == "serving"
    for kind in ("kubernetes_namespace_v1", "kubernetes_service_account_v1", "kubernetes_service_v1", "kubernetes_deployment_v1",
                 "kubernetes_horizontal_pod_autoscaler_v2", "kubernetes_pod_disruption_budget_v1"):
        assert only_resource(out, kind)["provider"] == "kubernetes.serving"


def test_port_defaults_to_the_networks_serving_port(stack, naming):
    cluster, store = _setup(stack, naming, network_spec=NetworkSpec(serving_port=8500))
    workload = _workload(stack, naming, cluster, store)
    assert workload.port == 8500 and workload.negs.port == 8500
    assert _container(synth(stack))["port"] == [{"name": "http", "container_port": 8500, "protocol": "TCP"}]


def test_workload_can_reference_another_workloads_namespace(stack, naming):
    cluster, store = _setup(stack, naming)
    first = _workload(stack, naming, cluster, store, name="resnet", gke={"cpu": "2", "memory": "8Gi"})
    second = _workload(stack, naming, cluster, store, id_="bert", namespace=first.namespace_resource,
                       name="bert", gke={"cpu": "2", "memory": "8Gi"})
    out = synth(stack)
    assert len(resources(out, "kubernetes_namespace_v1")) == 1
    assert second.namespace_resource is None
    bert = resource_by_path(out, "kubernetes_deployment_v1", "bert/deployment")
    assert bert["metadata"]["namespace"].startswith("${kubernetes_namespace_v1.workload_namespace_")


def test_fails_when_shared_namespace_has_another_name(stack, naming):
    cluster, store = _setup(stack, naming)
    first = _workload(stack, naming, cluster, store, name="resnet", gke={"cpu": "2", "memory": "8Gi"})
    with pytest.raises(ConfigurationError, match=r"models\[bert\]\.gke\.namespace = 'models': must be the name of the shared namespace resource \('serving'\)"):
        _workload(stack, naming, cluster, store, id_="bert", namespace=first.namespace_resource,
                  name="bert", gke={"cpu": "2", "memory": "8Gi", "namespace": "models"})


def test_fails_when_namespace_is_not_a_namespace_resource(stack, naming):
    cluster, store = _setup(stack, naming)
    with pytest.raises(ConfigurationError, match=r"models\[resnet\]\.gke\.namespace = 'str': must be a kubernetes_namespace_v1 resource"):
        _workload(stack, naming, cluster, store, id_="w", namespace="serving")


def test_cpu_pool_workload_has_no_gpu_and_no_gpu_toleration(stack, naming):
    cluster, store = _setup(stack, naming, GkeClusterSpec(model_pool=CPU_POOL))
    workload = _workload(stack, naming, cluster, store, accelerator=None, gke={"cpu": "2", "memory": "4Gi"})
    out = synth(stack)
    pod = only_resource(out, "kubernetes_deployment_v1")["spec"]["template"]["spec"]
    assert "toleration" not in pod
    assert pod["node_selector"] == {"cloud.google.com/gke-nodepool": "cpu"}
    assert pod["container"][0]["resources"]["requests"] == {"cpu": "2", "memory": "4Gi"}
    assert workload.gpus == 0


def test_cpu_model_on_a_gpu_pool_requests_no_gpus(stack, naming):
    # Placed on the GPU pool explicitly: it tolerates the pool's taint but takes no GPU.
    workload = _workload(stack, naming, accelerator=None)
    container = _container(synth(stack))
    assert workload.gpus == 0
    assert container["resources"]["requests"] == {"cpu": "4", "memory": "16Gi"}
    assert container["resources"]["limits"] == {"cpu": "4", "memory": "16Gi"}


def test_accelerator_count_below_the_nodes_gpus(stack, naming):
    pool = NodePoolSpec(name="l4x4", machine_type="g2-standard-48", gpu=NodeGpuSpec(type="nvidia-l4"))
    cluster, store = _setup(stack, naming, GkeClusterSpec(model_pool=pool))
    one = _workload(stack, naming, cluster, store, accelerator=AcceleratorSpec(type="nvidia-l4", count=2))
    assert one.gpus == 2
    assert _container(synth(stack))["resources"]["limits"]["nvidia.com/gpu"] == "2"


def test_accelerator_without_count_takes_every_gpu_of_a_node(stack, naming):
    pool = NodePoolSpec(name="l4x4", machine_type="g2-standard-48", gpu=NodeGpuSpec(type="nvidia-l4"))
    cluster, store = _setup(stack, naming, GkeClusterSpec(model_pool=pool))
    assert _workload(stack, naming, cluster, store).gpus == 4


def test_requests_are_not_checked_on_machine_types_outside_the_table(stack, naming):
    pool = NodePoolSpec(name="t4", machine_type="n1-custom-8-30720", gpu={"type": "nvidia-tesla-t4"})
    cluster, store = _setup(stack, naming, GkeClusterSpec(model_pool=pool))
    workload = _workload(stack, naming, cluster, store, accelerator=AcceleratorSpec(type="nvidia-tesla-t4"),
                         gke={"cpu": "64", "memory": "900Gi"})
    assert cluster.model_pool.capacity is None
    assert workload.gpus == 1


def test_quantities():
    assert cpu_millis("500m") == 500 and cpu_millis("2") == 2000 and cpu_millis("1.5") == 1500
    assert memory_mib("16Gi") == 16384 and memory_mib("512Mi") == 512 and memory_mib("1G") == pytest.approx(953.674, rel=1e-4)


# -- node-pool choice (ModelServing) -------------------------------------------------------------

def _cluster_with_pools(stack, naming, *pools):
    cluster, _ = _setup(stack, naming, GkeClusterSpec(model_pool=None))
    for pool in pools:
        cluster.add_node_pool(pool)
    return cluster


T4_POOL = NodePoolSpec(name="t4", machine_type="n1-standard-8", gpu=NodeGpuSpec(type="nvidia-tesla-t4"), min_nodes_per_zone=0)
L4_POOL = NodePoolSpec(name="l4", machine_type="g2-standard-8", gpu=NodeGpuSpec(type="nvidia-l4"), min_nodes_per_zone=0)
L4_SPOT_POOL = NodePoolSpec(name="l4-spot", machine_type="g2-standard-8", gpu=NodeGpuSpec(type="nvidia-l4"), spot=True, min_nodes_per_zone=0)


def test_node_pool_defaults_to_the_first_pool_with_the_accelerator(stack, naming):
    cluster = _cluster_with_pools(stack, naming, T4_POOL, L4_POOL, L4_SPOT_POOL)
    assert _node_pool(cluster, _model(), "models[resnet]").name == "l4"
    assert _node_pool(cluster, _model(accelerator=AcceleratorSpec(type="nvidia-tesla-t4")), "models[resnet]").name == "t4"


def test_node_pool_of_a_cpu_model_defaults_to_a_pool_without_gpus(stack, naming):
    cluster = _cluster_with_pools(stack, naming, L4_POOL)
    # The default cluster's only pool without GPUs is the system pool.
    assert _node_pool(cluster, _model(accelerator=None), "models[resnet]").name == "system"


def test_node_pool_of_a_cpu_model_prefers_the_model_pool_to_the_system_pool(stack, naming):
    cluster, _ = _setup(stack, naming, GkeClusterSpec(model_pool=CPU_POOL))
    assert _node_pool(cluster, _model(accelerator=None), "models[resnet]").name == "cpu"


def test_node_pool_can_be_named(stack, naming):
    cluster = _cluster_with_pools(stack, naming, L4_POOL, L4_SPOT_POOL, CPU_POOL)
    assert _node_pool(cluster, _model(gke={"node_pool": "l4-spot"}), "models[resnet]").name == "l4-spot"
    assert _node_pool(cluster, _model(accelerator=None, gke={"node_pool": "cpu"}), "models[resnet]").name == "cpu"


def test_fails_when_node_pool_is_unknown(stack, naming):
    cluster = _cluster_with_pools(stack, naming, L4_POOL)
    with pytest.raises(ConfigurationError, match=r"models\[resnet\]\.gke\.node_pool = 'gpu': not a node pool of the cluster; pools: system, l4"):
        _node_pool(cluster, _model(gke={"node_pool": "gpu"}), "models[resnet]")


def test_fails_when_no_node_pool_has_the_accelerator(stack, naming):
    cluster = _cluster_with_pools(stack, naming, L4_POOL)
    model = _model(accelerator=AcceleratorSpec(type="nvidia-tesla-t4"))
    with pytest.raises(ConfigurationError, match=r"models\[resnet\]\.gke\.node_pool = None: no node pool with nvidia-tesla-t4; pools: system, l4; add one to \[gke.cluster\]"):
        _node_pool(cluster, model, "models[resnet]")


def test_fails_when_no_node_pool_is_without_gpus(stack, naming):
    # A cluster whose every pool has GPUs (its system pool too).
    cluster, _ = _setup(stack, naming, GkeClusterSpec(
        system_pool=NodePoolSpec(name="system", machine_type="g2-standard-8", gpu=NodeGpuSpec(type="nvidia-l4")), model_pool=None,
    ))
    with pytest.raises(ConfigurationError, match=r"models\[resnet\]\.gke\.node_pool = None: no node pool without GPUs; pools: system"):
        _node_pool(cluster, _model(accelerator=None), "models[resnet]")


def test_fails_in_model_serving_when_no_node_pool_has_the_accelerator(stack, naming):
    model = _model(accelerator=AcceleratorSpec(type="nvidia-tesla-t4"))
    with pytest.raises(ConfigurationError, match=r"models\[resnet\]\.gke\.node_pool = None: no node pool with nvidia-tesla-t4; pools: system, model"):
        ModelServing(stack, "Default", naming=naming, project_id=TEST_PROJECT, regions=["europe-west1"], models=[model])


# -- validation --------------------------------------------------------------------------------

def test_fails_when_cpu_request_exceeds_the_pool_machine(stack, naming):
    with pytest.raises(ConfigurationError, match=r"models\[resnet\]\.gke\.cpu = '8': exceeds what a pod can request on g2-standard-8 \(node pool 'model'\): 7710m"):
        _workload(stack, naming, gke={"cpu": "8"})


def test_fails_when_memory_request_exceeds_the_pool_machine(stack, naming):
    with pytest.raises(ConfigurationError, match=r"models\[resnet\]\.gke\.memory = '30Gi': exceeds what a pod can request on g2-standard-8 \(node pool 'model'\): 28510Mi"):
        _workload(stack, naming, gke={"memory": "30Gi"})


def test_fails_when_more_gpus_than_a_node_has(stack, naming):
    with pytest.raises(ConfigurationError, match=r"models\[resnet\]\.accelerator\.count = 2: node pool 'model' has 1 x nvidia-l4 per node"):
        _workload(stack, naming, accelerator=AcceleratorSpec(type="nvidia-l4", count=2))


def test_fails_when_gpus_on_a_cpu_pool(stack, naming):
    cluster, store = _setup(stack, naming, GkeClusterSpec(model_pool=CPU_POOL))
    with pytest.raises(ConfigurationError, match=r"models\[resnet\]\.accelerator\.type = 'nvidia-l4': node pool 'cpu' \(n2-standard-8\) has no GPUs; pick a pool with nvidia-l4"):
        _workload(stack, naming, cluster, store, gke={"cpu": "2", "memory": "4Gi"})


def test_fails_when_accelerator_type_does_not_match_the_pool(stack, naming):
    with pytest.raises(ConfigurationError, match=r"models\[resnet\]\.accelerator\.type = 'nvidia-tesla-t4': node pool 'model' \(g2-standard-8\) has nvidia-l4; pick a pool with nvidia-tesla-t4"):
        _workload(stack, naming, accelerator=AcceleratorSpec(type="nvidia-tesla-t4"))


def test_fails_when_neg_names_collide(stack, naming):
    cluster, store = _setup(stack, naming)
    _workload(stack, naming, cluster, store, name="resnet")
    with pytest.raises(ConfigurationError, match=r"models\[bert\]\.gke\.neg_name = 'ml-test-neg-resnet': is already used by test/workload"):
        _workload(stack, naming, cluster, store, name="bert", id_="bert", gke={"neg_name": "ml-test-neg-resnet", "create_namespace": False})


def test_fails_when_neg_names_collide_across_stacks_of_one_app(naming):
    first = new_stack()
    cluster, store = _setup(first, naming)
    _workload(first, naming, cluster, store)
    second = type(first)(first.node.scope, "second")
    cluster2, store2 = _setup(second, Naming(app="ml", env="test2"))
    with pytest.raises(ConfigurationError, match=r"neg_name = 'ml-test-neg-resnet': is already used by test/workload"):
        _workload(second, naming, cluster2, store2, gke={"neg_name": "ml-test-neg-resnet"})


def test_fails_when_pool_is_not_of_the_cluster(stack, naming):
    cluster, store = _setup(stack, naming)
    other = new_stack()
    other_cluster, _ = _setup(other, naming)
    with pytest.raises(ConfigurationError, match=r"models\[resnet\]\.gke\.node_pool = 'model': must be a node pool of cluster ml-test-gke"):
        _workload(stack, naming, cluster, store, pool=other_cluster.model_pool)


def test_fails_when_gke_model_scales_on_anything_but_cpu():
    # The HorizontalPodAutoscaler follows cpu_target only; the other signals are VM-fleet ones.
    with pytest.raises(ConfigurationError, match=r"ModelSpec: scaling\.load_balancing_target = 'set': is a VM-fleet autoscaler setting"):
        _model(scaling=ScalingSpec(cpu_target=None, load_balancing_target=0.8))


def test_fails_when_cpu_target_is_below_one_percent(stack, naming):
    with pytest.raises(ConfigurationError, match=r"models\[resnet\]\.scaling\.cpu_target = 0.004: a GKE model's HorizontalPodAutoscaler needs cpu_target >= 0.01"):
        _workload(stack, naming, scaling=ScalingSpec(cpu_target=0.004))


def test_fails_when_the_networks_serving_port_is_privileged(stack, naming):
    cluster, store = _setup(stack, naming, network_spec=NetworkSpec(serving_port=80))
    with pytest.raises(ConfigurationError, match=r"models\[resnet\]\.port = 80: must be >= 1024 on GKE: the container runs as a non-root user"):
        _workload(stack, naming, cluster, store)


def test_fails_when_max_replicas_below_min():
    with pytest.raises(ConfigurationError, match=r"max_replicas \(1\) must be >= min_replicas \(2\)"):
        _model(scaling={"min_replicas": 2, "max_replicas": 1})


def test_fails_when_limit_is_below_request():
    with pytest.raises(ConfigurationError, match=r"memory_limit \(8Gi\) must be >= memory \(16Gi\)"):
        GkeRuntimeSpec(memory_limit="8Gi")
    with pytest.raises(ConfigurationError, match=r"cpu_limit \(2\) must be >= cpu \(4\)"):
        GkeRuntimeSpec(cpu_limit="2")


@pytest.mark.parametrize(("field", "value", "message"), [
    ("gke.cpu", "two", r"gke\.cpu = 'two': must be a Kubernetes CPU quantity"),
    ("gke.cpu", "0.0001", r"gke\.cpu = '0.0001': must be a positive whole number of millicores"),
    ("gke.memory", "16GB", r"gke\.memory = '16GB': must be a Kubernetes memory quantity"),
    ("gke.model_cache_size", "0Gi", r"gke\.model_cache_size = '0Gi': must be greater than zero"),
    ("gke.neg_name", "Resnet_NEG", r"gke\.neg_name = 'Resnet_NEG': must match \^\[a-z\]"),
    ("gke.service_account_id", "wi", r"gke\.service_account_id = 'wi': must be 6-30 characters"),
    ("gke.namespace", "Serving", r"gke\.namespace = 'Serving': must match"),
    ("health_path", "health", r"health_path = 'health': must be an absolute request path"),
    ("env", {"MODEL_URI": "x"}, r"env\.MODEL_URI = 'MODEL_URI': is set from the wiring; reserved: CACHE_AUTH_SECRET"),
    ("env", {"1BAD": "x"}, r"env\.1BAD = '1BAD': .*environment variable name"),
    ("port", 80, r"port = 80: must be >= 1024 on GKE"),
    ("image", "my image", r"image = 'my image': must be a container image reference"),
    ("image", None, r"image = None: a GKE model runs an image"),
    ("model_path", "../other/", r"model_path = '../other/': must be a relative object prefix"),
    ("scaling.min_replicas", 0, r"scaling\.min_replicas = 0: must be >= 1 on GKE"),
    ("scaling.schedules", [{"name": "day", "schedule": "0 8 * * *", "duration_sec": 3600, "min_required_replicas": 2}],
     r"scaling\.schedules = 'set': is a VM-fleet autoscaler setting"),
])
def test_fails_when_model_field_is_bad(field, value, message):
    fields = {"name": "resnet", "runtime": "gke", "image": IMAGE, "accelerator": L4}
    section, _, key = field.rpartition(".")
    if section:
        fields[section] = {key: value}
    else:
        fields[key] = value
    with pytest.raises(ConfigurationError, match=r"^ModelSpec: " + message):
        ModelSpec(**fields)


# -- snapshot ----------------------------------------------------------------------------------

def test_snapshot_gpu_workload(stack, naming, snapshot_json):
    cluster, store = _setup(stack, naming)
    ClusterAccess(stack, "kubernetes", cluster=cluster)
    _workload(stack, naming, cluster, store, **OLD_DEFAULTS)
    out = synth(stack)
    # Only the Kubernetes side and the identity: the cluster has its own snapshot (test_cluster).
    kept = {k: v for k, v in out["resource"].items() if k.startswith(("kubernetes_", "google_service_account", "google_storage_bucket_iam"))}
    assert {"provider": out["provider"], "data": out["data"], "resource": kept} == snapshot_json
