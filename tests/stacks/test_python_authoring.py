"""The README's Python authoring example builds the same kind of deployment as prod.toml."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import ast

from cdktf import TerraformStack

from tests.conftest import new_app, resources, synth

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "python_stack.py"


def _example():
    spec = importlib.util.spec_from_file_location("python_stack_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_python_example_synthesizes_the_prod_shape():
    stack = TerraformStack(new_app(), "test")
    _example().build(stack)
    result = synth(stack)
    assert len(resources(result, "google_compute_backend_service")) == 3
    assert len(resources(result, "google_compute_region_instance_group_manager")) == 6, "embeddings, llm and its canary in both regions"
    assert len(resources(result, "google_redis_instance")) == 2
    assert len(resources(result, "google_compute_security_policy")) == 1
    assert len(resources(result, "google_compute_managed_ssl_certificate")) == 1


def test_python_example_imports_only_public_modules():
    """The documented path: no private module (``constructs_lib._google``) and no cdktf import."""
    tree = ast.parse(EXAMPLE.read_text())
    modules = [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module]
    modules += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    ours = [m for m in modules if m.startswith("constructs_lib")]
    assert ours and not [m for m in ours if any(part.startswith("_") for part in m.split("."))]
    assert not [m for m in modules if m.split(".")[0] in ("cdktf", "cdktf_cdktf_provider_google")]
