"""Check synthesized stacks with Terraform while the tests that synthesize them still run.

:class:`StreamingCheck` is what :func:`merge.check_synthesized` runs, fed all at once; the test
suite's loop (``tests/terraform_loop.py``) feeds it stacks as pytest-xdist workers hand them over.

* ``add`` takes (test id, stack) pairs. A stack equal to one already taken only adds its test id
  (failures and warnings name every test that synthesized the stack, whenever it came).
* Once the pending stacks hold :data:`READY_CONFIGS` merged configurations' worth of resources +
  data sources (``max_blocks`` each), all but the last configuration start on a pool of ``jobs``
  threads; the last stays pending, to be filled further. Pending stacks are ordered by their
  provider configurations first: Terraform starts one plugin process per provider configuration
  and walk, and only blocks of the same provider configuration can be shared (planned once).
* ``finish`` starts what is pending in ``jobs`` configurations of about equal size when that is
  less than ``jobs`` full ones (what is checked after the last stack came is what the caller
  waits for), and the stacks that cannot be merged one by one; it waits and returns one
  :class:`merge.LoopReport`. ``cancel`` drops what has not started and waits for the rest.
* ``niceness`` runs Terraform and the plugins under ``nice``: the test suite passes 19, so the
  configurations checked while tests run take the CPU the tests leave idle (subprocesses,
  waits on Node) rather than the tests' share.
"""

from __future__ import annotations

import itertools
import json
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterable

from . import merge

#: Pending configurations' worth of blocks that start all but the last one (see module doc).
READY_CONFIGS = 2


def provider_key(stack: merge.PrefixedStack) -> str:
    """The stack's provider configurations as text, for ordering (those built from the stack's
    own resources, such as a kubernetes provider reading its cluster, are unique anyway)."""
    return json.dumps(sorted((name, alias or "", json.dumps(body, sort_keys=True))
                             for (name, alias), body in stack.providers.items()))


class StreamingCheck:
    """Validate and plan stacks as they come; see the module docstring and
    :func:`merge.check_synthesized` for the options."""

    def __init__(self, workdir: Path | str, *, merge_stacks: bool = True,
                 max_blocks: int = merge.MAX_BLOCKS_PER_CHUNK, validate_first: bool = False,
                 dedupe_blocks: bool = True, jobs: int = 1, niceness: int = 0):
        self.root = Path(workdir)
        self.root.mkdir(parents=True, exist_ok=True)
        self.merge_stacks = merge_stacks
        self.max_blocks = max_blocks
        self.validate_first = validate_first
        self.dedupe_blocks = dedupe_blocks
        self.jobs = max(1, jobs)
        self.niceness = niceness
        self.report = merge.LoopReport()
        self._distinct = merge.DistinctStacks()
        self._pending: list[merge.PrefixedStack] = []
        self._pending_blocks = 0
        self._singles: list[int] = []
        self._futures: list[Future[merge.LoopReport]] = []
        self._pool: ThreadPoolExecutor | None = None
        self._numbers = itertools.count(1)
        self._first_start: float | None = None

    def add(self, synthesized: Iterable[tuple[str, dict[str, Any]]], *, start: bool = True) -> None:
        """Take stacks; start the configurations that are full (module docstring) unless
        `start` is False (everything is there: ``finish`` comes next)."""
        for test_id, stack in synthesized:
            self.report.synthesized += 1
            unique = self._distinct.add(test_id, stack)
            if unique is None:
                continue
            index = len(self._distinct.stacks) - 1
            if not self.merge_stacks or merge.merge_blocker(unique.config) is not None:
                self._singles.append(index)
            else:
                prefixed = merge.prefix_stack(unique.config, index)
                self._pending.append(prefixed)
                self._pending_blocks += prefixed.blocks
        if start and self._pending_blocks >= READY_CONFIGS * self.max_blocks:
            self._start_pending(keep_last=True)

    def finish(self) -> merge.LoopReport:
        """Check everything still pending, wait for every check; the whole report."""
        finishing = time.monotonic()
        self._start_pending(keep_last=False, max_blocks=min(self.max_blocks, -(-self._pending_blocks // self.jobs)))
        if self._singles:
            self._start([], self._singles)
            self._singles = []
        for future in self._futures:
            self.report.absorb(future.result())
        self._close()
        self.report.unique = len(self._distinct.stacks)
        now = time.monotonic()
        self.report.seconds = now - (self._first_start or finishing)
        self.report.seconds_after_finish = now - finishing
        return self.report

    def cancel(self) -> None:
        """Drop the checks that have not started; wait for those that have."""
        self._pending, self._singles = [], []
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool = None

    # -- scheduling ---------------------------------------------------------------------------

    def _start_pending(self, *, keep_last: bool, max_blocks: int | None = None) -> None:
        groups = merge.chunk(sorted(self._pending, key=provider_key), max_blocks or self.max_blocks)
        if keep_last and groups:
            self._pending = groups.pop()
            self._pending_blocks = sum(stack.blocks for stack in self._pending)
            self.report.started_early += len(groups)
        else:
            self._pending, self._pending_blocks = [], 0
        for group in groups:
            self._start([group], [])

    def _start(self, groups: list[list[merge.PrefixedStack]], singles: list[int]) -> None:
        if self._first_start is None:
            self._first_start = time.monotonic()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="terraform-check")
        self._futures.append(self._pool.submit(self._check, groups, list(singles)))

    def _check(self, groups: list[list[merge.PrefixedStack]], singles: list[int]) -> merge.LoopReport:
        part = merge.LoopReport()
        checker = merge.Checker(self.root, part, self._distinct.stacks, validate_first=self.validate_first,
                                 dedupe_blocks=self.dedupe_blocks, dir_numbers=self._numbers,
                                 niceness=self.niceness)
        for group in groups:
            checker.check_group(group)
        for index in singles:
            checker.check_single(index)
        return part

    def _close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        self._pool = None
