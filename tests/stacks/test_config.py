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


def _parse(text: str, name: str = "dev") -> EnvironmentConfig:
    return parse_environment(text, name=name, source=f"environments/{name}.toml")


def _error(text: str, name: str = "dev") -> str:
    with pytest.raises(EnvironmentFileError) as info:
        _parse(text, name)
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
        (MINIMAL + "colour = 1\n", "colour = 1: unknown key; allowed keys: app, backend, labels, name, network, project_id, regions"),
        (MINIMAL + "[network]\nserving_prot = 1\n", "network.serving_prot = 1: unknown key; allowed keys:"),
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
        (MINIMAL + '[backend]\ntype = "gcs"\nbucket = "Bad_Bucket"\n', "backend.bucket = 'Bad_Bucket': Value error, 'Bad_Bucket' is not a valid bucket name"),
        (MINIMAL + '[backend]\ntype = "local"\npath = "/etc/state"\n', "must be a relative path"),
        (MINIMAL + '[backend]\ntype = "local"\npath = "../state"\n', "must be a relative path"),
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
