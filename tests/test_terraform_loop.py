"""The terraform_loop plugin (tests/terraform_loop.py): what it reads, and how it behaves in a
pytest session (a small project with hand-written stacks, run in a subprocess)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests import terraform_loop
from tests.conftest import new_stack, synth
from tests.tools.conftest import require
from tools.tfdouble import harness

REPO = Path(__file__).resolve().parents[1]

CONFTEST = """
    import os

    pytest_plugins = ["tests.terraform_loop"]
    SYNTHESIZED = []

    def synth(stack):
        SYNTHESIZED.append((os.environ["PYTEST_CURRENT_TEST"].split(" ")[0], stack))
        return stack
"""

TESTS = """
    import conftest

    REQUIRED = {"required_providers": {"google": {"source": "google", "version": "6.50.0"}}}
    PROVIDER = {"google": [{"project": "p-1", "region": "europe-west1"}]}

    def test_good():
        conftest.synth({"terraform": REQUIRED, "provider": PROVIDER, "resource": {
            "google_compute_network": {"vpc": {"name": "vpc", "auto_create_subnetworks": False}}}})

    def test_broken():
        conftest.synth({"terraform": REQUIRED, "provider": PROVIDER, "resource": {
            "google_compute_subnetwork": {"sub": {"name": "sub", "ip_cidr_range": "10.0.0.0/24",
                                                  "network": "${google_compute_network.missing.id}"}}}})

    def test_synthesizes_nothing():
        pass
