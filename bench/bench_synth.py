"""Synth benchmark: the naive import of the google bindings vs the fast path, on the same app.

    .venv/bin/python -m bench.bench_synth                 # 5 alternating rounds + scale series
    .venv/bin/python -m bench.bench_synth --runs 9 --modes naive,python,fast --no-scale
    .venv/bin/python -m bench.bench_synth --runs 3 --suite --no-scale   # + test-suite import cost
    .venv/bin/python -m bench.bench_synth --scale-only

Each round runs ``python main.py`` (``ML_SERVING_ENV=dev``, ``CDKTF_OUTDIR`` in a temp dir) once
per mode, in an order that alternates between rounds, so load from other processes on the
machine hits every mode alike; the ratios are the fair figures, absolute seconds are noisy.
Modes: ``naive`` (ML_SERVING_NAIVE_IMPORT=1: the package's own eager import), ``python``
(ML_SERVING_LAZY_NODE=0: lazy Python side only), ``fast`` (the default: lazy Python and Node).
Every run's ``cdktf.out`` must be byte-identical to the first naive run's, or the benchmark fails.

Memory: see ``bench/procstat.py`` (tree peak = sampled sum of Python + Node RSS; max single =
exact ``ru_maxrss`` of the largest process, Node included through ``wait4``).

``--suite`` also alternates ``pytest --collect-only -q`` (imports conftest, the bindings and
every test module, runs no test: the import cost the test suite pays once per process).

The scale series runs ``bench/scale_app.py`` (models x regions -> resources) once per point in
the fast mode and reports import / build / synth time in the process and the wall time.
Results are also written as JSON to ``.bench/bench_synth.json``.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.procstat import RunResult, run_measured

ROOT = Path(__file__).resolve().parent.parent
MODES = {
    "naive": {"ML_SERVING_NAIVE_IMPORT": "1"},
    "python": {"ML_SERVING_LAZY_NODE": "0"},
    "fast": {},
}
SCALE_POINTS = ((1, 1), (2, 2), (4, 4), (8, 4), (8, 8), (16, 8), (16, 16))


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ML_SERVING_NAIVE_IMPORT", "ML_SERVING_LAZY_NODE")}
    env.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    env.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
    return env


def same_tree(left: Path, right: Path) -> bool:
    """Whether two cdktf.out trees hold the same files with the same bytes."""
    compare = filecmp.dircmp(left, right)
    if compare.left_only or compare.right_only or compare.funny_files:
        return False
    _, mismatch, errors = filecmp.cmpfiles(left, right, compare.common_files, shallow=False)
    return not mismatch and not errors and all(same_tree(left / d, right / d) for d in compare.common_dirs)


def run_app(mode: str, outdir: Path, env_name: str) -> RunResult:
    env = base_env() | MODES[mode] | {"ML_SERVING_ENV": env_name, "CDKTF_OUTDIR": str(outdir)}
    result = run_measured([sys.executable, "main.py"], env=env, cwd=str(ROOT))
    if result.returncode != 0:
        raise SystemExit(f"{mode} run failed ({result.returncode}):\n{result.stderr}")
    return result


def synth_comparison(modes: list[str], runs: int, env_name: str, workdir: Path) -> dict:
    print(f"warm-up: one untimed run per mode ({', '.join(modes)})", flush=True)
    reference = workdir / "reference"
    run_app("naive", reference, env_name)  # the byte-for-byte reference output
    for mode in modes:
        if mode != "naive":
            run_app(mode, workdir / f"warm-{mode}", env_name)
    results: dict[str, list[RunResult]] = {mode: [] for mode in modes}
    for round_ in range(runs):
        order = modes if round_ % 2 == 0 else list(reversed(modes))
        for mode in order:
            outdir = workdir / f"{mode}-{round_}"
            result = run_app(mode, outdir, env_name)
            if not same_tree(reference, outdir):
                raise SystemExit(f"{mode} run {round_}: {outdir} differs from the naive output {reference}")
            results[mode].append(result)
            print(f"  round {round_ + 1}/{runs} {mode:6s} {result.wall_s:6.2f} s  tree peak {result.tree_peak_mib:6.0f} MiB"
                  f"  max single {result.max_single_mib:6.0f} MiB", flush=True)
    summary = {
        mode: {
            "wall_s": statistics.median(r.wall_s for r in rs),
            "tree_peak_mib": statistics.median(r.tree_peak_mib for r in rs),
            "max_single_mib": statistics.median(r.max_single_mib for r in rs),
            "wall_all_s": [round(r.wall_s, 3) for r in rs],
        }
        for mode, rs in results.items()
    }
    return summary


def suite_import_comparison(modes: list[str], runs: int) -> dict:
    """``pytest --collect-only -q`` per mode, alternating: the suite's import cost."""
    argv = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "--snapshot-warn-unused"]
    results: dict[str, list[RunResult]] = {mode: [] for mode in modes}
    for round_ in range(runs):
        for mode in modes if round_ % 2 == 0 else list(reversed(modes)):
            result = run_measured(argv, env=base_env() | MODES[mode], cwd=str(ROOT))
            if result.returncode != 0:
                raise SystemExit(f"pytest --collect-only failed in mode {mode}:\n{result.stderr}")
            results[mode].append(result)
            print(f"  round {round_ + 1}/{runs} {mode:6s} {result.wall_s:6.2f} s  tree peak {result.tree_peak_mib:6.0f} MiB",
                  flush=True)
    return {
        mode: {
            "wall_s": statistics.median(r.wall_s for r in rs),
            "tree_peak_mib": statistics.median(r.tree_peak_mib for r in rs),
            "max_single_mib": statistics.median(r.max_single_mib for r in rs),
        }
        for mode, rs in results.items()
    }


