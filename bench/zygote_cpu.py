"""The plugin processes' CPU time in the offline harness, read from the zygote that forks them.

The zygote (``tools/tfdouble/zygote.py``) forks every plugin process and reaps it, so its
``/proc/<pid>/stat`` counts its own time plus that of every plugin it reaped. Used by
``bench_plugins`` and ``bench_loop``; the zygote is found by its command line, so this also
measures a zygote of another checkout (``bench_loop --against``), whatever its protocol.
"""

from __future__ import annotations

import os
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
REAP_WAIT_S = 1.5
"""The zygote reaps its children in a loop that wakes at least every second: wait this long
after a run before reading its time."""


def zygote_pid(home: Path) -> int | None:
    """The zygote serving ``home``, or None."""
    wanted = os.fsencode(Path(home).resolve())
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if wanted in argv and any(b"tools.tfdouble.zygote" in arg for arg in argv):
            return int(entry.name)
    return None


def zygote_cpu_s(home: Path) -> float:
    """CPU seconds of the zygote serving ``home`` and the plugins it reaped (0 when none runs)."""
    try:
        with open(f"/proc/{zygote_pid(home)}/stat") as stream:
            fields = stream.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(value) for value in fields[11:15]) / CLOCK_TICKS  # utime stime cutime cstime
