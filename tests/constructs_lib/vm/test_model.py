"""``VmModel``: a model on VM fleets in every region it serves (one identity, a fleet and an
autoscaler per region, grants on the model store and the cache)."""

import pytest
import yaml

from constructs_lib.cache import InferenceCache
from constructs_lib.errors import ConfigurationError
from constructs_lib.interfaces import BackendTarget, Grant
from constructs_lib.model_store import READER_ROLE, ModelStore
from constructs_lib.network import ServingNetwork
from constructs_lib.specs.model import AcceleratorSpec, ModelSpec
from constructs_lib.specs.vm import DEFAULT_FLEET_ROLES
from constructs_lib.vm.autoscaler import FleetAutoscaler
from constructs_lib.vm.fleet import ModelServerFleet
from constructs_lib.vm.model import VmModel
from stacks.config import ENVIRONMENTS_DIR, load_environment
from tests.conftest import TEST_PROJECT, only_resource, resource_by_path, resources, synth

IMAGE = "europe-docker.pkg.dev/test-project-123/serving/server:1.4.0"
REGIONS = ("europe-west1", "us-central1")
IDENTITY = "google_service_account.llama_identity_default_88B661DA"


def _network(stack, naming, regions=REGIONS):
    return ServingNetwork(stack, "network", naming=naming, regions=list(regions))


def _vm_model(stack, naming, *, network=None, regions=REGIONS, model_store=None, cache=None, **fields):
    fields.setdefault("name", "llama")
    fields.setdefault("image", IMAGE)
    return VmModel(stack, fields["name"], network=network or _network(stack, naming), naming=naming,
                   model=ModelSpec(**fields), regions=list(regions), model_store=model_store, cache=cache)


def _env(template):
    """The server environment file the template's cloud-config writes."""
    files = {f["path"]: f["content"] for f in yaml.safe_load(template["metadata"]["user-data"])["write_files"]}
    return files["/etc/model-server/env"]


def _group_id(result, region):
    """The logical id of the region's group (``llama_fleet-<region>_group_<hash>``)."""
    [found] = [key for key in resources(result, "google_compute_region_instance_group_manager")
               if key.startswith(f"llama_fleet-{region}_group_")]
    return found


# -- shape -----------------------------------------------------------------------------------------

def test_one_identity_is_shared_by_the_regions(stack, naming):
    model = _vm_model(stack, naming)
    result = synth(stack)
    account = only_resource(result, "google_service_account")
    assert account["account_id"] == "ml-test-llama"
    assert sorted(b["role"] for b in resources(result, "google_project_iam_member").values()) == sorted(DEFAULT_FLEET_ROLES)
    emails = {t["service_account"]["email"] for t in resources(result, "google_compute_instance_template").values()}
    assert emails == {f"${{{IDENTITY}.email}}"}
    assert all(fleet.identity is model.identity for fleet in model.fleets.values())
    assert model.iam_member == model.identity.iam_member
    assert model.service_account_email == model.identity.email


def test_a_fleet_and_an_autoscaler_per_region(stack, naming):
    model = _vm_model(stack, naming, scaling={"min_replicas": 2, "max_replicas": 6})
    result = synth(stack)
    assert list(model.fleets) == list(REGIONS)
    assert list(model.autoscalers) == list(REGIONS)
    for region in REGIONS:
        fleet, scaler = model.fleets[region], model.autoscalers[region]
        assert isinstance(fleet, ModelServerFleet) and isinstance(scaler, FleetAutoscaler)
        assert fleet.autoscaler is scaler
        assert fleet.node.validate() == []
        group = resource_by_path(result, "google_compute_region_instance_group_manager", f"llama/fleet-{region}/group")
        assert group["name"] == f"ml-test-llama-{region}"
        assert "target_size" not in group
        autoscaler = resource_by_path(result, "google_compute_region_autoscaler", f"llama/autoscaler-{region}/default")
        assert autoscaler["name"] == f"ml-test-llama-{region}-as"
        assert autoscaler["region"] == region
        assert autoscaler["target"] == f"${{google_compute_region_instance_group_manager.{_group_id(result, region)}.id}}"
        assert (autoscaler["autoscaling_policy"]["min_replicas"], autoscaler["autoscaling_policy"]["max_replicas"]) == (2, 6)
        assert autoscaler["autoscaling_policy"]["cooldown_period"] == 600


