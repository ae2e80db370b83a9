"""Shared test harness: synthesize stacks into dicts, JSON snapshots, resource look-ups.

The provider bindings load lazily (``constructs_lib._fastimport``), so every pytest-xdist
worker pays about a second for them; ``synth`` records each stack for the Terraform loop
(tests/terraform_loop.py).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Any, Iterator

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import constructs_lib  # noqa: E402,F401 - jsii environment first

from cdktf import App, TerraformStack, Testing  # noqa: E402

from constructs_lib._google import provider as google_provider  # noqa: E402
from constructs_lib.naming import Naming  # noqa: E402

pytest_plugins = ["tests.terraform_loop", "tests.entry_synth"]
"""After every other test, real Terraform validates and plans every stack the tests synthesized
(tests/terraform_loop.py: merged into a few configurations, offline provider double); every
environment synthesized once per session through ``python main.py`` and the cdktf CLI
(tests/entry_synth.py)."""

TEST_PROJECT = "test-project-123"
TEST_REGION = "europe-west1"

SYNTHESIZED: list[tuple[str, dict[str, Any]]] = []
"""Every stack synthesized through ``synth`` in this session (test id, JSON), so a later
session-scoped check (the offline Terraform harness) can validate all of them."""


APP_OUTDIR = tempfile.mkdtemp(prefix="ml-serving-test-apps-")
"""The output folder of every test app (nothing is written there: ``Testing.synth`` returns the
JSON). ``Testing.app()`` without one creates a folder under the system temp dir for every app
and leaves it behind, a couple of thousand a suite run; this one goes when the session ends."""


def new_app() -> App:
    """``cdktf.Testing.app()`` with its output folder in :data:`APP_OUTDIR`."""
    return Testing.app(outdir=APP_OUTDIR)


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(APP_OUTDIR, ignore_errors=True)


def synth(stack: TerraformStack) -> dict[str, Any]:
    """``Testing.synth`` parsed into a dict (backend and metadata blocks are dropped by cdktf)."""
    result = json.loads(Testing.synth(stack))
    test_id = os.environ.get("PYTEST_CURRENT_TEST", "unknown").split(" ")[0]
    SYNTHESIZED.append((test_id, result))
    return result


def new_stack(project: str = TEST_PROJECT, region: str = TEST_REGION) -> TerraformStack:
    """A fresh stack with a configured google provider, as the reference stacks have."""
    stack = TerraformStack(new_app(), "test")
    google_provider.GoogleProvider(stack, "google", project=project, region=region,
                                   add_terraform_attribution_label=False)
    return stack


def resources(synthesized: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    """All resources of ``resource_type`` keyed by their logical id (empty dict if none)."""
    return synthesized.get("resource", {}).get(resource_type, {})


def only_resource(synthesized: dict[str, Any], resource_type: str) -> dict[str, Any]:
    """The single resource of ``resource_type``; fails the test if there are zero or several."""
    found = resources(synthesized, resource_type)
    assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
    return next(iter(found.values()))


def resource_by_path(synthesized: dict[str, Any], resource_type: str, path_suffix: str) -> dict[str, Any]:
    """The resource of ``resource_type`` whose construct path ends with ``path_suffix``
    (``"network/nat-us-east1"``). cdktf's logical id is the path joined by ``_`` plus a hash."""
    wanted = path_suffix.strip("/").replace("/", "_")
    matches = [
        body for logical_id, body in resources(synthesized, resource_type).items()
        if logical_id.rsplit("_", 1)[0] == wanted or logical_id.rsplit("_", 1)[0].endswith("_" + wanted)
    ]
    assert len(matches) == 1, f"expected one {resource_type} at */{path_suffix}, found {len(matches)}"
    return matches[0]


def server_env(template: dict[str, Any]) -> dict[str, str]:
    """The model server's environment in a synthesized instance template: the env file the
    cloud-config writes (image mode) or the ``model-server-env`` metadata (startup-script mode)."""
    import yaml

    metadata = template["metadata"]
    if "user-data" in metadata:
        files = {f["path"]: f["content"] for f in yaml.safe_load(metadata["user-data"])["write_files"]}
        text = files["/etc/model-server/env"]
    else:
        text = metadata["model-server-env"]
    return dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))


@pytest.fixture
def stack() -> TerraformStack:
    """A fresh stack with a google provider (project test-project-123, region europe-west1)."""
    return new_stack()


@pytest.fixture
def naming() -> Naming:
    """``Naming(app="ml", env="test")``: names look like ``ml-test-<role>``."""
    return Naming(app="ml", env="test")


@pytest.fixture
def default_out(default_synth: str) -> dict[str, Any]:
    """A private copy (tests may edit what they read) of the module's ``default_synth``: a
    module-scoped fixture that builds the module's default stack and returns ``json.dumps`` of its
    synth, so a dozen tests reading the defaults synthesize it once per module and worker."""
    return json.loads(default_synth)


@pytest.fixture
def snapshot_json(snapshot):  # noqa: ANN001, ANN201 - syrupy's fixture
    """syrupy snapshot stored as one readable ``.json`` file per test case."""
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.fixture(scope="session")
def synthesized_stacks() -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """The list every ``synth`` call appends to (read by session-wide checks)."""
    yield SYNTHESIZED
