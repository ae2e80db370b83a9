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

Under pytest-xdist (``pytest -n 2``, what ``make test`` runs) every worker collects the item and
drops it after selection. The loop runs while the tests do: every :data:`FLUSH_EVERY` stacks a
worker writes what it synthesized to a directory the controller named (``workerinput``), the
controller reads it as test reports come in, and :class:`tools.tfdouble.stream.StreamingCheck`
starts a merged configuration as soon as enough stacks wait for it, Terraform and the plugins
under ``nice -n 19`` (:data:`NICENESS`): they take the CPU the tests leave idle, not the tests'
share. When the workers are done the controller checks the rest, reports it all as the test
``tests/terraform_loop.py::terraform_loop`` and fails the session when Terraform rejects a stack.
Merged configurations are checked on as many threads as the machine has cores (up to 4). With
``--terraform-loop-one-by-one`` (or no terraform) each worker hands its stacks over at the end
instead (a JSON file named in ``workeroutput``).

The terminal summary has one line: how many stacks, how many distinct, merged configurations,
Terraform runs, seconds (and under xdist how many configurations started while tests ran, and the
seconds after the last test), planned changes; plus any Terraform *warnings* per test (they do
not fail the check).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from _pytest.reports import TestReport

from tools.tfdouble import harness, merge
from tools.tfdouble.stream import StreamingCheck

ITEM_NAME = "terraform_loop"
ITEM_NODEID = f"tests/terraform_loop.py::{ITEM_NAME}"
_REPORT = pytest.StashKey["merge.LoopReport | None"]()
_KEPT = pytest.StashKey[Path]()
_SELECTED = pytest.StashKey[bool]()
_FROM_WORKERS = pytest.StashKey[list]()
_STREAM = pytest.StashKey["_Stream"]()
_FLUSHED = pytest.StashKey[int]()
_OUTPUT_KEY = "terraform_loop"
"""``workeroutput`` key: {"selected": bool, "file": JSON file of the worker's (test id, stack) pairs,
or None when they were streamed}."""
_STREAM_KEY = "terraform_loop_stream"
"""``workerinput`` key: the directory a worker streams its stacks to (absent: hand them over at the end)."""
JOBS = max(1, min(4, os.cpu_count() or 1))
"""Merged configurations checked at once (Terraform processes)."""
NICENESS = 19
"""``nice`` of Terraform and the plugins while the loop runs beside the tests (xdist)."""
FLUSH_EVERY = 10
"""A worker writes its new stacks for the controller once it has this many (and at the end)."""
POLL_SECONDS = 0.5
"""How often, at most, the controller looks for new stack files (on a test report)."""


def pytest_configure(config: pytest.Config) -> None:
    if not any(line.split(":")[0].strip() == "terraform" for line in config.getini("markers")):
        config.addinivalue_line("markers", "terraform: needs the terraform binary (skipped with a message when it is missing)")
    if not _is_worker(config):
        config.pluginmanager.register(_ControllerHooks(config), "terraform-loop-controller")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("terraform loop", "validate and plan every synthesized stack (tests/terraform_loop.py)")
    group.addoption("--terraform-loop-keep", action="store_true", default=False,
                    help="keep the Terraform working dirs of the terraform_loop check (kept anyway on failure)")
    group.addoption("--terraform-loop-one-by-one", action="store_true", default=False,
                    help="check every distinct synthesized stack on its own instead of merged (slow)")
    group.addoption("--terraform-loop-max-blocks", type=int, default=merge.MAX_BLOCKS_PER_CHUNK, metavar="N",
                    help="resources + data sources per merged configuration (default %(default)s)")


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
        if not harness.terraform_available():
            self.config.stash[_REPORT] = None
            pytest.skip(harness.UNAVAILABLE_REASON)
        run_loop(self.config, collect_synthesized(self.config))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, TerraformLoopFailure):
            return failure_text(excinfo.value)
        return super().repr_failure(excinfo, style=style)