def test_no_autoscaler_when_vm_target_size_fixes_the_group(stack, naming):
    model = _vm_model(stack, naming, vm={"target_size": 3})
    result = synth(stack)
    assert model.autoscalers == {}
    assert resources(result, "google_compute_region_autoscaler") == {}
    assert {g["target_size"] for g in resources(result, "google_compute_region_instance_group_manager").values()} == {3}
    assert all(fleet.node.validate() == [] for fleet in model.fleets.values())


def test_serves_only_the_regions_it_is_given(stack, naming):
    model = _vm_model(stack, naming, regions=("us-central1",))
    assert list(model.fleets) == ["us-central1"]
    group = only_resource(synth(stack), "google_compute_region_instance_group_manager")
    assert group["region"] == "us-central1"


def test_backend_targets_are_the_regional_fleets(stack, naming):
    model = _vm_model(stack, naming)
    assert model.backend_targets == [model.fleets["europe-west1"], model.fleets["us-central1"]]
    assert all(isinstance(target, BackendTarget) for target in model.backend_targets)
    assert {target.backend_kind for target in model.backend_targets} == {"instance-group"}
    assert [target.location for target in model.backend_targets] == list(REGIONS)


def test_a_gpu_model_scales_on_gpu_utilization_and_spreads_balanced_in_every_region(stack, naming):
    model = _vm_model(stack, naming, accelerator=AcceleratorSpec(type="nvidia-l4"))
    result = synth(stack)
    zones = {"europe-west1": ["europe-west1-b", "europe-west1-c"], "us-central1": ["us-central1-a", "us-central1-b", "us-central1-c"]}
    for region in REGIONS:
        policy = resource_by_path(result, "google_compute_region_autoscaler", f"llama/autoscaler-{region}/default")["autoscaling_policy"]
        assert policy["metric"] == [{
            "name": "agent.googleapis.com/gpu/utilization", "target": 70, "type": "GAUGE", "filter": 'resource.type = "gce_instance"',
        }]
        assert "cpu_utilization" not in policy
        group = resource_by_path(result, "google_compute_region_instance_group_manager", f"llama/fleet-{region}/group")
        assert (group["distribution_policy_target_shape"], group["distribution_policy_zones"]) == ("BALANCED", zones[region])
        assert model.fleets[region].zones == tuple(zones[region])


def test_prod_gpu_models_scale_on_a_gpu_signal_and_spread_balanced():
    """environments/prod.toml: every GPU model on VMs follows its GPUs, never CPU, over BALANCED groups."""
    config = load_environment(ENVIRONMENTS_DIR / "prod.toml")
    gpu_models = [m for m in config.models if m.runtime == "vm" and m.accelerator is not None]
    assert [m.name for m in gpu_models] == ["llm", "llm-next"]
    for model in gpu_models:
        assert model.scaling_signals[0].kind == "gpu", model.name
        assert "cpu" not in {signal.kind for signal in model.scaling_signals}, model.name
        assert model.distribution_shape == "BALANCED", model.name
        assert model.downloads_model, model.name


# -- grants ----------------------------------------------------------------------------------------

