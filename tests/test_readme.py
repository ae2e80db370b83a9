"""The README's examples run: every Python block is executed, every TOML block that is a whole
environment file (it starts with ``#:schema``) is validated and synthesized."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from stacks.config import parse_environment
from stacks.synth import build_stacks
from tests.conftest import new_app, synth

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", README, flags=re.S)
PYTHON = [code for language, code in BLOCKS if language == "python"]
ENVIRONMENTS = [code for language, code in BLOCKS if language == "toml" and code.startswith("#:schema")]


def test_readme_has_examples_to_run():
    assert PYTHON and ENVIRONMENTS


@pytest.mark.slow
@pytest.mark.parametrize("code", PYTHON, ids=lambda code: code.splitlines()[0][:40])
def test_python_example_runs_and_synthesizes(code: str, tmp_path: Path):
    """As a user runs it: a script in a folder of its own, the library on the path."""
    (tmp_path / "example.py").write_text(code)
    environ = {**os.environ, "PYTHONPATH": str(ROOT)}
    environ.pop("CDKTF_OUTDIR", None)
    result = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "end-of-life" not in result.stderr, "the Node banner leaked"
    stacks = list(tmp_path.glob("cdktf.out/stacks/*/cdk.tf.json"))
    assert stacks, "the example wrote no stack"
    for path in stacks:
        assert json.loads(path.read_text())["resource"]


@pytest.mark.parametrize("text", ENVIRONMENTS, ids=lambda text: text.splitlines()[1][:40])
def test_environment_example_is_valid_and_synthesizes(text: str):
    config = parse_environment(text, name="dev", source="README.md")
    for stack in build_stacks(new_app(), config):
        assert synth(stack)["resource"]


FRAGMENTS = [code for language, code in BLOCKS if language == "toml" and not code.startswith("#:schema")]
_HEAD = 'project_id = "my-project-1"\nregions = ["us-central1"]\n'
_MODELS = "".join(f'\n[[models]]\nname = "{name}"\nimage = "us-docker.pkg.dev/p/r/{name}:1"\n' for name in ("llm", "resnet"))


def test_readme_has_fragments_to_check():
    assert FRAGMENTS


@pytest.mark.parametrize("text", FRAGMENTS, ids=lambda text: text.splitlines()[0][:40])
def test_environment_fragment_is_valid(text: str):
    """A table the README shows (state backend, observability...) is valid in an environment file
    with models named llm and resnet."""
    config = parse_environment(_HEAD + text + _MODELS, name="qa", source="README.md")
    assert config.models
