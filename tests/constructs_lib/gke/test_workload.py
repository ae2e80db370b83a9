import hashlib
import json
from types import SimpleNamespace

import pytest

from constructs_lib.edge.load_balancer import GlobalLoadBalancer
from constructs_lib.errors import ConfigurationError
from constructs_lib.gke.access import ClusterAccess
from constructs_lib.gke.cluster import ServingCluster
from constructs_lib.gke.metrics_adapter import ADAPTER_IMAGE, MetricsAdapter
from constructs_lib.gke.workload import ModelWorkload, quantity
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


_CHILDREN = {
    "kubernetes_deployment_v1": "deployment", "kubernetes_namespace_v1": "namespace", "kubernetes_service_v1": "service",
    "kubernetes_service_account_v1": "service-account", "google_service_account_iam_member": "workload-identity",
}


def _own(out, kind, id_="workload"):
    """The workload's own resource of ``kind`` (the metrics adapter has one of each kind too)."""
    return resource_by_path(out, kind, f"{id_}/{_CHILDREN[kind]}")


def _container(out):
    return _own(out, "kubernetes_deployment_v1")["spec"]["template"]["spec"]["container"][0]


@pytest.fixture(scope="module")
def default_synth():
    """The default workload on its cluster, read through a data source (``default_out``)."""
    stack, naming = new_stack(), Naming(app="ml", env="test")
    cluster, store = _setup(stack, naming)
    ClusterAccess(stack, "kubernetes", cluster=cluster)
    _workload(stack, naming, cluster, store)
    return json.dumps(synth(stack))


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
    deployment = _own(default_out, "kubernetes_deployment_v1")
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
    pod = _own(default_out, "kubernetes_deployment_v1")["spec"]["template"]["spec"]
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
    pod = _own(default_out, "kubernetes_deployment_v1")["spec"]["template"]["spec"]
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
    assert pod["volume"][0] == {"name": "tmp", "empty_dir": {"size_limit": "1Gi"}}
    assert pod["container"][0]["volume_mount"] == [
        {"name": "tmp", "mount_path": "/tmp"}, {"name": "model", "mount_path": "/models", "read_only": True},
    ]
    assert pod["termination_grace_period_seconds"] == 60
    assert "kubernetes_service_account_v1.workload_service-account" in pod["service_account_name"]


def test_env_carries_the_model_uri_and_port(default_out):
    container = _container(default_out)
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    assert env == {"MODEL_URI": f"gs://{TEST_PROJECT}-ml-test-models/resnet", "MODEL_DIR": "/models", "PORT": "8080"}
    # The pod's own name and namespace: the k8s_pod labels of the in-flight gauge the HPA reads.
    from_pod = {e["name"]: e["value_from"]["field_ref"]["field_path"] for e in container["env"] if "value_from" in e}
    assert from_pod == {"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"}
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
    binding = _own(default_out, "google_service_account_iam_member")
    assert binding["role"] == "roles/iam.workloadIdentityUser"
    assert binding["member"] == f"serviceAccount:{TEST_PROJECT}.svc.id.goog[serving/resnet]"
    assert binding["service_account_id"].endswith(".name}")
    ksa = _own(default_out, "kubernetes_service_account_v1")
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
    namespace = _own(default_out, "kubernetes_namespace_v1")
    assert namespace["metadata"] == {
        "name": "serving",
        "labels": {
            "app.kubernetes.io/part-of": "ml-test", "app.kubernetes.io/managed-by": "cdktf",
            "pod-security.kubernetes.io/enforce": "restricted",
        },
    }


# -- service, NEGs, autoscaling ----------------------------------------------------------------