"""


def test_reads_what_conftest_synth_recorded(request):
    stack_json = synth(new_stack())

    recorded = terraform_loop.collect_synthesized(request.config)

    assert recorded[-1] == (request.node.nodeid, stack_json)


@pytest.fixture
def project(tmp_path):
    (tmp_path / "conftest.py").write_text(textwrap.dedent(CONFTEST))
    (tmp_path / "test_stacks.py").write_text(textwrap.dedent(TESTS))
    return tmp_path


def run_pytest(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """A pytest session in ``project`` with only the plugins it uses: the installed ones
    (hypothesis, syrupy, typeguard) cost about 0.15 s of imports in every process of it."""
    environ = {**os.environ, "PYTHONPATH": str(REPO), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", **env}
    environ.pop("PYTEST_ADDOPTS", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "xdist.plugin", "-rs", *args],
                          cwd=project, env=environ, capture_output=True, text=True, timeout=300)


@pytest.fixture
def terraform_required() -> None:
    """Skip without terraform on a developer machine, fail in CI (tests/tools/conftest.py)."""
    require(harness.terraform_available(), harness.UNAVAILABLE_REASON)


needs_terraform = pytest.mark.usefixtures("terraform_required")


@pytest.mark.slow
@pytest.mark.terraform
@needs_terraform
def test_runs_last_and_fails_with_terraforms_message_for_the_broken_test(project):
    result = run_pytest(project, "-v")

    assert result.returncode == 1, result.stdout
    order = re.findall(r"^(\S+::\S+) (?:PASSED|FAILED)", result.stdout, re.MULTILINE)
    assert order == ["test_stacks.py::test_good", "test_stacks.py::test_broken",
                     "test_stacks.py::test_synthesizes_nothing", "tests/terraform_loop.py::terraform_loop"]
    assert "Terraform rejected 1 synthesized stack(s)" in result.stdout
    assert "failed for the stack synthesized by test_stacks.py::test_broken (merged as s1" in result.stdout
    assert 'A managed resource "google_compute_network" "missing" has not been declared' in result.stdout
    assert "synthesized by test_stacks.py::test_good" not in result.stdout
    assert "terraform loop: 2 synthesized stacks, 2 distinct" in result.stdout


@pytest.mark.slow
@pytest.mark.terraform
@needs_terraform
def test_checks_only_what_the_selected_tests_synthesized(project):
    result = run_pytest(project, "-k", "good or terraform_loop")

    assert result.returncode == 0, result.stdout
    assert "terraform loop: 1 synthesized stacks, 1 distinct; 1 in 1 merged configuration(s)" in result.stdout
    assert "2 passed, 2 deselected" in result.stdout


@pytest.mark.slow
@pytest.mark.terraform
@needs_terraform
def test_passes_with_a_note_when_nothing_was_synthesized(project):
    result = run_pytest(project, "-k", "nothing or terraform_loop")

    assert result.returncode == 0, result.stdout
    assert "terraform loop: no stacks were synthesized by the selected tests; nothing to check" in result.stdout


@pytest.mark.slow
@pytest.mark.terraform
@needs_terraform
def test_selection_and_stop_on_first_failure_leave_it_out_cleanly(project):
    deselected_by_k = run_pytest(project, "-k", "good")
    deselected_by_m = run_pytest(project, "-m", "not terraform")
    (project / "test_fails.py").write_text("def test_a_failure():\n    assert False\n")
    stopped = run_pytest(project, "-x", "test_fails.py", "test_stacks.py")

    assert deselected_by_k.returncode == 0 and "1 passed, 3 deselected" in deselected_by_k.stdout
    assert deselected_by_m.returncode == 0 and "3 passed, 1 deselected" in deselected_by_m.stdout
    assert "terraform loop" not in deselected_by_k.stdout + deselected_by_m.stdout
    assert stopped.returncode == 1 and "1 failed" in stopped.stdout
    assert "terraform_loop" not in stopped.stdout.split("short test summary info")[-1]


@pytest.mark.slow
def test_skipped_with_the_reason_when_terraform_is_missing(project):
    result = run_pytest(project, TFDOUBLE_TERRAFORM=str(project / "no-terraform-here"))

    assert result.returncode == 0, result.stdout
    assert "SKIPPED [1] " in result.stdout and harness.UNAVAILABLE_REASON in result.stdout


# -- under pytest-xdist: the controller runs the loop over every worker's stacks ---------------

@pytest.mark.slow
@pytest.mark.terraform
@needs_terraform
def test_under_xdist_the_controller_checks_every_workers_stacks_and_fails_the_session(project):
    result = run_pytest(project, "-n", "2", "-rf")

    assert result.returncode == 1, result.stdout
    assert "terraform loop: 2 synthesized stacks, 2 distinct" in result.stdout
    assert "Terraform rejected 1 synthesized stack(s)" in result.stdout
    assert "failed for the stack synthesized by test_stacks.py::test_broken" in result.stdout
    assert "FAILED tests/terraform_loop.py::terraform_loop" in result.stdout
    assert "1 failed, 3 passed" in result.stdout and "[100%]" in result.stdout


@pytest.mark.slow
@pytest.mark.terraform
@needs_terraform
def test_under_xdist_selection_applies_to_the_loop(project):
    selected = run_pytest(project, "-n", "2", "-k", "good or terraform_loop")
    deselected = run_pytest(project, "-n", "2", "-k", "good")

    assert selected.returncode == 0, selected.stdout
    assert "terraform loop: 1 synthesized stacks, 1 distinct" in selected.stdout and "2 passed" in selected.stdout
    assert deselected.returncode == 0, deselected.stdout
    assert "terraform loop" not in deselected.stdout and "1 passed" in deselected.stdout


@pytest.mark.slow
def test_under_xdist_skipped_with_the_reason_when_terraform_is_missing(project):
    result = run_pytest(project, "-n", "2", TFDOUBLE_TERRAFORM=str(project / "no-terraform-here"))

    assert result.returncode == 0, result.stdout
    assert "SKIPPED [1] " in result.stdout and harness.UNAVAILABLE_REASON in result.stdout


STREAMED_TESTS = """
    import time

    import conftest

    REQUIRED = {"required_providers": {"google": {"source": "google", "version": "6.50.0"}}}
    PROVIDER = {"google": [{"project": "p-1", "region": "europe-west1"}]}
    BROKEN = {"terraform": REQUIRED, "provider": PROVIDER, "resource": {
        "google_compute_subnetwork": {"sub": {"name": "sub", "ip_cidr_range": "10.0.0.0/24",
                                              "network": "${google_compute_network.missing.id}"}}}}

    def test_a_broken():
        conftest.synth(BROKEN)

    def test_b_networks():
        for n in range(24):
            conftest.synth({"terraform": REQUIRED, "provider": PROVIDER, "resource": {
                "google_compute_network": {"vpc": {"name": f"vpc-{n}", "auto_create_subnetworks": False}}}})

    def test_c_slow_1():
        time.sleep(1.5)

    def test_c_slow_2():
        time.sleep(1.5)

    def test_c_slow_3():
        time.sleep(1.5)

    def test_d_broken_again():
        conftest.synth(BROKEN)
"""


@pytest.mark.slow
@pytest.mark.terraform
@needs_terraform
def test_under_xdist_stacks_are_checked_while_tests_run_and_a_late_copy_is_named(project):
    """One worker keeps the order: 25 stacks reach the controller after test_b, the loop starts
    merged configurations of 4 blocks while test_c_* sleep, and the failure of the broken stack
    (checked early) also names the test that synthesized it again at the very end."""
    (project / "test_stacks.py").write_text(textwrap.dedent(STREAMED_TESTS))

    result = run_pytest(project, "-n", "1", "--terraform-loop-max-blocks", "4", "-rf")

    assert result.returncode == 1, result.stdout
    summary = re.search(r"^terraform loop: .*$", result.stdout, re.MULTILINE).group(0)
    assert "26 synthesized stacks, 25 distinct" in summary
    started = re.search(r"\((\d+) configuration\(s\) started while stacks were still coming in", summary)
    assert started and int(started.group(1)) >= 4, summary
    assert ("failed for the stack synthesized by test_stacks.py::test_a_broken, "
            "test_stacks.py::test_d_broken_again") in result.stdout
    assert "FAILED tests/terraform_loop.py::terraform_loop" in result.stdout
