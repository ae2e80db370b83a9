from pathlib import Path

import pytest

from stacks.config import (
    ENVIRONMENTS_DIR,
    EnvironmentConfig,
    EnvironmentFileError,
    GcsBackend,
    LocalBackend,
    environment_files,
    load_environment,
    parse_environment,
)

MINIMAL = 'project_id = "my-project-1"\nregions = ["us-central1"]\n'
MODEL = '\n[[models]]\nname = "resnet"\nimage = "us-docker.pkg.dev/p/r/server:1"\n'


def _parse(text: str, name: str = "dev", models: str = MODEL) -> EnvironmentConfig:
    """Parse ``text`` followed by ``models`` (the [[models]] tables must come last in TOML)."""
    return parse_environment(text + models, name=name, source=f"environments/{name}.toml")


def _error(text: str, name: str = "dev", models: str = MODEL) -> str:
    with pytest.raises(EnvironmentFileError) as info:
        _parse(text, name, models)
    message = str(info.value)
    assert "\n" not in message, "errors must be one line"
    assert message.startswith(f"environments/{name}.toml: ")
    return message


def test_minimal_file_gets_defaults():
    config = _parse(MINIMAL)
    assert config.name == "dev" and config.app == "ml"
    assert config.stack_name == "ml-serving-dev"
    assert config.backend == LocalBackend()
    assert config.network.serving_port == 8080


def test_every_shipped_environment_is_valid():
    files = environment_files()
    assert "dev" in [f.stem for f in files]
    for path in files:
        assert load_environment(path).name == path.stem


def test_gcs_backend_with_default_prefix():
    config = _parse(MINIMAL + '[backend]\ntype = "gcs"\nbucket = "acme-tf-state"\n')
    assert config.backend == GcsBackend(type="gcs", bucket="acme-tf-state", prefix=None)


def test_network_section_validates_into_network_spec():
    config = _parse(MINIMAL + "[network]\nserving_port = 9000\niap_ssh = true\n")
    assert config.network.serving_port == 9000 and config.network.iap_ssh is True


@pytest.mark.parametrize(
    "text,expected",
    [
        (MINIMAL + "colour = 1\n", "colour = 1: unknown key; allowed keys: app, backend, cache, cloud_armor, gke, labels, load_balancer, model_store, models, name, network, observability, project_id, regions, static_content, tier"),
        (MINIMAL + "[network]\nserving_prot = 1\n", "network.serving_prot = 1: unknown key; did you mean 'serving_port'? allowed keys:"),
        (MINIMAL + '[network]\nserving_port = "http"\n', "network.serving_port = 'http': Input should be a valid integer"),
        (MINIMAL + "[network]\nserving_port = 0\n", "network.serving_port = 0: Input should be greater than or equal to 1"),
        ('project_id = "my-project-1"\nregions = ["us-central9"]\n', "regions[0] = 'us-central9': unknown Google Cloud region; allowed: us-central1"),
        ('project_id = "my-project-1"\nregions = []\n', "regions = []: Tuple should have at least 1 item"),
        ('project_id = "my-project-1"\nregions = ["us-east1", "us-east1"]\n', "repeated: us-east1"),
        ('project_id = "My_Project"\nregions = ["us-east1"]\n', "project_id = 'My_Project': must be a Google Cloud project id"),
        ('project_id = "abc"\nregions = ["us-east1"]\n', "project_id = 'abc': must be a Google Cloud project id"),
        ('regions = ["us-east1"]\n', "project_id: required key is missing"),
        ('project_id = "my-project-1"\n', "regions: required key is missing"),
        (MINIMAL + 'app = "ML"\n', "app = 'ML': must match"),
        (MINIMAL + '[labels]\nTeam = "x"\n', "label keys must match"),
        (MINIMAL + '[backend]\ntype = "s3"\n', "backend.type = 's3': must be one of 'local', 'gcs'"),
        (MINIMAL + '[backend]\ntype = "gcs"\n', "backend.bucket: required key is missing"),
        (MINIMAL + '[backend]\ntype = "gcs"\nbucket = "Bad_Bucket"\n', "backend.bucket = 'Bad_Bucket': bucket names are 3-63 characters"),
        (MINIMAL + '[backend]\ntype = "gcs"\nbucket = "my-google-state"\n', "backend.bucket = 'my-google-state': must not start with 'goog' or contain 'google'"),
        (MINIMAL + 'tier = "staging"\n', "tier = 'staging': Input should be 'dev' or 'production'"),
        (MINIMAL + '[backend]\ntype = "local"\npath = "terraform.tfstate"\n', "backend.path = 'terraform.tfstate': this key moved: local state lives in state/<stack>.tfstate next to cdktf.out"),
        (MINIMAL + "[network]\nserving_prt = 1\n", "network.serving_prt = 1: unknown key; did you mean 'serving_port'? allowed keys:"),
        (MINIMAL + 'name = "prod"\n', "name = 'prod': must match the file name ('dev') or be left out"),
        ("project_id = \n", "TOML syntax error"),
        ('project_id = "my-project-1"\nregions = ["us-central1"\n', "TOML syntax error"),
    ],
)
def test_fails_when_environment_file_is_broken(text, expected):
    message = _error(text)
    assert expected.replace("Value error, ", "") in message


