"""``tools.scan``: checkov over every synthesized stack, and the sorting of its results.

The end-to-end test runs checkov (from ``.venv-scan``; skipped with a message when it is not
installed) once over every stack of ``conftest.all_stacks`` plus a copy of one stack with a
public IP added, so it shows both that our stacks pass and that the scan can fail.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from tests.security.conftest import ROOT, SynthStack
from tools import scan

CHECKOV = ROOT / ".venv-scan" / "bin" / "checkov"


@pytest.mark.slow
def test_checkov_passes_every_stack_and_catches_a_public_ip(
    synthesized_outdirs: list[Path], all_stacks: list[SynthStack], tmp_path: Path
):
    if not CHECKOV.exists():
        pytest.skip("checkov is not installed in .venv-scan: `make .venv-scan/.installed` (requirements-scan.txt)")
    prod = next(s for s in all_stacks if s.name == "ml-serving-prod")
    broken = copy.deepcopy(prod.json)
    next(iter(broken["resource"]["google_compute_instance_template"].values()))["network_interface"][0]["access_config"] = [{}]
    broken_file = tmp_path / "broken" / "stacks" / "ml-serving-broken" / "cdk.tf.json"
    broken_file.parent.mkdir(parents=True)
    broken_file.write_text(json.dumps(broken, indent=2))

    report = scan.scan([*synthesized_outdirs, tmp_path / "broken"])

    results = {path.parent.name: result for path, result in report.stacks.items()}
    assert set(results) == {s.name for s in all_stacks} | {"ml-serving-broken"}
    for stack in all_stacks:
        result = results[stack.name]
        assert result.passed > 0, stack.name
        assert result.ok, f"{stack.name}:\n" + "\n".join(f.describe() for f in result.failed + result.crashed)
        assert {f.check_id for f in result.skipped} <= set(report.skips) | set(scan.ACCEPTED_FINDINGS)
    assert "CKV_GCP_40" in {f.check_id for f in results["ml-serving-broken"].failed}
    assert not report.ok
    assert not report.parsing_errors and not report.stale_skips
    text = scan.render(report)
    assert re.search(r"ml-serving-prod\s+\d+\s+0\s+\d+", text)
    assert "FAILED  CKV_GCP_40" in text


def _item(check_id: str, file: Path, resource: str = "google_x.a", result: str = "FAILED") -> dict:
    return {"check_id": check_id, "check_name": "name", "resource": resource, "file_abs_path": str(file),
            "file_path": "/" + file.name, "file_line_range": [1, 2], "check_result": {"result": result}}


def test_evaluate_applies_skips_counts_crashes_and_finds_stale_skips(tmp_path: Path):
    one, two = tmp_path / "a" / "cdk.tf.json", tmp_path / "b" / "cdk.tf.json"
    report = {
        "check_type": "terraform_json",
        "summary": {"checkov_version": "3.3.30"},
        "results": {
            "passed_checks": [_item("CKV_1", one, result="PASSED"), _item("CKV_STALE", two, result="PASSED")],
            "failed_checks": [_item("CKV_SKIPPED", one), _item("CKV_REAL", two)],
            "skipped_checks": [],
            "parsing_errors": [],
        },
    }
    stderr = (f"[ERROR]  Failed to run check CKV_CRASH on {two}:google_y.b\n"
              f"[ERROR]  Failed to run check CKV_SKIPPED on {one}:google_y.c\n")
    result = scan.evaluate([one, two], report, stderr, ["CKV_SKIPPED", "CKV_STALE"])
    first, second = result.stacks[one.resolve()], result.stacks[two.resolve()]
    assert (first.passed, [f.check_id for f in first.skipped], first.ok) == (1, ["CKV_SKIPPED", "CKV_SKIPPED"], True)
    assert [f.check_id for f in second.failed] == ["CKV_REAL"] and [f.check_id for f in second.crashed] == ["CKV_CRASH"]
    assert result.stale_skips == ("CKV_STALE",) and not result.ok


def test_a_finding_accepted_for_one_resource_still_fails_on_another(tmp_path: Path):
    """CKV_K8S_43 (image by digest) is accepted on the metrics adapter's Deployment only."""
    one = tmp_path / "a" / "cdk.tf.json"
    report = {"results": {"passed_checks": [], "skipped_checks": [], "parsing_errors": [], "failed_checks": [
        _item("CKV_K8S_43", one, resource="kubernetes_deployment_v1.metrics-adapter_deployment_456AD7B2"),
        _item("CKV_K8S_43", one, resource="kubernetes_deployment_v1.workload-llm_deployment_50AC0661"),
    ]}}
    result = scan.evaluate([one], report, "", []).stacks[one.resolve()]
    assert [f.resource for f in result.skipped] == ["kubernetes_deployment_v1.metrics-adapter_deployment_456AD7B2"]
    assert [f.resource for f in result.failed] == ["kubernetes_deployment_v1.workload-llm_deployment_50AC0661"]


def test_stack_files_needs_synthesized_output(tmp_path: Path):
    with pytest.raises(scan.ScanError, match=r"no synthesized stacks .* run `make synth`"):
        scan.stack_files([tmp_path])


def test_main_reports_setup_problems_in_one_line(tmp_path: Path, capsys):  # noqa: ANN001
    assert scan.main(["--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: --out ")


def test_every_skip_in_checkov_config_has_a_reason():
    lines = (ROOT / ".checkov.yaml").read_text().splitlines()
    start = lines.index("skip-check:")
    skips = [(i, line) for i, line in enumerate(lines) if i > start and re.match(r"^\s+- CKV", line)]
    assert skips, "the skip list is read"
    for index, line in skips:
        assert lines[index - 1].strip().startswith("#"), f"{line.strip()} has no reason comment right above it"