def test_model_store_read_grant_and_model_uri(stack, naming):
    store = ModelStore(stack, "models", naming=naming, project_id=TEST_PROJECT)
    model = _vm_model(stack, naming, model_store=store, model_path="llama/v3")
    result = synth(stack)
    binding = resource_by_path(result, "google_storage_bucket_iam_member", "models/read-read-llama")
    assert binding["role"] == READER_ROLE == "roles/storage.objectViewer"
    assert binding["member"] == f"${{{IDENTITY}.member}}"
    assert isinstance(model.read_grant, Grant)
    assert model.read_grant.member == model.iam_member
    assert model.read_grant.roles == (READER_ROLE,)
    assert model.read_grant.target == "bucket test-project-123-ml-test-models"
    assert model.connect_grant is None
    for template in resources(result, "google_compute_instance_template").values():
        assert "MODEL_URI=gs://test-project-123-ml-test-models/llama/v3\n" in _env(template)


def test_model_uri_defaults_to_the_model_name(stack, naming):
    store = ModelStore(stack, "models", naming=naming, project_id=TEST_PROJECT)
    _vm_model(stack, naming, model_store=store, regions=("europe-west1",))
    result = synth(stack)
    template = only_resource(result, "google_compute_instance_template")
    assert "MODEL_URI=gs://test-project-123-ml-test-models/llama\n" in _env(template)


def test_cache_connect_grant_and_connection_per_region(stack, naming):
    network = _network(stack, naming)
    cache = InferenceCache(stack, "cache", network=network, naming=naming)
    model = _vm_model(stack, naming, network=network, cache=cache)
    result = synth(stack)
    for kind in ("auth", "ca", "host"):
        for region in REGIONS:
            binding = resource_by_path(result, "google_secret_manager_secret_iam_member", f"cache/connect-llama-{kind}-{region}")
            assert binding["role"] == "roles/secretmanager.secretAccessor"
            assert binding["member"] == f"${{{IDENTITY}.member}}"
    assert isinstance(model.connect_grant, Grant)
    assert model.connect_grant.member == model.iam_member
    assert len(model.connect_grant.resources) == 6
    assert model.read_grant is None
    for region in REGIONS:
        template = resource_by_path(result, "google_compute_instance_template", f"llama/fleet-{region}/template")
        env = _env(template)
        assert "CACHE_TLS=true\n" in env
        for name, secret in (("CACHE_ENDPOINT_SECRET", "host"), ("CACHE_AUTH_SECRET", "auth"), ("CACHE_CA_SECRET", "ca")):
            assert f"{name}=${{google_secret_manager_secret.cache_{secret}-secret-{region}_" in env
        # A reference to the secrets, never to the cache itself.
        assert "google_redis_instance" not in env


def test_model_without_use_cache_gets_no_grant_and_no_cache_environment(stack, naming):
    network = _network(stack, naming)
    cache = InferenceCache(stack, "cache", network=network, naming=naming)
    model = _vm_model(stack, naming, network=network, cache=cache, use_cache=False)
    result = synth(stack)
    assert model.connect_grant is None
    assert resources(result, "google_secret_manager_secret_iam_member") == {}
    for template in resources(result, "google_compute_instance_template").values():
        assert "CACHE_" not in _env(template)


# -- validation ------------------------------------------------------------------------------------

def test_fails_when_a_region_is_outside_the_network(stack, naming):
    network = _network(stack, naming, regions=("europe-west1",))
    with pytest.raises(ConfigurationError) as caught:
        _vm_model(stack, naming, network=network, regions=("europe-west1", "us-east1"))
    assert str(caught.value) == (
        "models[llama].regions = ['europe-west1', 'us-east1']: must be among the network's regions (europe-west1); not served: us-east1"
    )
    assert "\n" not in str(caught.value)
    assert caught.value.field == "models[llama].regions"


def test_fails_when_no_region_is_given(stack, naming):
    with pytest.raises(ConfigurationError, match=r"^models\[llama\].regions = \[\]: must be among the network's regions \(europe-west1, us-central1\)$"):
        _vm_model(stack, naming, regions=())


def test_fails_when_the_model_runs_on_gke(stack, naming):
    with pytest.raises(ConfigurationError, match=r"^models\[llama\].runtime = 'gke': VM fleets serve models with runtime = 'vm'"):
        _vm_model(stack, naming, runtime="gke")
    assert stack.node.try_find_child("llama") is None
