"""`python -m tools.plan_offline` over a hand-made cdktf.out (terraform needed, cdktf not)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from tools import plan_offline

pytestmark = [
    pytest.mark.terraform,
    pytest.mark.slow,
]

STACK = {
    "terraform": {
        "backend": {"gcs": {"bucket": "tfstate-bucket", "prefix": "terraform/ml-serving-dev"}},
        "required_providers": {"google": {"source": "google", "version": "6.50.0"}},
    },
    "provider": {"google": [{"project": "my-project", "region": "europe-west1"}]},
    "resource": {"google_compute_network": {"net": {"name": "net1", "auto_create_subnetworks": False}}},
}


def write_stack(out: Path, name: str, body: dict) -> Path:
    stack_dir = out / "stacks" / name
    stack_dir.mkdir(parents=True)
    (stack_dir / "cdk.tf.json").write_text(json.dumps(body))
    return stack_dir


def test_plans_every_stack_and_writes_plan_json(tmp_path, capsys):
    out = tmp_path / "cdktf.out"
    stack_dir = write_stack(out, "ml-serving-dev", STACK)
    original = (stack_dir / "cdk.tf.json").read_text()

    code = plan_offline.main(["--out", str(out), "--workdir", str(tmp_path / "work")])

    line = capsys.readouterr().out.strip()
    assert code == 0
    assert re.fullmatch(r"ml-serving-dev: validate ok, plan 1 to add, 0 to change, 0 to destroy "
                        r"\(init \d+\.\ds, validate \d+\.\ds, plan \d+\.\ds\)", line), line
    plan_json = json.loads((stack_dir / "plan.json").read_text())
    assert plan_json["resource_changes"][0]["change"]["actions"] == ["create"]
    assert (stack_dir / "cdk.tf.json").read_text() == original  # the user's file is untouched
    assert sorted(p.name for p in stack_dir.iterdir()) == ["cdk.tf.json", "plan.json"]


def test_failure_exits_non_zero_with_terraform_error(tmp_path, capsys):
    broken = copy.deepcopy(STACK)
    broken["resource"]["google_compute_network"]["net"]["no_such_argument"] = True
    out = tmp_path / "cdktf.out"
    write_stack(out, "good", STACK)
    write_stack(out, "broken", broken)

    code = plan_offline.main(["--out", str(out), "--workdir", str(tmp_path / "work"), "broken"])

    captured = capsys.readouterr()
    assert code == 1
    assert "broken: FAILED" in captured.out and "good" not in captured.out
    assert 'No argument or block type is named "no_such_argument"' in captured.err


def test_unknown_stack_name_is_a_usage_error(tmp_path, capsys):
    out = tmp_path / "cdktf.out"
    write_stack(out, "good", STACK)
    assert plan_offline.main(["--out", str(out), "nope"]) == 2
    assert "no synthesized stack named nope" in capsys.readouterr().err