def test_fails_when_file_name_is_not_a_valid_environment_name():
    assert "name = 'Dev_1': must match" in _error(MINIMAL, name="Dev_1")


def test_fails_when_file_cannot_be_read(tmp_path: Path):
    with pytest.raises(EnvironmentFileError, match="cannot read environment file"):
        load_environment(tmp_path / "missing.toml")


def test_environment_files_narrowed_by_name(tmp_path: Path):
    for name in ("dev", "prod", "staging"):
        (tmp_path / f"{name}.toml").write_text(MINIMAL)
    assert [f.stem for f in environment_files(tmp_path, only="staging, dev")] == ["staging", "dev"]
    assert [f.stem for f in environment_files(tmp_path)] == ["dev", "prod", "staging"]


def test_fails_when_narrowed_to_unknown_environment(tmp_path: Path):
    (tmp_path / "dev.toml").write_text(MINIMAL)
    with pytest.raises(EnvironmentFileError, match=r"ML_SERVING_ENV = 'qa': no environment file for qa; available: dev"):
        environment_files(tmp_path, only="qa")


def test_fails_when_folder_has_no_environment_files(tmp_path: Path):
    with pytest.raises(EnvironmentFileError, match=r"no environment files \(\*\.toml\) found"):
        environment_files(tmp_path)


def test_shipped_environments_live_next_to_the_code():
    assert ENVIRONMENTS_DIR.name == "environments" and (ENVIRONMENTS_DIR / "dev.toml").is_file()


def test_unknown_key_in_a_backend_lists_that_backends_keys():
    message = _error(MINIMAL + '[backend]\ntype = "gcs"\nbucket = "state-b"\nregion = "x"\n')
    assert message.endswith("backend.region = 'x': unknown key; allowed keys: bucket, prefix, type")


def _model(name: str, extra: str = "") -> str:
    return f'\n[[models]]\nname = "{name}"\nimage = "us-docker.pkg.dev/p/r/{name}:1"\n{extra}'


def test_models_default_routes_and_regions():
    config = _parse(MINIMAL)
    (model,) = config.models
    assert model.route_paths == ("/v1/models/resnet", "/v1/models/resnet/*")
    assert model.regions == () and model.scaling.min_replicas == 1 and model.runtime == "vm"


def test_cache_and_cloud_armor_sections_toggle_their_constructs():
    config = _parse(MINIMAL + "[cache]\nenabled = false\n[cloud_armor]\nenabled = true\n")
    assert config.cache.enabled is False and config.cloud_armor.enabled is True
    assert "enabled" not in config.cloud_armor.spec().model_dump()


