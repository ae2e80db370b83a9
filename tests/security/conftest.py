"""Fixtures of the security suite: every environment and example synthesized once per session.

``all_stacks`` is what the invariant tests and the checkov test iterate over: every
``environments/*.toml`` and ``examples/*.toml`` (through ``stacks.synth.synthesize``, the code
path ``main.py`` uses, so a new stack the app creates is covered without touching this file)
and every ``examples/*.py`` that defines ``build(stack)``. The cdk.tf.json files stay on disk
for checkov.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stacks.config import EnvironmentConfig, environment_files, load_environment

ROOT = Path(__file__).resolve().parents[2]
ENVIRONMENT_DIRS = (ROOT / "environments", ROOT / "examples")


@dataclass(frozen=True)
class SynthStack:
    """One synthesized stack: its name, the file it came from, its config (None for Python
    examples) and the parsed cdk.tf.json."""

    name: str
    source: str
    config: EnvironmentConfig | None
    json: dict[str, Any]
    path: Path

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return self.json.get("resource", {}).get(resource_type, {})

    def all_resources(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(type, logical id, body) of every resource."""
        return [(t, k, v) for t, group in self.json.get("resource", {}).items() for k, v in group.items()]


def environment_configs() -> dict[str, EnvironmentConfig]:
    """Every environment and example file, keyed by its path relative to the repository."""
    configs: dict[str, EnvironmentConfig] = {}
    for directory in ENVIRONMENT_DIRS:
        if directory.is_dir() and any(directory.glob("*.toml")):
            for path in environment_files(directory):
                configs[str(path.relative_to(ROOT))] = load_environment(path)
    return configs


def python_examples() -> list[Path]:
    """``examples/*.py`` that define ``build(stack)``."""
    return sorted(p for p in (ROOT / "examples").glob("*.py") if "\ndef build(" in p.read_text())


def read_stacks(outdir: Path, sources: dict[str, str], configs: dict[str, EnvironmentConfig]) -> list[SynthStack]:
    """Every ``<outdir>/stacks/*/cdk.tf.json``; ``sources`` maps a stack name to its file
    (a stack the app adds on its own, e.g. a second stack per environment, is named after the
    environment stack it starts with)."""
    by_stack = {config.stack_name: (source, config) for source, config in configs.items()}
    found = []
    for path in sorted(outdir.glob("stacks/*/cdk.tf.json")):
        name = path.parent.name
        owner = next((s for s in sorted(by_stack, key=len, reverse=True) if name == s or name.startswith(s + "-")), None)
        source, config = by_stack.get(owner, (sources.get(name, "?"), None))
        found.append(SynthStack(name=name, source=source, config=config, json=json.loads(path.read_text()), path=path))
    return found


@pytest.fixture(scope="session")
def synthesized_outdirs(tmp_path_factory) -> list[Path]:  # noqa: ANN001
    """Output folders holding every stack: environment/example files, then Python examples."""
    from cdktf import App, TerraformStack

    from stacks.synth import synthesize

    base = tmp_path_factory.mktemp("security")
    outdirs = [synthesize(environment_configs(), base / "cdktf.out").outdir]
    examples = python_examples()
    if examples:
        app = App(outdir=str(base / "cdktf.out.python"))
        for path in examples:
            spec = importlib.util.spec_from_file_location(f"_example_{path.stem}", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            module.build(TerraformStack(app, path.stem.replace("_", "-")))
        app.synth()
        outdirs.append(base / "cdktf.out.python")
    return outdirs


@pytest.fixture(scope="session")
def all_stacks(synthesized_outdirs: list[Path]) -> list[SynthStack]:
    """Every synthesized stack (environments, examples, Python examples)."""
    configs = environment_configs()
    sources = {p.stem.replace("_", "-"): str(p.relative_to(ROOT)) for p in python_examples()}
    stacks = [s for outdir in synthesized_outdirs for s in read_stacks(outdir, sources, configs)]
    assert stacks, "no stack was synthesized"
    return stacks
