"""Tools the tests here need: a missing one skips the test with its reason on a developer's
machine, and fails it in CI (``CI=true``, as GitHub Actions sets it), so missing work never
hides behind a skip there. Tests marked ``terraform`` need the terraform CLI."""

from __future__ import annotations

import os

import pytest

from tools.tfdouble import harness


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def require(available: bool, reason: str) -> None:
    """Skip (developer machine) or fail (CI) with `reason` unless the tool is `available`."""
    if available:
        return
    if in_ci():
        pytest.fail(f"{reason} (CI=true: required here)", pytrace=False)
    pytest.skip(reason)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("terraform"):
        require(harness.terraform_available(), harness.UNAVAILABLE_REASON)
