"""Terraform state survives every way of synthesizing, as a user runs them (subprocesses).

Local state lives in ``state/<stack>.tfstate`` next to the output folder (``stacks.state``);
these tests put a state file where the synthesized backend points and synthesize again with
``make synth``, ``make synth ENV=dev`` and the pinned cdktf CLI, then check that the file, and
the stacks a narrowed synth did not name, are still there. The first synth of every environment
is the session's (tests/entry_synth.py), copied.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from stacks.state import local_state_path
from tests.entry_synth import EntrySynth, entry_environment, private_copy, run_cli, run_main

ROOT = Path(__file__).resolve().parent.parent
STATE = '{"version": 4, "serial": 7, "lineage": "keep-me", "resources": []}\n'


def _state_at_backend_path(outdir: Path, stack: str) -> Path:
    """Write a state file where ``stack``'s synthesized local backend points; return its path."""
    body = json.loads((outdir / "stacks" / stack / "cdk.tf.json").read_text())
    relative = body["terraform"]["backend"]["local"]["path"]
    assert relative == local_state_path(stack)
    path = (outdir / "stacks" / stack / relative).resolve()
    assert outdir.resolve() not in path.parents, "state must live outside the output folder"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(STATE)
    return path


def _make(outdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["make", "--no-print-directory", "synth", *args], cwd=ROOT, env=entry_environment(outdir),
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture
def first_synth(main_synth: EntrySynth, tmp_path: Path) -> Path:
    """A private copy of the session's synth of every environment (tests/entry_synth.py)."""
    return private_copy(main_synth, tmp_path / "cdktf.out")


@pytest.mark.slow
def test_state_survives_make_synth_and_narrowed_synths(first_synth: Path):
    dev_state = _state_at_backend_path(first_synth, "ml-serving-dev")
    stacks_before = sorted(p.name for p in (first_synth / "stacks").iterdir())
    prod_before = (first_synth / "stacks" / "ml-serving-prod" / "cdk.tf.json").read_bytes()

    narrowed = _make(first_synth, "ENV=dev")
    assert "kept from the previous synth: ml-serving-gke, ml-serving-gke-cluster, ml-serving-prod" in narrowed.stdout
    assert sorted(p.name for p in (first_synth / "stacks").iterdir()) == stacks_before
    assert (first_synth / "stacks" / "ml-serving-prod" / "cdk.tf.json").read_bytes() == prod_before
    manifest = json.loads((first_synth / "manifest.json").read_text())
    assert sorted(manifest["stacks"]) == stacks_before, "kept stacks stay in the manifest (cdktf deletes unlisted ones)"
    assert dev_state.read_text() == STATE

    _make(first_synth, "ENV=prod")
    assert (first_synth / "stacks" / "ml-serving-dev" / "cdk.tf.json").exists()
    _make(first_synth)
    assert dev_state.read_text() == STATE


@pytest.mark.slow
def test_state_survives_the_cdktf_cli_synth(cli_synth: EntrySynth, tmp_path: Path):
    outdir = private_copy(cli_synth, tmp_path / "cdktf.out")
    state = _state_at_backend_path(outdir, "ml-serving-dev")
    result = run_cli(outdir, ML_SERVING_ENV="dev")
    assert result.returncode == 0, result.stdout + result.stderr
    assert state.read_text() == STATE


@pytest.mark.slow
def test_state_at_the_old_place_is_moved_out_of_the_output_folder(tmp_path: Path):
    outdir = tmp_path / "cdktf.out"
    legacy = outdir / "stacks" / "ml-serving-dev" / "terraform.tfstate"
    legacy.parent.mkdir(parents=True)
    legacy.write_text(STATE)
    result = run_main(outdir, ML_SERVING_ENV="dev")
    assert result.returncode == 0, result.stderr
    moved = tmp_path / "state" / "ml-serving-dev.tfstate"
    assert moved.read_text() == STATE and not legacy.exists()
    assert f"moved Terraform state {legacy} -> {moved}" in result.stdout