def run_loop(config: pytest.Config, stacks: list[tuple[str, dict[str, Any]]]) -> merge.LoopReport:
    """Validate and plan ``stacks``; the report goes to the stash; TerraformLoopFailure when
    Terraform rejects one."""
    config.stash[_REPORT] = None
    if not stacks:
        config.stash[_REPORT] = merge.LoopReport()
        return config.stash[_REPORT]
    workdir = Path(tempfile.mkdtemp(prefix="terraform-loop-"))
    report = merge.check_synthesized(stacks, workdir, merge_stacks=not config.getoption("terraform_loop_one_by_one"),
                                     max_blocks=config.getoption("terraform_loop_max_blocks"), jobs=JOBS)
    return _settle(config, report, workdir)


def _settle(config: pytest.Config, report: merge.LoopReport, workdir: Path) -> merge.LoopReport:
    """Stash the report; keep or remove the working dirs; TerraformLoopFailure when Terraform
    rejected a stack."""
    config.stash[_REPORT] = report
    if report.failures:
        raise TerraformLoopFailure(report, workdir)
    if config.getoption("terraform_loop_keep"):
        config.stash[_KEPT] = workdir
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return report


class _Stream:
    """Controller side of the streamed loop: the stack files workers write -> StreamingCheck."""

    def __init__(self, max_blocks: int) -> None:
        self.inbox = Path(tempfile.mkdtemp(prefix="terraform-loop-stacks-"))
        self.workdir = Path(tempfile.mkdtemp(prefix="terraform-loop-"))
        self.check = StreamingCheck(self.workdir, max_blocks=max_blocks, jobs=JOBS, niceness=NICENESS)
        self._polled = 0.0

    def poll(self, *, now: bool = False) -> None:
        """Hand the stacks of every complete file to the check (at most every POLL_SECONDS)."""
        if not now and time.monotonic() - self._polled < POLL_SECONDS:
            return
        self._polled = time.monotonic()
        for path in sorted(self.inbox.glob("*.json")):
            self.check.add((test_id, stack) for test_id, stack in json.loads(path.read_text()))
            path.unlink()

    def close(self) -> None:
        shutil.rmtree(self.inbox, ignore_errors=True)


class _ControllerHooks:
    """xdist controller: name the stream directory for every worker, read it as reports come."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        config = self.config
        if config.getoption("terraform_loop_one_by_one") or not harness.terraform_available():
            return
        if _STREAM not in config.stash:
            config.stash[_STREAM] = _Stream(config.getoption("terraform_loop_max_blocks"))
        node.workerinput[_STREAM_KEY] = str(config.stash[_STREAM].inbox)

    def pytest_runtest_logreport(self, report: TestReport) -> None:
        stream = self.config.stash.get(_STREAM, None)
        if stream is not None:
            stream.poll()


def failure_text(failure: TerraformLoopFailure) -> str:
    return (f"Terraform rejected {len(failure.report.failures)} synthesized stack(s) "
            f"(working dirs kept in {failure.workdir}):\n\n{failure.report.failure_text()}")


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _is_controller(config: pytest.Config) -> bool:
    return config.pluginmanager.has_plugin("dsession")


def _flush(config: pytest.Config, *, final: bool) -> None:
    """Worker: write the stacks synthesized since the last flush to the stream directory, once
    there are FLUSH_EVERY of them (any number when `final`). Written under a temporary name and
    renamed, so the controller never reads half a file."""
    inbox = getattr(config, "workerinput", {}).get(_STREAM_KEY)
    if not inbox or not config.stash.get(_SELECTED, False):
        return
    stacks = collect_synthesized(config)
    done = config.stash.get(_FLUSHED, 0)
    if len(stacks) - done < (1 if final else FLUSH_EVERY):
        return
    target = Path(inbox, f"{config.workerinput['workerid']}-{done:06d}.json")  # type: ignore[attr-defined]
    partial = target.with_suffix(".part")
    partial.write_text(json.dumps(stacks[done:]))
    partial.rename(target)
    config.stash[_FLUSHED] = len(stacks)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    result = yield
    if _is_worker(item.config):
        _flush(item.config, final=False)
    return result

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
        items[:] = [item for item in items if not isinstance(item, TerraformLoopItem)]
        if _is_worker(config):
            config.stash[_SELECTED] = True  # the controller runs it over every worker's stacks
        else:
            items.extend(loops)
    return result


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A worker hands its synthesized stacks to the controller; the controller runs the loop over
    all of them before the terminal reporter sums the session up (see the module docstring)."""
    config = session.config
    if _is_worker(config):
        output: dict[str, Any] = {"selected": config.stash.get(_SELECTED, False), "file": None}
        if config.workerinput.get(_STREAM_KEY):  # type: ignore[attr-defined]
            _flush(config, final=True)
        elif output["selected"] and (stacks := collect_synthesized(config)):
            handle, name = tempfile.mkstemp(prefix="terraform-loop-stacks-", suffix=".json")
            with os.fdopen(handle, "w") as file:
                json.dump(stacks, file)
            output["file"] = name
        config.workeroutput[_OUTPUT_KEY] = output  # type: ignore[attr-defined]
    elif _is_controller(config):
        _run_for_workers(session, exitstatus)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """Controller (xdist): note what a finished worker synthesized."""
    output = getattr(node, "workeroutput", {}).get(_OUTPUT_KEY)
    if output is not None:
        node.config.stash.setdefault(_FROM_WORKERS, []).append(output)


