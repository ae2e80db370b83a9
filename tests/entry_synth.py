"""Every environment synthesized through a user's entry points, once per test session.

``python main.py`` and the pinned cdktf CLI each take seconds of CPU (an interpreter, the
bindings, Node), and several modules check what they write: test_main (stacks, machine
independence, CLI against main.py), test_state (state survives the next synth), test_fast_import
(fast against naive import). The fixtures here run each synth once per session. Under
pytest-xdist the first worker that asks runs it into the session's shared temporary root, holding
a file lock; the others wait for the lock and read the same folder. Tests treat that folder as
read-only: one that synthesizes again into it copies it first (``private_copy``).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from constructs_lib._fastimport import LAZY_NODE_ENV, NAIVE_ENV
from tests.tools.conftest import require

ROOT = Path(__file__).resolve().parent.parent
CDKTF_CLI = ROOT / "node_modules" / ".bin" / "cdktf"

USER_SWITCHES = (NAIVE_ENV, LAZY_NODE_ENV, "ML_SERVING_ENV", "ML_SERVING_ENVIRONMENTS_DIR")
"""Variables a developer may have exported that narrow or change a synth; the shared synths drop
them so that they always cover every environment file with the default import path."""


@dataclass(frozen=True)
class EntrySynth:
    """One finished synth: its output folder (read-only) and what the process printed."""

    outdir: Path
    stdout: str
    stderr: str


def entry_environment(outdir: Path, **extra: str) -> dict[str, str]:
    """``os.environ`` without :data:`USER_SWITCHES`, writing to ``outdir``, offline and quiet."""
    environ = {key: value for key, value in os.environ.items() if key not in USER_SWITCHES}
    return environ | {"CDKTF_OUTDIR": str(outdir), "CHECKPOINT_DISABLE": "1",
                      "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"} | extra


def run_main(outdir: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    """``python main.py`` in the checkout, writing to ``outdir`` (:func:`entry_environment` plus ``extra``)."""
    return subprocess.run([sys.executable, "main.py"], cwd=ROOT, env=entry_environment(outdir, **extra),
                          capture_output=True, text=True, timeout=300)


def run_cli(outdir: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    """``cdktf synth`` (the pinned CLI, :func:`require_cdktf_cli`) writing to ``outdir``, as CI runs it
    (:func:`entry_environment` plus ``CI=1`` and ``extra``)."""
    return subprocess.run([str(require_cdktf_cli()), "synth", "--output", str(outdir)], cwd=ROOT,
                          env=entry_environment(outdir, CI="1", **extra), capture_output=True, text=True, timeout=600)


def require_cdktf_cli() -> Path:
    """The pinned cdktf CLI; a skip that says why without it, a failure in CI (``require``)."""
    require(CDKTF_CLI.exists() and shutil.which("node") is not None,
            "cdktf-cli is not installed: run `npm ci` (the Makefile's test target does)")
    return CDKTF_CLI


def private_copy(synth: EntrySynth, destination: Path) -> Path:
    """A copy of ``synth``'s output folder at ``destination`` (for a test that synthesizes again)."""
    shutil.copytree(synth.outdir, destination, symlinks=True)
    return destination


def _session_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The temporary folder all workers of this session share (a worker's own is one below it)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def _once(tmp_path_factory: pytest.TempPathFactory, name: str,
          run: Callable[[Path], subprocess.CompletedProcess[str]]) -> EntrySynth:
    """Run ``run(outdir)`` once per session across workers; every caller gets its result."""
    root = _session_root(tmp_path_factory)
    outdir, record = root / name / "cdktf.out", root / f"{name}.json"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not record.exists():
            result = run(outdir)
            record.write_text(json.dumps({"code": result.returncode, "stdout": result.stdout, "stderr": result.stderr}))
    finished = json.loads(record.read_text())
    assert finished["code"] == 0, f"{name} failed:\n{finished['stdout']}{finished['stderr']}"
    return EntrySynth(outdir, finished["stdout"], finished["stderr"])


@pytest.fixture(scope="session")
def main_synth(tmp_path_factory: pytest.TempPathFactory) -> EntrySynth:
    """``python main.py`` over every environment file, as a user runs it."""
    return _once(tmp_path_factory, "main-py", run_main)


@pytest.fixture(scope="session")
def cli_synth(tmp_path_factory: pytest.TempPathFactory) -> EntrySynth:
    """``cdktf synth`` (the pinned CLI, after ``npm ci``) over every environment file."""
    require_cdktf_cli()  # skip (or fail in CI) before taking the lock
    return _once(tmp_path_factory, "cdktf-cli", run_cli)
