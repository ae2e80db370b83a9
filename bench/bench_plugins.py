"""Plugin benchmark: what one Terraform plan costs in the offline harness, with Terraform's TLS to
the provider doubles (go-plugin AutoMTLS) against the harness default without it.

    .venv/bin/python -m bench.bench_plugins                       # 15 provider configurations, 5 rounds
    .venv/bin/python -m bench.bench_plugins --providers 30 --resources 4 --runs 9

The configuration: ``--providers`` google provider configurations (different projects, as the
random environments of the property tests make them), each with ``--resources`` networks.
Terraform starts two plugin processes per provider configuration and plan, so this measures the
fixed cost of a launch more than the per-resource work. Both cases plan the same configuration
in their own working directory through ``harness.OfflineTerraform`` (``plugin_tls=True`` and the
default), once per round, the order reversed every other round; ratios are against ``tls``.

Figures per plan: wall time; Terraform's CPU time with its children (the launchers, reaped by
Terraform); the plugin processes' CPU time, read from the zygote's ``/proc/<pid>/stat`` (its own
time plus that of the children it reaped), after waiting for it to reap the last one. Results are
also written to ``.bench/bench_plugins.json``. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.zygote_cpu import REAP_WAIT_S, zygote_cpu_s
from tools.tfdouble import harness, mirror

ROOT = Path(__file__).resolve().parent.parent


def config(providers: int, resources: int) -> dict:
    blocks = [{"project": f"bench-project-{index:03d}", "region": "us-central1",
               **({"alias": f"p{index}"} if index else {})} for index in range(providers)]
    networks = {}
    for index in range(providers):
        for number in range(resources):
            body: dict = {"name": f"net-{index}-{number}", "auto_create_subnetworks": False}
            if index:
                body["provider"] = f"google.p{index}"
            networks[f"net_{index}_{number}"] = body
    return {"terraform": {"required_providers": {"google": {"source": "hashicorp/google", "version": "6.50.0"}}},
            "provider": {"google": blocks}, "resource": {"google_compute_network": networks}}


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def plan_once(tf: harness.OfflineTerraform, home: Path) -> dict[str, float]:
    """One plan; the zygote has reaped the plugins of the previous one (each call ends waiting for it)."""
    plugins, terraform, start = zygote_cpu_s(home), children_cpu_s(), time.monotonic()
    result = tf.run("plan", "-input=false", "-no-color", "-lock=false", "-json")
    wall = time.monotonic() - start
    terraform = children_cpu_s() - terraform
    time.sleep(REAP_WAIT_S)
    plugins = zygote_cpu_s(home) - plugins
    if '"add":' not in result.stdout:
        raise SystemExit(f"the plan did not finish:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return {"wall_s": wall, "terraform_cpu_s": terraform, "plugin_cpu_s": plugins, "cpu_s": terraform + plugins}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--providers", type=int, default=15, help="google provider configurations (default 15)")
    parser.add_argument("--resources", type=int, default=1, help="networks per provider configuration (default 1)")
    parser.add_argument("--runs", type=int, default=5, help="alternating rounds (default 5)")
    parser.add_argument("--json", default=str(ROOT / ".bench" / "bench_plugins.json"), help="where to write the results")
    args = parser.parse_args(argv)
    if not harness.terraform_available():
        raise SystemExit(harness.UNAVAILABLE_REASON)
    installed = mirror.install()
    print(f"one plan of {args.providers} provider configurations x {args.resources} networks; {args.runs} rounds, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}", flush=True)
    results: dict[str, list[dict[str, float]]] = {"tls": [], "no-tls": []}
    with tempfile.TemporaryDirectory(prefix="bench-plugins-") as tmp:
        cases = {}
        for name, tls in (("tls", True), ("no-tls", None)):
            tf = harness.OfflineTerraform(Path(tmp) / name, mirror=installed, plugin_tls=tls)
            tf.write_config(config(args.providers, args.resources))
            tf.init()
            plan_once(tf, installed.home)  # warm-up: page cache, zygote
            cases[name] = tf
        for round_ in range(args.runs):
            for name in cases if round_ % 2 == 0 else list(reversed(cases)):
                figures = plan_once(cases[name], installed.home)
                results[name].append(figures)
                print(f"  round {round_ + 1}/{args.runs} {name:7s} wall {figures['wall_s']:5.2f} s  terraform cpu "
                      f"{figures['terraform_cpu_s']:5.2f} s  plugin cpu {figures['plugin_cpu_s']:5.2f} s", flush=True)
    summary = {name: {key: statistics.median(r[key] for r in rs) for key in rs[0]} for name, rs in results.items()}
    print("\nmedians (ratio to tls)")
    for name, s in summary.items():
        print(f"  {name:7s} " + "  ".join(f"{key.removesuffix('_s')} {value:5.2f} s ({value / summary['tls'][key]:.2f}x)"
                                         for key, value in s.items()))
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"providers": args.providers, "resources": args.resources, "runs": args.runs,
                               "load_average_end": os.getloadavg(), "medians": summary, "all": results}, indent=2) + "\n")
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}; written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