@pytest.mark.parametrize(
    "models,expected",
    [
        ("", "models = []: at least one [[models]] table is required"),
        (_model("a") + _model("a"), "models[1].name = 'a': model names must be unique"),
        (_model("a") + _model("b", 'canary_of = "c"\n'), "models[1].canary_of = 'c': must name a model that is not a canary itself; allowed: a"),
        (_model("a") + _model("b", 'canary_of = "a"\n') + _model("c", 'canary_of = "b"\n'), "models[2].canary_of = 'b': must name a model that is not a canary itself"),
        (_model("a") + _model("b", 'canary_of = "a"\ncanary_weight = 60\n') + _model("c", 'canary_of = "a"\ncanary_weight = 40\n'), "canary weights of one model must add up to less than 100"),
        (_model("a", 'canary_of = "a"\n'), "cannot be a canary of itself"),
        (_model("a") + _model("b", 'canary_of = "a"\nroutes = ["/b"]\n'), "shares that model's routes, so leave routes empty"),
        (_model("a", 'canary_weight = 100\n'), "models[0].canary_weight = 100: Input should be less than or equal to 99"),
        (_model("a", 'routes = ["/x"]\n') + _model("b", 'routes = ["/x"]\n'), "models[b].routes = '/x': is already routed to model 'a'"),
        (_model("a", 'regions = ["us-east1"]\n'), "models[0].regions = ['us-east1']: must be among the deployment's regions (us-central1)"),
        (_model("a", 'regions = ["mars-1"]\n'), "models[0].regions[0] = 'mars-1': unknown Google Cloud region"),
        (_model("this-name-is-far-too-long"), "models[0].name = 'this-name-is-far-too-long': must be at most 20 characters"),
        (_model("Bad_Name"), "models[0].name = 'Bad_Name': must match"),
        (_model("a", 'model_path = "/abs"\n'), "models[0].model_path = '/abs': must be a relative object prefix"),
        ('\n[[models]]\nname = "a"\n', "set exactly one of image (a container the VM runs under systemd) or vm.startup_script"),
        (_model("a", 'colour = "red"\n'), "models[0].colour = 'red': unknown key; allowed keys: accelerator, args, backend, canary_of"),
        (_model("a", '[models.fleet]\nmachine_type = "n2-standard-8"\n'), "models[0].fleet = {'machine_type': 'n2-standard-8'}: this key moved: image -> models.image"),
        (_model("a", '[models.autoscaling]\nmin_replicas = 2\n'), "models[0].autoscaling = {'min_replicas': 2}: this key moved: renamed to [models.scaling]"),
        (_model("a", 'runtime = "lambda"\n'), "models[0].runtime = 'lambda': Input should be 'vm' or 'gke'"),
    ],
)
def test_fails_when_models_are_inconsistent(models, expected):
    assert expected in _error(MINIMAL, models=models)


def test_committed_json_schema_matches_the_models():
    from stacks.config import SCHEMA_PATH, environment_json_schema

    assert SCHEMA_PATH.read_text() == environment_json_schema(), (
        "environments/environment.schema.json is stale: run `.venv/bin/python -m stacks.config > environments/environment.schema.json`"
    )


def test_json_schema_describes_required_keys_and_sections():
    import json

    from stacks.config import SCHEMA_PATH

    schema = json.loads(SCHEMA_PATH.read_text())
    assert sorted(schema["required"]) == ["project_id", "regions"]
    assert {"network", "cache", "load_balancer", "models", "backend"} <= set(schema["properties"])
    assert schema["additionalProperties"] is False


GKE_MODEL = '\n[[models]]\nname = "llm"\nruntime = "gke"\nimage = "us-docker.pkg.dev/p/r/llm:1"\naccelerator = { type = "nvidia-l4" }\n'


