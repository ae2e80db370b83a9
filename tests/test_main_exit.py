"""How ``python main.py`` ends: no interpreter teardown, but nothing lost (main.exit_without_teardown).

Each test runs a real process with pipes, as the cdktf CLI and CI do. jsii's Node process is
started through a wrapper (``JSII_NODE``) that records its pid, so a test can check that none
is left running after the Python process is gone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NODE = shutil.which("node")

pytestmark = [pytest.mark.slow, pytest.mark.skipif(NODE is None, reason="node is not installed")]


@pytest.fixture
def node_pids(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """Environment that starts jsii's Node through a wrapper appending its pid to a file."""
    pids = tmp_path / "node.pids"
    wrapper = tmp_path / "node-wrapper"
    wrapper.write_text(f'#!/bin/sh\necho $$ >> "{pids}"\nexec "{NODE}" "$@"\n')
    wrapper.chmod(0o755)
    return {"JSII_NODE": str(wrapper)}, pids


def _run(argv: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ML_SERVING_")} | {
        "CDKTF_OUTDIR": str(tmp_path / "cdktf.out"), **env}
    return subprocess.run(argv, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=300)


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting to be reaped has exited)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def _node_pids(pids: Path) -> list[int]:
    assert pids.exists(), "jsii did not start Node through the wrapper"
    return [int(line) for line in pids.read_text().split()]


def test_a_synth_exits_0_and_leaves_no_node_process(tmp_path, node_pids):
    env, pids = node_pids
    result = _run([sys.executable, "main.py"], tmp_path, ML_SERVING_ENV="dev", **env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "cdktf.out" / "stacks" / "ml-serving-dev" / "cdk.tf.json").is_file()
    assert result.stdout.startswith("synthesized ") and "ml-serving-dev (" in result.stdout  # the report arrives
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr
    started = _node_pids(pids)
    assert len(started) == 1 and not any(_running(pid) for pid in started)


def test_a_config_error_exits_2_with_its_line_and_leaves_no_node_process(tmp_path, node_pids):
    env, pids = node_pids
    directory = tmp_path / "environments"
    directory.mkdir()
    (directory / "qa.toml").write_text('project_id = "my-project-1"\nregions = ["moon-1"]\n')
    result = _run([sys.executable, "main.py"], tmp_path, ML_SERVING_ENVIRONMENTS_DIR=str(directory), **env)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [result.stderr.strip()] and "qa.toml: regions[0] = 'moon-1'" in result.stderr
    # main prestarts jsii's kernel to boot while the files are validated; unused, it is killed at exit
    assert not pids.exists() or not any(_running(pid) for pid in _node_pids(pids))


def test_a_config_error_starts_no_node_when_the_kernel_is_not_prestarted(tmp_path, node_pids):
    """Validating environment files needs no Node: with jsii's kernel started as shipped (the
    plain CDKTF path), a config error never starts it."""
    env, pids = node_pids
    directory = tmp_path / "environments"
    directory.mkdir()
    (directory / "qa.toml").write_text('project_id = "my-project-1"\nregions = ["moon-1"]\n')
    result = _run([sys.executable, "main.py"], tmp_path, ML_SERVING_ENVIRONMENTS_DIR=str(directory),
                  ML_SERVING_DIRECT_NODE="0", **env)
    assert result.returncode == 2 and "qa.toml: regions[0] = 'moon-1'" in result.stderr
    assert not pids.exists(), "a config error started Node: stacks.config must not import cdktf or the bindings"


def test_output_written_before_the_exit_arrives_whole_and_teardown_is_skipped(tmp_path, node_pids):
    """1 MiB on stdout (more than a pipe holds, still in Python's buffer), an unterminated line
    on stderr and an atexit handler's line all arrive; the exit code is kept; a module-level
    finalizer, which teardown would run, does not run."""
    env, pids = node_pids
    finalized = tmp_path / "finalized"
    script = (
        "import atexit, sys\n"
        "import main\n"
        "class Finalizer:\n"
        f"    def __del__(self, open=open): open({str(finalized)!r}, 'w').close()\n"
        "keep = Finalizer()\n"
        "atexit.register(lambda: sys.stderr.write('atexit ran\\n'))\n"
        "sys.stdout.write('o' * (1 << 20))\n"
        "sys.stderr.write('no newline')\n"
        "main.exit_without_teardown(3)\n"
    )
    result = _run([sys.executable, "-c", script], tmp_path, **env)
    assert result.returncode == 3, result.stderr
    assert result.stdout == "o" * (1 << 20)
    assert result.stderr == "no newlineatexit ran\n"
    assert not finalized.exists(), "interpreter teardown ran"
    # importing main starts no Node (cdktf loads only to build stacks); any that did start has stopped
    assert not pids.exists() or not any(_running(pid) for pid in _node_pids(pids))
