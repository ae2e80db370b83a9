"""`python -m tools.deploy stacks`: the deploy matrix, dependencies first, never local state."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools import deploy


def out_dir(tmp_path: Path, stacks: dict[str, tuple[list[str], dict | None]]) -> Path:
    """A cdktf output dir: {stack: (dependencies, backend block or None)}."""
    manifest = {"version": "0.21.0", "stacks": {}}
    for name, (dependencies, backend) in stacks.items():
        path = f"stacks/{name}/cdk.tf.json"
        (tmp_path / path).parent.mkdir(parents=True)
        (tmp_path / path).write_text(json.dumps({"terraform": {"backend": backend} if backend else {}}))
        manifest["stacks"][name] = {"name": name, "dependencies": dependencies, "synthesizedStackPath": path}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    return tmp_path


GCS = {"gcs": {"bucket": "state"}}


def test_stacks_in_dependency_order_without_local_state(tmp_path, capsys):
    out = out_dir(tmp_path, {"ml-serving-gke": (["ml-serving-gke-cluster"], GCS), "ml-serving-gke-cluster": ([], GCS),
                             "ml-serving-dev": ([], {"local": {"path": "terraform.tfstate"}}),
                             "ml-serving-a": (["ml-serving-gke"], GCS), "ml-serving-nobackend": ([], None)})

    assert deploy.main(["stacks", str(out)]) == 0

    captured = capsys.readouterr()
    assert json.loads(captured.out) == ["ml-serving-gke-cluster", "ml-serving-gke", "ml-serving-a"]
    assert captured.err.splitlines() == [
        "deploy stacks: ml-serving-dev: local state backend, not applied from CI (the runner's disk, and the state, "
        "are thrown away)",
        "deploy stacks: ml-serving-nobackend: local state backend, not applied from CI (the runner's disk, and the "
        "state, are thrown away)"]


def test_only_one_stack_for_a_manual_dispatch(tmp_path, capsys):
    out = out_dir(tmp_path, {"ml-serving-prod": ([], GCS), "ml-serving-dev": ([], {"local": {}})})

    assert deploy.main(["stacks", str(out), "--only", "ml-serving-prod"]) == 0
    assert json.loads(capsys.readouterr().out) == ["ml-serving-prod"]


@pytest.mark.parametrize(("only", "message"), [
    ("ml-serving-nope", "deploy stacks: no synthesized stack named ml-serving-nope; stacks: ml-serving-dev, ml-serving-prod"),
    ("ml-serving-dev", "deploy stacks: ml-serving-dev: local state backend, not applied from CI"),
])
def test_unknown_or_local_stack_is_a_one_line_error(tmp_path, capsys, only, message):
    out = out_dir(tmp_path, {"ml-serving-prod": ([], GCS), "ml-serving-dev": ([], {"local": {}})})

    assert deploy.main(["stacks", str(out), "--only", only]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith(message) and len(captured.err.splitlines()) == 1


def test_not_a_cdktf_output_dir(tmp_path, capsys):
    assert deploy.main(["stacks", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == (f"deploy stacks: {tmp_path}: not a cdktf output dir with a "
                                               "manifest.json (FileNotFoundError)")


def test_a_dependency_cycle_is_refused(tmp_path):
    out = out_dir(tmp_path, {"a": (["b"], GCS), "b": (["a"], GCS)})
    with pytest.raises(deploy.DeployError, match="stack dependency cycle"):
        deploy.deployable(out)
