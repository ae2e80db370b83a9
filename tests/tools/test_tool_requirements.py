"""tests/tools/conftest.py: a test marked `terraform` fails in CI and skips elsewhere when the
terraform CLI is missing."""

from __future__ import annotations

import pytest

from tests.tools import conftest
from tools.tfdouble import harness


@pytest.mark.parametrize(("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_a_test_marked_terraform_fails_in_ci_and_skips_elsewhere_without_terraform(monkeypatch, request, ci, outcome):
    monkeypatch.setenv("CI", ci)
    monkeypatch.setattr(harness, "terraform_available", lambda: False)
    request.node.add_marker(pytest.mark.terraform)

    with pytest.raises(outcome, match="terraform CLI not found on PATH"):
        conftest.pytest_runtest_setup(request.node)


def test_an_available_tool_neither_skips_nor_fails(monkeypatch):
    monkeypatch.setenv("CI", "true")
    conftest.require(True, "never raised")
