"""Loop benchmark: the suite's Terraform loop alone, over one fixed set of stacks, in two checkouts.

    .venv/bin/python -m bench.bench_loop --against ../other-checkout       # 2 rounds
    .venv/bin/python -m bench.bench_loop --against ../other-checkout --rounds 3 --jobs 2

The loop (``tests/terraform_loop.py``) runs beside the tests, so the suite's wall time says little
about it. This runs only the loop: ``merge.check_synthesized`` (what the loop calls) over the stacks
one suite run synthesized, once in this checkout and once in ``--against`` (another checkout or
``git worktree`` of this repository, with its own virtualenv found at ``<checkout>/.venv`` or
this one's), alternating, each in a fresh process with its own ``TFDOUBLE_HOME``.

The stacks: ``--stacks FILE`` (default ``.bench/loop-stacks.json``). When the file is missing,
the suite runs once to make it (``pytest -n 2 -k "not terraform_loop" -p bench.loop_stacks``,
about as long as ``make test``). Delete it to take a new set after the tests change.

Figures per run: wall time; the CPU time of the process and everything it reaped (Terraform and
the plugin launchers); the plugin processes' CPU, read from the run's zygote (``/proc`` stat of
the zygote, its own and its reaped children's time); planned resources (the same in both, or the
comparison says so). Medians, with the ratio of this checkout to ``--against``. Results also go to
``.bench/bench_loop.json``. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.zygote_cpu import REAP_WAIT_S, zygote_cpu_s, zygote_pid

ROOT = Path(__file__).resolve().parent.parent

RUN_ONCE = """
import json, sys, time
from pathlib import Path
from tools.tfdouble import merge
stacks = [tuple(pair) for pair in json.loads(Path(sys.argv[1]).read_text())]
start = time.monotonic()
report = merge.check_synthesized(stacks, sys.argv[2], jobs=int(sys.argv[3]))
print(json.dumps({"wall_s": time.monotonic() - start, "failures": len(report.failures),
                  "planned": report.planned, "blocks": report.blocks, "runs": report.terraform_runs}))
"""
"""Run in the checkout under test (its ``tools`` package): one loop over the stacks file."""


def make_stacks(path: Path) -> None:
    """One suite run with ``bench.loop_stacks``; its stacks concatenated into ``path``."""
    with tempfile.TemporaryDirectory(prefix="bench-loop-stacks-") as directory:
        env = os.environ | {"BENCH_LOOP_STACKS_DIR": directory}
        print(f"no {path}: running the suite once to collect its stacks ...", flush=True)
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "bench.loop_stacks",
                        "-n", "2", "-k", "not terraform_loop"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
        stacks = [pair for part in sorted(Path(directory).glob("*.json")) for pair in json.loads(part.read_text())]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(stacks))
    print(f"wrote {len(stacks)} stacks to {path}", flush=True)


def python_of(checkout: Path) -> str:
    candidate = checkout / ".venv" / "bin" / "python"
    return str(candidate) if candidate.exists() else sys.executable


def run_once(checkout: Path, stacks: Path, home: Path, jobs: int) -> dict:
    """One loop in ``checkout``; wall, CPU (process + reaped), plugin CPU, what it planned."""
    env = {key: value for key, value in os.environ.items() if key != "TFDOUBLE_HOME"} | {"TFDOUBLE_HOME": str(home)}
    plugins = zygote_cpu_s(home)
    with tempfile.TemporaryDirectory(prefix="bench-loop-") as workdir:
        process = subprocess.Popen([python_of(checkout), "-c", RUN_ONCE, str(stacks), workdir, str(jobs)],
                                   cwd=checkout, env=env, stdout=subprocess.PIPE, text=True)
        output = process.stdout.read() if process.stdout else ""
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"the loop failed in {checkout} (exit {process.returncode})")
    result = json.loads(output.strip().splitlines()[-1])
    time.sleep(REAP_WAIT_S)
    result |= {"cpu_s": usage.ru_utime + usage.ru_stime, "plugin_cpu_s": zygote_cpu_s(home) - plugins}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", required=True, type=Path, help="the other checkout (base of the ratios)")
    parser.add_argument("--stacks", type=Path, default=ROOT / ".bench" / "loop-stacks.json", help="stacks file")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds (default 2)")
    parser.add_argument("--jobs", type=int, default=2, help="merged configurations at once (the suite: cores, up to 4)")
    parser.add_argument("--json", type=Path, default=ROOT / ".bench" / "bench_loop.json", help="where to write the results")
    args = parser.parse_args(argv)
    if not args.stacks.exists():
        make_stacks(args.stacks)
    cases = {"against": args.against.resolve(), "this": ROOT}
    results: dict[str, list[dict]] = {name: [] for name in cases}
    print(f"the loop over {args.stacks} ({len(json.loads(args.stacks.read_text()))} stacks), jobs {args.jobs}, "
          f"{args.rounds} rounds, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-loop-homes-") as homes:
        for round_ in range(args.rounds):
            for name in cases if round_ % 2 == 0 else list(reversed(cases)):
                figures = run_once(cases[name], args.stacks, Path(homes, name), args.jobs)
                results[name].append(figures)
                print(f"  round {round_ + 1}/{args.rounds} {name:7s} wall {figures['wall_s']:6.2f} s  cpu {figures['cpu_s']:6.2f} s  "
                      f"plugin cpu {figures['plugin_cpu_s']:5.2f} s  planned {figures['planned']}", flush=True)
        for name in cases:  # the zygotes go with their homes
            if (pid := zygote_pid(Path(homes, name))) is not None:
                os.kill(pid, signal.SIGTERM)
    keys = ("wall_s", "cpu_s", "plugin_cpu_s")
    summary = {name: {key: statistics.median(r[key] for r in rs) for key in keys} for name, rs in results.items()}
    print("\nmedians (ratio to --against)")
    for name, s in summary.items():
        print(f"  {name:7s} " + "  ".join(f"{key.removesuffix('_s')} {value:6.2f} s ({value / summary['against'][key]:.2f}x)"
                                         for key, value in s.items()))
    if results["this"][0]["planned"] != results["against"][0]["planned"]:
        print("note: the two checkouts planned different changes; the comparison is not like for like")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"against": str(cases["against"]), "stacks": str(args.stacks), "jobs": args.jobs,
                                     "load_average_end": os.getloadavg(), "medians": summary, "all": results}, indent=2) + "\n")
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}; written {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
