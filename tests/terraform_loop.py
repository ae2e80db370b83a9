"""pytest plugin: Terraform in the loop for every stack the tests synthesize.

Registered from ``tests/conftest.py`` (``pytest_plugins = ["tests.terraform_loop"]``), or with
``pytest -p tests.terraform_loop``. It appends ONE test item, ``tests/terraform_loop.py::terraform_loop``,
after all other selected tests. That item takes every stack the session synthesized (the
``SYNTHESIZED`` list of ``(test id, stack dict)`` that ``tests/conftest.py``'s ``synth`` fills)
and has the real Terraform CLI validate and plan them against the offline provider double,
merged into a few configurations (:mod:`tools.tfdouble.merge`). It fails with Terraform's own
messages, each headed by the ids of the tests that synthesized the rejected stack.

* Runs whatever subset ran before it: ``pytest tests/constructs_lib/test_network.py`` checks
  what those tests synthesized; nothing synthesized -> passes, and the terminal summary says so.
* Skipped with :data:`harness.UNAVAILABLE_REASON` when no ``terraform`` is on PATH.
* It is an ordinary item for selection: marked ``terraform``, so ``-m "not terraform"`` or
  ``-k "not terraform_loop"`` leave it out, and ``-k network`` deselects it unless written
  ``-k "network or terraform_loop"``. Under ``-x`` it does not run once a test has failed.
* Options: ``--terraform-loop-keep`` keeps the Terraform working dirs (always kept on failure,
  path in the message); ``--terraform-loop-one-by-one`` checks each distinct stack on its own
  (init + validate + plan, the slow reference path, for comparison and debugging).

The terminal summary has one line: how many stacks, how many distinct, merged configurations,
Terraform runs, seconds, planned changes; plus any Terraform *warnings* per test (they do not
fail the check).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tools.tfdouble import harness, merge

ITEM_NAME = "terraform_loop"
ITEM_NODEID = f"tests/terraform_loop.py::{ITEM_NAME}"
_REPORT = pytest.StashKey["merge.LoopReport | None"]()
_KEPT = pytest.StashKey[Path]()


def pytest_configure(config: pytest.Config) -> None:
    if not any(line.split(":")[0].strip() == "terraform" for line in config.getini("markers")):
        config.addinivalue_line("markers", "terraform: needs the terraform binary (skipped with a message when it is missing)")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("terraform loop", "validate and plan every synthesized stack (tests/terraform_loop.py)")
    group.addoption("--terraform-loop-keep", action="store_true", default=False,
                    help="keep the Terraform working dirs of the terraform_loop check (kept anyway on failure)")
    group.addoption("--terraform-loop-one-by-one", action="store_true", default=False,
                    help="check every distinct synthesized stack on its own instead of merged (slow)")


def collect_synthesized(config: pytest.Config) -> list[tuple[str, dict[str, Any]]]:
    """The ``SYNTHESIZED`` lists of the loaded conftest modules (tests/conftest.py), concatenated."""
    found: list[tuple[str, dict[str, Any]]] = []
    seen: set[int] = set()
    for plugin in config.pluginmanager.get_plugins():
        value = getattr(plugin, "SYNTHESIZED", None)
        if isinstance(value, list) and id(value) not in seen:
            seen.add(id(value))
            found.extend(value)
    return found


class TerraformLoopFailure(Exception):
    """Terraform rejected at least one synthesized stack."""

    def __init__(self, report: merge.LoopReport, workdir: Path):
        self.report = report
        self.workdir = workdir
        super().__init__(report.summary())


class TerraformLoopItem(pytest.Item):
    """Validates and plans every stack synthesized earlier in the session (see module doc)."""

    def runtest(self) -> None:
        self.config.stash[_REPORT] = None
        if not harness.terraform_available():
            pytest.skip(harness.UNAVAILABLE_REASON)
        stacks = collect_synthesized(self.config)
        if not stacks:
            self.config.stash[_REPORT] = merge.LoopReport()
            return
        workdir = Path(tempfile.mkdtemp(prefix="terraform-loop-"))
        report = merge.check_synthesized(stacks, workdir,
                                         merge_stacks=not self.config.getoption("terraform_loop_one_by_one"))
        self.config.stash[_REPORT] = report
        if report.failures:
            raise TerraformLoopFailure(report, workdir)
        if self.config.getoption("terraform_loop_keep"):
            self.config.stash[_KEPT] = workdir
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, TerraformLoopFailure):
            failure = excinfo.value
            return (f"Terraform rejected {len(failure.report.failures)} synthesized stack(s) "
                    f"(working dirs kept in {failure.workdir}):\n\n{failure.report.failure_text()}")
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{ITEM_NAME}: terraform validate + plan of every synthesized stack"


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]):
    """Add the loop item before -k / -m / --deselect run (they apply to it like to any test),
    and put it last once every plugin has filtered and ordered the items."""
    if items and not any(isinstance(item, TerraformLoopItem) for item in items):
        item = TerraformLoopItem.from_parent(session, name=ITEM_NAME, path=Path(__file__), nodeid=ITEM_NODEID)
        item.add_marker(pytest.mark.terraform)
        items.append(item)
    result = yield
    loops = [item for item in items if isinstance(item, TerraformLoopItem)]
    if loops:
        items[:] = [item for item in items if not isinstance(item, TerraformLoopItem)] + loops
    return result


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if _REPORT not in config.stash or config.stash[_REPORT] is None:
        return
    report = config.stash[_REPORT]
    terminalreporter.write_line(report.summary())
    if _KEPT in config.stash:
        terminalreporter.write_line(f"terraform loop: working dirs kept in {config.stash[_KEPT]}")
    if report.warnings:
        terminalreporter.section("terraform loop warnings", sep="-")
        for tests, texts in report.warnings.items():
            terminalreporter.write_line(f"{tests}:")
            for text in texts:
                terminalreporter.write_line(merge.indent(text))