def test_service_exposes_standalone_negs_with_a_stable_name(default_out):
    service = _own(default_out, "kubernetes_service_v1")
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
    # A GPU model scales on its GPUs' duty cycle by default (0.7 -> 70 % per replica's GPU).
    assert [m["type"] for m in hpa["metric"]] == ["External"]
    assert hpa["metric"][0]["external"]["metric"]["name"] == "kubernetes.io|container|accelerator|duty_cycle"
    assert hpa["metric"][0]["external"]["target"] == {"type": "AverageValue", "average_value": "70"}
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
    # cpu_target adds CPU next to the GPU signal (the HPA takes the larger recommendation).
    assert [m["type"] for m in hpa["metric"]] == ["External", "Resource"]
    assert hpa["metric"][1]["resource"]["target"]["average_utilization"] == 55
    assert hpa["behavior"]["scale_down"][0]["stabilization_window_seconds"] == 600
    # The Deployment starts at the autoscaler's floor: never below it while the HPA takes over.
    assert _own(out, "kubernetes_deployment_v1")["spec"]["replicas"] == "3"


# -- options -----------------------------------------------------------------------------------

def test_options(stack, naming):
    cache = CacheConnection(endpoint_secret="projects/p/secrets/endpoint/versions/latest", auth_secret="projects/p/secrets/auth/versions/1",
                            tls=True, ca_secret="projects/p/secrets/ca/versions/1")
    workload = _workload(
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
    assert workload.namespace_resource is None
    assert [n["metadata"]["name"] for n in resources(out, "kubernetes_namespace_v1").values()] == ["custom-metrics"]  # the adapter's
    deployment = _own(out, "kubernetes_deployment_v1")
    assert deployment["metadata"]["namespace"] == "models"
    assert deployment["timeouts"] == {"create": "45m", "update": "45m"}
    pod = deployment["spec"]["template"]["spec"]
    container = pod["container"][0]
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    assert env["MODEL_URI"].endswith("/llama/v3/")
    assert env["PORT"] == "9000" and env["LOG_LEVEL"] == "debug"
    assert (env["CACHE_ENDPOINT_SECRET"], env["CACHE_TLS"]) == ("projects/p/secrets/endpoint/versions/latest", "true")
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
    assert {"name": "gke-gcsfuse-cache", "empty_dir": {"size_limit": "40Gi"}} in pod["volume"]
    fuse = next(v for v in pod["volume"] if v["name"] == "model")["csi"]["volume_attributes"]
    assert "only-dir=llama/v3" in fuse["mountOptions"].split(",") and "uid=65532" in fuse["mountOptions"].split(",")
    assert deployment["spec"]["replicas"] == "3"
    service = _own(out, "kubernetes_service_v1")
    assert json.loads(service["metadata"]["annotations"]["cloud.google.com/neg"]) == {"exposed_ports": {"9000": {"name": "llama-neg"}}}
    assert resource_by_path(out, "google_service_account", "workload/identity")["account_id"] == "llama-pods"
    assert _own(out, "google_service_account_iam_member")["member"] == f"serviceAccount:{TEST_PROJECT}.svc.id.goog[models/llama]"
    hpa = only_resource(out, "kubernetes_horizontal_pod_autoscaler_v2")["spec"]
    assert (hpa["min_replicas"], hpa["max_replicas"]) == (3, 8)
    assert hpa["metric"][1]["resource"]["target"]["average_utilization"] == 50
    assert only_resource(out, "kubernetes_pod_disruption_budget_v1")["spec"]["max_unavailable"] == "2"


def test_resources_can_use_an_aliased_kubernetes_provider(stack, naming):
    cluster, store = _setup(stack, naming)
    access = ClusterAccess(stack, "kubernetes", cluster=cluster, alias="serving")
    ModelWorkload(stack, "workload", cluster=cluster, pool=cluster.model_pool, naming=naming, model_store=store,
                  model=_model(), provider=access.provider)
    out = synth(stack)
    assert out["provider"]["kubernetes"][0]["alias"] == "serving"
    for kind in ("kubernetes_horizontal_pod_autoscaler_v2", "kubernetes_pod_disruption_budget_v1"):
        assert only_resource(out, kind)["provider"] == "kubernetes.serving"
    # The workload's and the metrics adapter's Kubernetes resources all use the aliased provider.
    for kind in ("kubernetes_namespace_v1", "kubernetes_service_account_v1", "kubernetes_service_v1", "kubernetes_deployment_v1",
                 "kubernetes_api_service_v1", "kubernetes_cluster_role_v1", "kubernetes_cluster_role_binding_v1", "kubernetes_role_binding_v1"):
        assert {body["provider"] for body in resources(out, kind).values()} == {"kubernetes.serving"}


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
    assert [n["metadata"]["name"] for n in resources(out, "kubernetes_namespace_v1").values()] == ["custom-metrics", "serving"]
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
    pod = _own(out, "kubernetes_deployment_v1")["spec"]["template"]["spec"]
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


def test_fails_when_no_node_pool_is_without_gpus():
    # ServingCluster's system pool never has GPUs (GkeClusterSpec rule); any cluster-like object whose
    # every pool has GPUs gets the message.
    gpu_pool = SimpleNamespace(name="system", gpu_type="nvidia-l4")
    cluster = SimpleNamespace(node_pools={"system": gpu_pool}, system_pool=gpu_pool)
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


def test_fails_when_gke_model_sets_a_vm_autoscaler_setting():
    # load_balancing_target is the MIG autoscaler's; a GKE model uses signal = "request-rate".
    with pytest.raises(ConfigurationError, match=r"ModelSpec: scaling\.load_balancing_target = 'set': is a VM-fleet autoscaler setting"):
        _model(scaling=ScalingSpec(cpu_target=None, load_balancing_target=0.8))


def test_fails_when_cpu_target_is_below_one_percent(stack, naming):
    with pytest.raises(ConfigurationError, match=r"models\[resnet\]\.scaling\.cpu_target = 0.004: a GKE model's HorizontalPodAutoscaler needs a CPU target >= 0.01"):
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
    ("gke.model_source", "nfs", r"gke\.model_source = 'nfs': Input should be 'gcs-fuse', 'download' or 'image'"),
    ("gke.fuse_sidecar_cpu", "half", r"gke\.fuse_sidecar_cpu = 'half': must be a Kubernetes CPU quantity"),
    ("gke.fuse_sidecar_memory", "1GB", r"gke\.fuse_sidecar_memory = '1GB': must be a Kubernetes memory quantity"),
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
    ("model_path", "llm,v2", r"model_path = 'llm,v2': must have no commas or spaces with gke\.model_source 'gcs-fuse'"),
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


# -- model weights (gke.model_source) ------------------------------------------------------------

def _pod(out):
    return _own(out, "kubernetes_deployment_v1")["spec"]["template"]


def test_weights_come_from_the_bucket_through_gcs_fuse_by_default(default_out):
    template = _pod(default_out)
    # The FUSE sidecar is injected, with requests = limits: the pod keeps Guaranteed QoS.
    assert template["metadata"]["annotations"] == {
        "gke-gcsfuse/volumes": "true",
        "gke-gcsfuse/cpu-request": "500m", "gke-gcsfuse/cpu-limit": "500m",
        "gke-gcsfuse/memory-request": "1Gi", "gke-gcsfuse/memory-limit": "1Gi",
    }
    volumes = {v["name"]: v for v in template["spec"]["volume"]}
    assert set(volumes) == {"tmp", "model", "gke-gcsfuse-cache"}
    fuse = volumes["model"]["csi"]
    assert fuse["driver"] == "gcsfuse.csi.storage.gke.io"
    assert fuse["read_only"] is True
    attributes = fuse["volume_attributes"]
    assert attributes["bucketName"] == f"{TEST_PROJECT}-ml-test-models"
    assert attributes["mountOptions"].split(",") == [
        "implicit-dirs", "only-dir=resnet", "uid=1000", "gid=1000", "file-cache:enable-parallel-downloads:true",
    ]
    # The file cache stays below the emptyDir's limit (exceeding it evicts the pod): 90 % of 20Gi.
    assert attributes["fileCacheCapacity"] == "18432Mi"
    assert attributes["fileCacheForRangeRead"] == "true"
    assert volumes["gke-gcsfuse-cache"] == {"name": "gke-gcsfuse-cache", "empty_dir": {"size_limit": "20Gi"}}
    mounts = template["spec"]["container"][0]["volume_mount"]
    assert {"name": "model", "mount_path": "/models", "read_only": True} in mounts


def test_download_source_keeps_a_writable_model_directory(stack, naming):
    _workload(stack, naming, gke={"model_source": "download"})
    template = _pod(synth(stack))
    assert "annotations" not in template["metadata"]
    assert template["spec"]["volume"] == [
        {"name": "tmp", "empty_dir": {"size_limit": "1Gi"}}, {"name": "model-cache", "empty_dir": {"size_limit": "20Gi"}},
    ]
    assert template["spec"]["container"][0]["volume_mount"] == [
        {"name": "tmp", "mount_path": "/tmp"}, {"name": "model-cache", "mount_path": "/models"},
    ]


def test_image_source_mounts_nothing_at_the_model_directory(stack, naming):
    _workload(stack, naming, gke={"model_source": "image"})
    template = _pod(synth(stack))
    assert template["spec"]["volume"] == [{"name": "tmp", "empty_dir": {"size_limit": "1Gi"}}]
    env = {e["name"]: e["value"] for e in template["spec"]["container"][0]["env"] if "value" in e}
    assert env["MODEL_DIR"] == "/models"


def test_fails_when_the_fuse_sidecar_no_longer_fits_next_to_the_server(stack, naming):
    # 7500m fits g2-standard-8 (7710m) alone, not with the 500m FUSE sidecar.
    cluster, store = _setup(stack, naming)
    _workload(stack, naming, cluster, store, gke={"cpu": "7500m", "model_source": "download"})
    with pytest.raises(ConfigurationError, match=r"models\[bert\]\.gke\.cpu = '7500m': exceeds what a pod can request on g2-standard-8 "
                                                 r"\(node pool 'model'\): 7710m after GKE's reservations, 500m of it for the Cloud Storage FUSE sidecar"):
        _workload(stack, naming, cluster, store, id_="bert", name="bert", gke={"cpu": "7500m", "create_namespace": False})


def test_fails_when_fuse_sidecar_memory_does_not_fit(stack, naming):
    # 28000Mi fits g2-standard-8 (28510Mi) alone, not with the 1Gi sidecar.
    with pytest.raises(ConfigurationError, match=r"models\[resnet\]\.gke\.memory = '28000Mi': exceeds .*28510Mi after GKE's reservations, 1024Mi of it for the Cloud Storage FUSE sidecar"):
        _workload(stack, naming, gke={"memory": "28000Mi"})


def test_fails_when_gcs_fuse_is_used_on_a_cluster_without_the_driver(stack, naming):
    cluster, store = _setup(stack, naming, GkeClusterSpec(gcs_fuse_csi_driver=False))
    with pytest.raises(ConfigurationError, match=r"models\[resnet\]\.gke\.model_source = 'gcs-fuse': needs the Cloud Storage FUSE CSI driver, "
                                                 r"which cluster ml-test-gke has off \(gcs_fuse_csi_driver\)"):
        _workload(stack, naming, cluster, store)


def test_fails_when_the_model_runs_on_a_queued_provisioning_pool(stack, naming):
    queued = NodePoolSpec(name="batch", machine_type="g2-standard-8", gpu=NodeGpuSpec(type="nvidia-l4"), min_nodes_per_zone=0,
                          flex_start=True, queued_provisioning=True)
    cluster, store = _setup(stack, naming, GkeClusterSpec(model_pool=queued))
    with pytest.raises(ConfigurationError, match=r"models\[resnet\]\.gke\.node_pool = 'batch': is a queued-provisioning pool: its nodes go only "
                                                 r"to ProvisioningRequests"):
        _workload(stack, naming, cluster, store)


# -- serving signals (HorizontalPodAutoscaler) ----------------------------------------------------

def _hpa_metrics(out):
    return only_resource(out, "kubernetes_horizontal_pod_autoscaler_v2")["spec"]["metric"]


def test_gpu_signal_follows_the_duty_cycle_of_the_models_own_containers(default_out):
    (metric,) = _hpa_metrics(default_out)
    assert metric == {"type": "External", "external": {
        "metric": {
            "name": "kubernetes.io|container|accelerator|duty_cycle",
            "selector": [{"match_labels": {
                "resource.labels.cluster_name": "ml-test-gke",
                "resource.labels.namespace_name": "serving",
                "resource.labels.container_name": "server",
                "metadata.system_labels.top_level_controller_type": "Deployment",
                "metadata.system_labels.top_level_controller_name": "resnet",
            }}],
        },
        "target": {"type": "AverageValue", "average_value": "70"},
    }}


def test_gpu_target_is_per_replica_over_all_its_gpus(stack, naming):
    # One series per GPU: a replica with 2 GPUs at 70 % adds 140 to the total.
    pool = NodePoolSpec(name="l4x4", machine_type="g2-standard-48", gpu=NodeGpuSpec(type="nvidia-l4"))
    cluster, store = _setup(stack, naming, GkeClusterSpec(model_pool=pool))
    _workload(stack, naming, cluster, store, accelerator=AcceleratorSpec(type="nvidia-l4", count=2),
              scaling=ScalingSpec(target=0.6))
    (metric,) = _hpa_metrics(synth(stack))
    assert metric["external"]["target"] == {"type": "AverageValue", "average_value": "120"}


def test_in_flight_signal_reads_the_model_servers_gauge_per_pod(stack, naming):
    _workload(stack, naming, scaling=ScalingSpec(signal="in-flight", target=12, in_flight_metric="vllm/num_requests_running"))
    (metric,) = _hpa_metrics(synth(stack))
    assert metric == {"type": "Pods", "pods": {
        "metric": {"name": "custom.googleapis.com|vllm|num_requests_running"},
        "target": {"type": "AverageValue", "average_value": "12"},
    }}


def test_in_flight_signal_defaults_to_the_contracts_gauge(stack, naming):
    _workload(stack, naming, scaling=ScalingSpec(signal="in-flight"))
    (metric,) = _hpa_metrics(synth(stack))
    assert metric["pods"]["metric"] == {"name": "custom.googleapis.com|model_server|requests_in_flight"}
    assert metric["pods"]["target"] == {"type": "AverageValue", "average_value": "8"}


def test_request_rate_signal_follows_the_load_balancers_requests_to_the_models_negs(stack, naming):
    _workload(stack, naming, scaling=ScalingSpec(signal="request-rate", target=2.5))
    (metric,) = _hpa_metrics(synth(stack))
    assert metric == {"type": "External", "external": {
        "metric": {
            "name": "loadbalancing.googleapis.com|https|backend_request_count",
            "selector": [{"match_labels": {"resource.labels.backend_name": "ml-test-neg-resnet"}}],
        },
        "target": {"type": "AverageValue", "average_value": "2500m"},
    }}


def test_cpu_only_scaling_of_a_gpu_model_when_asked_for(stack, naming):
    workload = _workload(stack, naming, scaling=ScalingSpec(signal="cpu", cpu_target=0.5, allow_cpu_only=True))
    out = synth(stack)
    assert _hpa_metrics(out) == [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "average_utilization": 50}}}]
    assert workload.metrics_adapter is None
    assert not resources(out, "kubernetes_api_service_v1")


