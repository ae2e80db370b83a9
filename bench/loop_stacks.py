"""pytest plugin for ``bench/bench_loop.py``: write the stacks a test run synthesized to a file.

    pytest -p bench.loop_stacks -n 2 -k "not terraform_loop"      # with BENCH_LOOP_STACKS_DIR set

Every process that ran tests (each xdist worker, or the one process) writes the ``(test id, stack)``
pairs ``tests/conftest.py``'s ``synth`` recorded to ``$BENCH_LOOP_STACKS_DIR/<pid>.json`` when its
session ends; ``bench_loop`` concatenates them. Without the variable it does nothing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.terraform_loop import collect_synthesized

DIR_ENV = "BENCH_LOOP_STACKS_DIR"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    directory = os.environ.get(DIR_ENV)
    stacks = collect_synthesized(session.config)
    if directory and stacks:
        Path(directory).mkdir(parents=True, exist_ok=True)
        Path(directory, f"{os.getpid()}.json").write_text(json.dumps(stacks))
