"""Tools the tests here need: a missing one skips the test with its reason on a developer's
machine, and fails it in CI (``CI=true``, as GitHub Actions sets it), so missing work never
hides behind a skip there. Tests marked ``terraform`` need the terraform CLI."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable

import pytest

from tools.tfdouble import catalog, harness, mirror, schema


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


@pytest.fixture(scope="session")
def tfdouble_home_factory(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Path], Path]:
    """Makes fresh harness homes whose schema cache already holds both translated schemas.

    ``mirror.install`` translates the provider schemas into an empty cache (about half a second of
    CPU); a test that needs a private home (its own zygote, its own lock-file hashes) gets the
    translation made once per worker, hard-linked into its home's cache."""
    translated = tmp_path_factory.mktemp("tfdouble-schemas")
    for name in catalog.PROVIDERS:
        schema.load(name, translated)

    def make(home: Path) -> Path:
        shutil.copytree(translated, mirror.Mirror(home).cache_dir, copy_function=os.link)
        return home
    return make


@pytest.fixture
def tfdouble_home(tmp_path: Path, tfdouble_home_factory: Callable[[Path], Path]) -> Path:
    """A private harness home for this test, its schema cache filled (``tfdouble_home_factory``)."""
    return tfdouble_home_factory(tmp_path / "home")