def test_cpu_model_scales_on_cpu_without_an_adapter(stack, naming):
    cluster, store = _setup(stack, naming, GkeClusterSpec(model_pool=CPU_POOL))
    _workload(stack, naming, cluster, store, accelerator=None, gke={"cpu": "2", "memory": "4Gi"})
    out = synth(stack)
    assert _hpa_metrics(out) == [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "average_utilization": 60}}}]
    assert not resources(out, "kubernetes_api_service_v1")


def test_pods_get_the_backends_draining_time_to_finish_by_default(stack, naming):
    """A longer backend timeout drains longer, and the pods' grace period follows it."""
    _workload(stack, naming, backend={"timeout_sec": 300})
    pod = _own(synth(stack), "kubernetes_deployment_v1")["spec"]["template"]["spec"]
    assert pod["termination_grace_period_seconds"] == 300


def test_quantities_of_hpa_targets():
    assert quantity(70) == "70" and quantity(2.5) == "2500m" and quantity(0.5) == "500m" and quantity(140.0) == "140"


# -- metrics adapter -------------------------------------------------------------------------------

def test_metrics_adapter_is_deployed_once_per_cluster_when_a_model_needs_it(stack, naming):
    cluster, store = _setup(stack, naming)
    first = _workload(stack, naming, cluster, store, name="resnet", gke={"cpu": "2", "memory": "8Gi"})
    second = _workload(stack, naming, cluster, store, id_="bert", name="bert", namespace=first.namespace_resource,
                       gke={"cpu": "2", "memory": "8Gi"}, scaling=ScalingSpec(signal="request-rate"))
    assert isinstance(first.metrics_adapter, MetricsAdapter)
    assert first.metrics_adapter is second.metrics_adapter
    # At the stack's root: its Terraform addresses do not depend on which model came first.
    assert first.metrics_adapter.node.path == "test/metrics-adapter"
    out = synth(stack)
    assert len(resources(out, "kubernetes_api_service_v1")) == 3
    role = resource_by_path(out, "kubernetes_cluster_role_v1", "metrics-adapter/external-metrics-reader-role")
    assert role["rule"][0]["resources"] == ["kubernetes.io|container|accelerator|duty_cycle", "loadbalancing.googleapis.com|https|backend_request_count"]