def _run_for_workers(session: pytest.Session, exitstatus: int) -> None:
    """The loop over every worker's stacks, reported as the ``terraform_loop`` test."""
    config = session.config
    outputs = config.stash.get(_FROM_WORKERS, [])
    stacks: list[tuple[str, dict[str, Any]]] = []
    for output in outputs:
        if output.get("file"):
            path = Path(output["file"])
            stacks.extend((test_id, stack) for test_id, stack in json.loads(path.read_text()))
            path.unlink(missing_ok=True)
    stream = config.stash.get(_STREAM, None)
    stopped = session.shouldfail or session.shouldstop or exitstatus == pytest.ExitCode.INTERRUPTED
    if not any(output.get("selected") for output in outputs) or stopped:
        if stream is not None:  # deselected (-k / -m), or the session stopped early (-x, --maxfail, Ctrl-C)
            stream.check.cancel()
            stream.close()
            shutil.rmtree(stream.workdir, ignore_errors=True)
        return
    location = (ITEM_NODEID.split("::")[0], 0, ITEM_NAME)
    keywords = {ITEM_NAME: 1, "terraform": 1}
    session.testscollected += 1  # the workers dropped the item; count it back for the progress
    config.hook.pytest_runtest_logstart(nodeid=ITEM_NODEID, location=location)
    outcome, longrepr = "passed", None
    if not harness.terraform_available():
        config.stash[_REPORT] = None
        outcome, longrepr = "skipped", (str(Path(__file__)), 0, f"Skipped: {harness.UNAVAILABLE_REASON}")
    else:
        try:
            if stream is not None:
                stream.poll(now=True)
                stream.check.add(stacks)  # from a worker that did not stream (none, normally)
                stream.close()
                _settle(config, stream.check.finish(), stream.workdir)
            else:
                run_loop(config, stacks)
        except TerraformLoopFailure as failure:
            outcome, longrepr = "failed", failure_text(failure)
    report = config.stash.get(_REPORT, None)
    for when in ("setup", "call", "teardown"):
        config.hook.pytest_runtest_logreport(report=TestReport(
            nodeid=ITEM_NODEID, location=location, keywords=keywords, when=when,
            outcome=outcome if when == "call" else "passed", longrepr=longrepr if when == "call" else None,
            duration=report.seconds if report is not None and when == "call" else 0.0,
        ))
    config.hook.pytest_runtest_logfinish(nodeid=ITEM_NODEID, location=location)
    if outcome == "failed":
        session.testsfailed += 1
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


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
