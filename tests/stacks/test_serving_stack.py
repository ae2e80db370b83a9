import pytest
from cdktf import Testing

from stacks.config import ENVIRONMENTS_DIR, environment_files, load_environment, parse_environment
from stacks.serving_stack import MlServingStack
from tests.conftest import only_resource, synth

MINIMAL = 'project_id = "my-project-1"\nregions = ["us-central1"]\n'


def _stack(text: str = MINIMAL, name: str = "dev") -> MlServingStack:
    return MlServingStack(Testing.app(), parse_environment(text, name=name, source="test"))


def test_stack_is_named_after_environment():
    assert _stack().config.stack_name == "ml-serving-dev"


def test_provider_uses_project_and_first_region():
    provider = synth(_stack('project_id = "my-project-1"\nregions = ["europe-west4", "us-east1"]\n'))["provider"]["google"][0]
    assert provider == {"project": "my-project-1", "region": "europe-west4", "add_terraform_attribution_label": False}


def test_resources_carry_environment_labels():
    result = synth(_stack(MINIMAL + '[labels]\nteam = "platform"\n', name="qa"))
    labels = only_resource(result, "google_compute_global_address")["labels"]
    assert labels == {"team": "platform", "app": "ml", "env": "qa", "managed-by": "cdktf"}


def test_local_backend_by_default():
    assert _stack().to_terraform()["terraform"]["backend"] == {"local": {"path": "terraform.tfstate"}}


def test_gcs_backend_prefix_defaults_to_the_stack_name():
    stack = _stack(MINIMAL + '[backend]\ntype = "gcs"\nbucket = "acme-tf-state"\n', name="prod")
    assert stack.to_terraform()["terraform"]["backend"] == {"gcs": {"bucket": "acme-tf-state", "prefix": "terraform/ml-serving-prod"}}


def test_gcs_backend_prefix_can_be_set():
    stack = _stack(MINIMAL + '[backend]\ntype = "gcs"\nbucket = "acme-tf-state"\nprefix = "teams/ml"\n')
    assert stack.to_terraform()["terraform"]["backend"]["gcs"]["prefix"] == "teams/ml"


def test_outputs_network_and_subnets():
    outputs = synth(_stack())["output"]
    assert set(outputs) >= {"network_self_link", "subnets"}
    assert list(outputs["subnets"]["value"]) == ["us-central1"]


@pytest.mark.parametrize("path", environment_files(), ids=lambda p: p.stem)
def test_environment_snapshot(path, snapshot_json):
    """One reviewed snapshot per shipped environment file."""
    assert synth(MlServingStack(Testing.app(), load_environment(path))) == snapshot_json


def test_environments_folder_is_the_shipped_one():
    assert (ENVIRONMENTS_DIR / "dev.toml").exists()