def print_medians(summary: dict) -> None:
    naive = summary["naive"]
    print("\nmedians (ratio to naive)")
    for mode, s in summary.items():
        print(f"  {mode:6s} wall {s['wall_s']:6.2f} s ({s['wall_s'] / naive['wall_s']:.2f}x)"
              f"  tree peak {s['tree_peak_mib']:5.0f} MiB ({s['tree_peak_mib'] / naive['tree_peak_mib']:.2f}x)"
              f"  max single {s['max_single_mib']:5.0f} MiB ({s['max_single_mib'] / naive['max_single_mib']:.2f}x)")


def scale_series(workdir: Path, points=SCALE_POINTS) -> list[dict]:
    rows = []
    for models, regions in points:
        outdir = workdir / f"scale-{models}x{regions}"
        outdir.mkdir(parents=True)
        start = time.perf_counter()
        completed = subprocess.run(
            [sys.executable, "-m", "bench.scale_app", "--models", str(models), "--regions", str(regions),
             "--outdir", str(outdir)],
            env=base_env(), cwd=str(ROOT), capture_output=True, text=True,
        )
        wall = time.perf_counter() - start
        if completed.returncode != 0:
            raise SystemExit(f"scale point {models}x{regions} failed:\n{completed.stderr}")
        row = json.loads(completed.stdout.strip().splitlines()[-1]) | {"wall_s": round(wall, 3)}
        rows.append(row)
        print(f"  {models:3d} models x {regions:2d} regions  {row['resources']:4d} resources  import {row['import_s']:5.2f} s"
              f"  build {row['build_s']:5.2f} s  synth {row['synth_s']:5.2f} s  wall {wall:5.2f} s", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="alternating rounds (default 5)")
    parser.add_argument("--modes", default="naive,fast", help="comma-separated from naive,python,fast (default naive,fast)")
    parser.add_argument("--env", default="dev", help="environment to synthesize (ML_SERVING_ENV, default dev)")
    parser.add_argument("--no-scale", action="store_true", help="skip the scale series")
    parser.add_argument("--scale-only", action="store_true", help="run only the scale series")
    parser.add_argument("--suite", action="store_true", help="also compare the test suite's import cost")
    parser.add_argument("--json", default=str(ROOT / ".bench" / "bench_synth.json"), help="where to write the results")
    args = parser.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = sorted(set(modes) - set(MODES))
    if unknown or "naive" not in modes:
        parser.error(f"--modes must include naive and only name {', '.join(MODES)}; got {args.modes!r}")

    print(f"python main.py, ML_SERVING_ENV={args.env}, {args.runs} rounds, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-synth-") as tmp:
        workdir = Path(tmp)
        summary, suite = {}, {}
        if not args.scale_only:
            summary = synth_comparison(modes, args.runs, args.env, workdir)
            print_medians(summary)
        if args.suite and not args.scale_only:
            print("\ntest suite import cost: pytest --collect-only -q", flush=True)
            suite = suite_import_comparison(modes, args.runs)
            print_medians(suite)
        rows = []
        if not args.no_scale:
            print("\nscale series (fast path; times inside the process, wall includes interpreter and Node start/exit)")
            rows = scale_series(workdir)
    result = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_average_end": os.getloadavg()},
        "runs": args.runs, "env": args.env, "synth": summary, "suite_collect": suite, "scale": rows,
    }
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