def test_a_model_changes_runtime_with_one_key():
    on_gke = _parse(MINIMAL, models=GKE_MODEL)
    on_vms = _parse(MINIMAL, models=GKE_MODEL.replace('runtime = "gke"', 'runtime = "vm"'))
    assert on_gke.uses_gke and not on_vms.uses_gke
    assert on_gke.models[0].model_dump(exclude={"runtime"}) == on_vms.models[0].model_dump(exclude={"runtime"})


def test_gke_section_keeps_the_cluster_and_the_models_are_models_tables():
    config = _parse(MINIMAL + '[gke.cluster]\nrelease_channel = "STABLE"\n', models=GKE_MODEL)
    assert config.gke.cluster.release_channel == "STABLE"
    assert [m.name for m in config.models] == ["llm"] and config.models[0].gke.node_pool is None


def test_tier_defaults_by_environment_name():
    assert _parse(MINIMAL).effective_tier == "dev"
    assert _parse(MINIMAL, name="prod").effective_tier == "production"
    assert _parse(MINIMAL + 'tier = "dev"\n', name="sandbox").effective_tier == "dev"


def test_production_gke_model_keeps_two_replicas():
    two = GKE_MODEL + "[models.scaling]\nmin_replicas = 2\n"
    assert _parse(MINIMAL, name="prod", models=two).models[0].scaling.min_replicas == 2
    assert _parse(MINIMAL, name="dev", models=GKE_MODEL).models[0].scaling.min_replicas == 1


@pytest.mark.parametrize("models,expected", [
    (GKE_MODEL, "models[0].scaling.min_replicas = 1: a production GKE model keeps at least 2 replicas"),
    (GKE_MODEL + "[models.scaling]\nmin_replicas = 2\n[models.gke]\npdb_max_unavailable = 2\n",
     "models[0].gke.pdb_max_unavailable = 2: must be below scaling.min_replicas (2) in production"),
])
def test_fails_when_production_gke_model_can_lose_every_pod(models, expected):
    assert expected in _error(MINIMAL, name="prod", models=models)


def test_vm_and_gke_models_mix_in_one_environment():
    config = _parse('project_id = "my-project-1"\nregions = ["us-central1", "us-east1"]\n', models=MODEL + GKE_MODEL)
    assert [m.runtime for m in config.models] == ["vm", "gke"]


@pytest.mark.parametrize(
    "text,models,expected",
    [
        (MINIMAL, '\n[gke]\n[[gke.workloads]]\nname = "llm"\n', "gke.workloads = [{'name': 'llm'}]: this key moved: every model is a [[models]] table: set runtime = 'gke'"),
        (MINIMAL, '\n[gke]\nbackend_services = {}\n', "gke.backend_services = {}: this key moved: a model's backend service is its [models.backend] table"),
        (MINIMAL, GKE_MODEL.replace('image = "us-docker.pkg.dev/p/r/llm:1"\n', '') + '[models.vm]\nstartup_script = "run"\n', "models[0].image = None: a GKE model runs an image"),
        (MINIMAL, GKE_MODEL + "port = 80\n", "models[0].port = 80: must be >= 1024 on GKE"),
        (MINIMAL, GKE_MODEL + '[models.scaling]\nschedules = []\n', "models[0].scaling.schedules = 'set': is a VM-fleet autoscaler setting"),
    ],
)
def test_fails_when_gke_model_is_inconsistent(text, models, expected):
    assert expected in _error(text, models=models)


def test_validating_an_environment_file_starts_no_node_and_loads_no_bindings():
    """Config errors answer fast: the TOML -> specs path imports no cdktf, jsii or provider bindings."""
    import subprocess
    import sys

    code = (
        "import sys; from stacks.config import load_environment, environment_files\n"
        "[load_environment(p) for p in environment_files()]\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('cdktf', 'jsii', 'constructs', "
        "'cdktf_cdktf_provider_google', 'cdktf_cdktf_provider_kubernetes'))\n"
        "print(loaded)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