def test_metrics_adapter_grants_no_external_metric_when_models_read_only_pod_metrics(stack, naming):
    _workload(stack, naming, scaling=ScalingSpec(signal="in-flight"))
    out = synth(stack)
    assert resource_by_path(out, "kubernetes_deployment_v1", "metrics-adapter/deployment")
    roles = [body["metadata"]["name"] for body in resources(out, "kubernetes_cluster_role_v1").values()]
    assert roles == ["custom-metrics-resource-reader"]


def test_metrics_adapter_image_can_be_pinned_by_digest(stack, naming):
    image = "gcr.io/gke-release/custom-metrics-stackdriver-adapter@sha256:" + "b" * 64
    cluster, store = _setup(stack, naming, cluster_spec=GkeClusterSpec(metrics_adapter_image=image))
    _workload(stack, naming, cluster, store)
    container = resource_by_path(synth(stack), "kubernetes_deployment_v1", "metrics-adapter/deployment")["spec"]["template"]["spec"]["container"][0]
    assert container["image"] == image


def test_metrics_adapter_resources(stack, naming):
    cluster, store = _setup(stack, naming)
    _workload(stack, naming, cluster, store)
    out = synth(stack)
    namespace = resource_by_path(out, "kubernetes_namespace_v1", "metrics-adapter/namespace")
    assert namespace["metadata"]["name"] == "custom-metrics"
    account = resource_by_path(out, "google_service_account", "metrics-adapter/identity/default")
    assert account["account_id"] == "ml-test-gke-metrics"
    grant = resource_by_path(out, "google_project_iam_member", "metrics-adapter/identity/role-monitoringviewer")
    assert grant["role"] == "roles/monitoring.viewer" and grant["project"] == TEST_PROJECT
    binding = resource_by_path(out, "google_service_account_iam_member", "metrics-adapter/workload-identity")
    assert binding["role"] == "roles/iam.workloadIdentityUser"
    assert binding["member"] == f"serviceAccount:{TEST_PROJECT}.svc.id.goog[custom-metrics/custom-metrics-stackdriver-adapter]"
    ksa = resource_by_path(out, "kubernetes_service_account_v1", "metrics-adapter/service-account")
    assert ksa["metadata"]["name"] == "custom-metrics-stackdriver-adapter"
    assert ksa["metadata"]["annotations"]["iam.gke.io/gcp-service-account"].endswith(".email}")
    deployment = resource_by_path(out, "kubernetes_deployment_v1", "metrics-adapter/deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["container"]
    assert container["image"] == ADAPTER_IMAGE == "gcr.io/gke-release/custom-metrics-stackdriver-adapter:v0.16.9-gke.0"
    assert container["command"] == [
        "/adapter", "--use-new-resource-model=true", "--fallback-for-container-metrics=true",
        "--secure-port=6443", "--cert-dir=/var/run/serving-cert",
    ]
    # What Pod Security "restricted" (the namespace's level) asks: non-root, no escalation, no capabilities, seccomp.
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert pod["security_context"] == {"run_as_non_root": True, "run_as_user": "65534", "run_as_group": "65534",
                                       "seccomp_profile": {"type": "RuntimeDefault"}}
    context = container["security_context"]
    assert context == {"allow_privilege_escalation": False, "read_only_root_filesystem": True, "capabilities": {"drop": ["ALL"]}}
    assert container["liveness_probe"]["http_get"] == container["readiness_probe"]["http_get"] == {"path": "/healthz", "port": "6443", "scheme": "HTTPS"}
    service = resource_by_path(out, "kubernetes_service_v1", "metrics-adapter/service")
    assert service["spec"]["port"] == [{"port": 443, "target_port": "6443", "protocol": "TCP"}]
    assert container["volume_mount"] == [{"name": "serving-cert", "mount_path": "/var/run/serving-cert"}]
    assert pod["volume"] == [{"name": "serving-cert", "empty_dir": {"medium": "Memory", "size_limit": "16Mi"}}]
    assert pod["node_selector"] == {"cloud.google.com/gke-nodepool": "system"}
    assert [d.split(".")[0] for d in deployment["depends_on"]] == ["google_service_account_iam_member", "google_project_iam_member"]
    apis = {body["metadata"]["name"]: body["spec"] for body in resources(out, "kubernetes_api_service_v1").values()}
    assert set(apis) == {"v1beta1.custom.metrics.k8s.io", "v1beta2.custom.metrics.k8s.io", "v1beta1.external.metrics.k8s.io"}
    assert all(spec["service"]["name"].startswith("${kubernetes_service_v1.metrics-adapter_service_") for spec in apis.values())
    assert all(spec["insecure_skip_tls_verify"] is True for spec in apis.values())
    assert resource_by_path(out, "kubernetes_service_v1", "metrics-adapter/service")["metadata"]["name"] == "custom-metrics-stackdriver-adapter"
    bindings = {body["metadata"]["name"]: body for body in resources(out, "kubernetes_cluster_role_binding_v1").values()}
    assert set(bindings) == {"custom-metrics:system:auth-delegator", "custom-metrics-resource-reader", "external-metrics-reader"}
    assert bindings["external-metrics-reader"]["subject"] == [
        {"kind": "ServiceAccount", "name": "horizontal-pod-autoscaler", "namespace": "kube-system"},
    ]
    # The HPA controller may read the External metrics the autoscalers use, by name (upstream: "*").
    role = resource_by_path(out, "kubernetes_cluster_role_v1", "metrics-adapter/external-metrics-reader-role")
    assert role["rule"] == [{"api_groups": ["external.metrics.k8s.io"], "resources": ["kubernetes.io|container|accelerator|duty_cycle"],
                             "verbs": ["get", "list", "watch"]}]
    reader = resource_by_path(out, "kubernetes_role_binding_v1", "metrics-adapter/auth-reader")
    assert reader["metadata"]["namespace"] == "kube-system"
    assert reader["role_ref"]["name"] == "extension-apiserver-authentication-reader"


# -- snapshot ----------------------------------------------------------------------------------

def test_snapshot_gpu_workload(stack, naming, snapshot_json):
    cluster, store = _setup(stack, naming)
    ClusterAccess(stack, "kubernetes", cluster=cluster)
    _workload(stack, naming, cluster, store, **OLD_DEFAULTS)
    out = synth(stack)
    # Only the Kubernetes side and the identity: the cluster has its own snapshot (test_cluster).
    kept = {k: v for k, v in out["resource"].items() if k.startswith(("kubernetes_", "google_service_account", "google_storage_bucket_iam"))}
    assert {"provider": out["provider"], "data": out["data"], "resource": kept} == snapshot_json


def test_default_service_accounts_fit_thirty_characters_for_long_names(stack):
    """<app>-<env>-<model>-wi can pass 30 characters: the default ids are cut to 25 characters plus
    a digest of the full id, as VM fleets' are, instead of failing on a key the user never set
    (found by the property test)."""
    naming = Naming(app="a000000", env="a000000")
    cluster, store = _setup(stack, naming)
    _workload(stack, naming, cluster, store, name="a00000000000")
    ids = {body["account_id"] for body in resources(synth(stack), "google_service_account").values()}
    digest = hashlib.sha256(b"a000000-a000000-a00000000000-wi").hexdigest()[:4]
    assert f"a000000-a000000-a00000000-{digest}" in ids
    assert all(6 <= len(i) <= 30 for i in ids), ids
