"""Run a command and measure its wall time and memory, including its descendants (Node).

Two memory figures, both in MiB:

* ``tree_peak_mib``: peak of the *sum* of the resident set sizes of the process and all of its
  live descendants (Python + the jsii Node process + anything they start), sampled from
  ``/proc/<pid>/task/<tid>/children`` and ``/proc/<pid>/statm`` every ``interval`` seconds.
  This is what the machine has to hold at once; sampling can miss a peak shorter than the
  interval.
* ``max_single_mib``: ``ru_maxrss`` from ``os.wait4`` on the child: the largest peak RSS of the
  child or of any descendant it waited for (Python reaps the jsii Node process at exit, so
  Node, a grandchild, is included). Exact, but the max of single processes, not their sum.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Mapping, Sequence

PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class RunResult:
    returncode: int
    wall_s: float
    tree_peak_mib: float
    max_single_mib: float
    stderr: str
    stdout: str = ""
    """Only with ``run_measured(..., keep_stdout=True)``."""


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as stream:
                found.extend(int(child) for child in stream.read().split())
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return found


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as stream:
            return int(stream.read().split()[1]) * PAGE
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0


def tree_rss_bytes(root: int) -> int:
    """Current RSS of ``root`` plus all its live descendants."""
    total, stack, seen = 0, [root], set()
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += _rss_bytes(pid)
        stack.extend(_children(pid))
    return total


def run_measured(
    argv: Sequence[str], *, env: Mapping[str, str], cwd: str | None = None, interval: float = 0.02,
    keep_stdout: bool = False,
) -> RunResult:
    """Run ``argv`` to completion; stderr is kept for error reports, stdout discarded unless ``keep_stdout``."""
    start = time.perf_counter()
    process = subprocess.Popen(list(argv), env=dict(env), cwd=cwd, stderr=subprocess.PIPE,
                               stdout=subprocess.PIPE if keep_stdout else subprocess.DEVNULL)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss_bytes(process.pid))
            done.wait(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    chunks: dict[str, list[bytes]] = {"stderr": [], "stdout": []}
    readers = [
        threading.Thread(target=lambda name=name, stream=stream: chunks[name].append(stream.read()), daemon=True)
        for name, stream in (("stderr", process.stderr), ("stdout", process.stdout)) if stream is not None
    ]
    for reader in readers:
        reader.start()
    # wait4 instead of Popen.wait: it returns the child's rusage (ru_maxrss includes the
    # descendants it reaped, e.g. the jsii Node process).
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    for reader in readers:
        reader.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    return RunResult(
        returncode=process.returncode,
        wall_s=wall,
        tree_peak_mib=peak / 2**20,
        max_single_mib=usage.ru_maxrss / 1024,
        stderr=b"".join(chunks["stderr"]).decode("utf-8", "replace"),
        stdout=b"".join(chunks["stdout"]).decode("utf-8", "replace"),
    )
