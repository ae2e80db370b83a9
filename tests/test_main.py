"""The app entry end to end, in subprocesses, as a user runs it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from stacks.config import environment_files, load_environment
from tests.entry_synth import EntrySynth, run_main

ROOT = Path(__file__).resolve().parent.parent
MODEL = '\n[[models]]\nname = "resnet"\nimage = "us-docker.pkg.dev/p/r/server:1"\n'


def _run_main(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return run_main(tmp_path / "cdktf.out", **env)


@pytest.fixture
def synthesized_out(main_synth: EntrySynth) -> Path:
    """``python main.py`` over every environment file, once per session (tests/entry_synth.py)."""
    return main_synth.outdir


@pytest.mark.slow
def test_main_synthesizes_every_environment(synthesized_out: Path):
    stacks = sorted(p.name for p in (synthesized_out / "stacks").iterdir())
    expected = []
    for path in environment_files():
        config = load_environment(path)
        expected += [config.stack_name] + ([f"{config.stack_name}-cluster"] if config.uses_gke else [])
    assert stacks == sorted(expected)
    dev = json.loads((synthesized_out / "stacks" / "ml-serving-dev" / "cdk.tf.json").read_text())
    assert "google_compute_network" in dev["resource"]
    assert dev["terraform"]["backend"] == {"local": {"path": "../../../state/ml-serving-dev.tfstate"}}


@pytest.mark.slow
def test_output_is_machine_independent(synthesized_out: Path):
    """No path of the synthesizing machine (checkout, output directory) leaks into the output; paths
    on the VMs themselves (the runner's /tmp downloads) are content, not leaks."""
    for path in synthesized_out.rglob("*.json"):
        text = path.read_text()
        for local in (str(ROOT), str(synthesized_out.parent), str(Path.home())):
            assert local not in text, f"{path} holds the local path {local}"


def _broken_env_dir(tmp_path: Path, text: str) -> Path:
    directory = tmp_path / "environments"
    directory.mkdir()
    (directory / "qa.toml").write_text(text + MODEL)
    return directory


@pytest.mark.slow
@pytest.mark.parametrize(
    "text,expected",
    [
        ('project_id = "my-project-1"\nregions = ["moon-1"]\n', "regions[0] = 'moon-1': unknown Google Cloud region"),
        ('project_id = "my-project-1"\nregions = ["us-east1"]\nflavour = 1\n', "flavour = 1: unknown key; allowed keys:"),
        ('project_id = "my-project-1"\nregions = ["us-east1"]\n[network]\nserving_port = "x"\n', "network.serving_port = 'x'"),
        ('project_id = "my-project-1"\nregions = ["us-east1"]\n[network.subnet_cidrs]\nus-west1 = "10.0.0.0/20"\n', "network.subnet_cidrs = ['us-west1']: names regions that are not served"),
        ('project_id = [\n', "TOML syntax error"),
    ],
)
def test_broken_environment_file_gives_one_line_and_exit_2(tmp_path: Path, text: str, expected: str):
    result = _run_main(tmp_path, ML_SERVING_ENVIRONMENTS_DIR=str(_broken_env_dir(tmp_path, text)))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and "qa.toml: " in lines[0] and expected in lines[0]
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert not (tmp_path / "cdktf.out").exists(), "nothing is written when input is bad"


@pytest.mark.slow
def test_environment_variable_narrows_synthesis(tmp_path: Path):
    directory = tmp_path / "environments"
    directory.mkdir()
    for name in ("dev", "qa"):
        (directory / f"{name}.toml").write_text('project_id = "my-project-1"\nregions = ["us-east1"]\n' + MODEL)
    result = _run_main(tmp_path, ML_SERVING_ENVIRONMENTS_DIR=str(directory), ML_SERVING_ENV="qa")
    assert result.returncode == 0, result.stderr
    assert [p.name for p in (tmp_path / "cdktf.out" / "stacks").iterdir()] == ["ml-serving-qa"]


@pytest.mark.slow
def test_unknown_environment_name_is_one_line(tmp_path: Path):
    result = _run_main(tmp_path, ML_SERVING_ENV="nope")
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: ML_SERVING_ENV = 'nope': no environment file for nope; available: ")


@pytest.mark.slow
def test_pinned_cdktf_cli_synth_matches_main(cli_synth: EntrySynth, synthesized_out: Path):
    """`npx cdktf synth` (pinned cdktf-cli, after `npm ci`) writes the same stacks, byte for byte."""
    ours = sorted(p.name for p in (synthesized_out / "stacks").iterdir())
    assert sorted(p.name for p in (cli_synth.outdir / "stacks").iterdir()) == ours
    for name in ours:
        theirs = (cli_synth.outdir / "stacks" / name / "cdk.tf.json").read_bytes()
        assert (synthesized_out / "stacks" / name / "cdk.tf.json").read_bytes() == theirs, \
            f"{name}: cdktf synth differs from python main.py"


@pytest.mark.slow
def test_failed_synth_leaves_previous_output_untouched(tmp_path: Path):
    previous = tmp_path / "cdktf.out" / "stacks" / "ml-serving-qa"
    previous.mkdir(parents=True)
    (previous / "cdk.tf.json").write_text('{"previous": true}')
    text = 'project_id = "my-project-1"\nregions = ["us-east1"]\n[network.subnet_cidrs]\nus-west1 = "10.0.0.0/20"\n'
    result = _run_main(tmp_path, ML_SERVING_ENVIRONMENTS_DIR=str(_broken_env_dir(tmp_path, text)))
    assert result.returncode == 2
    assert (previous / "cdk.tf.json").read_text() == '{"previous": true}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cdktf.out", "environments"], "no staging folder is left behind"


@pytest.mark.slow
def test_full_synth_drops_stacks_of_removed_environments(tmp_path: Path):
    stale = tmp_path / "cdktf.out" / "stacks" / "ml-serving-removed"
    stale.mkdir(parents=True)
    directory = tmp_path / "environments"
    directory.mkdir()
    (directory / "qa.toml").write_text('project_id = "my-project-1"\nregions = ["us-east1"]\n' + MODEL)
    result = _run_main(tmp_path, ML_SERVING_ENVIRONMENTS_DIR=str(directory))
    assert result.returncode == 0, result.stderr
    assert [p.name for p in (tmp_path / "cdktf.out" / "stacks").iterdir()] == ["ml-serving-qa"]
    assert result.stdout.startswith(f"synthesized {tmp_path / 'cdktf.out'}: ml-serving-qa (") and "resources)" in result.stdout
