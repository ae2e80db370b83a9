"""Validate and plan every synthesized stack offline, against the provider double.

Usage::

    python -m tools.plan_offline [--out cdktf.out] [--workdir .tfharness/work] [STACK ...]

For each ``<out>/stacks/<stack>/cdk.tf.json`` (all stacks, or only the named ones): copy the
stack directory into a scratch working dir (default ``.tfharness/work/<stack>``, reused so
``init`` is cheap the next time), drop its ``backend`` block there (state stays local and
offline), then ``terraform init``, ``validate``, ``plan -out=plan.bin`` and ``show -json``.
The plan JSON is written to ``<out>/stacks/<stack>/plan.json``; nothing else in ``<out>`` is
touched. Prints one line per stack, e.g.::

    ml-serving-dev: validate ok, plan 42 to add, 0 to change, 0 to destroy (init 1.2s, validate 0.8s, plan 1.5s)

Exit status: 0 if every stack planned, 1 if any failed (Terraform's own error text is printed
to stderr), 2 on usage errors (no terraform, no stacks, unknown stack name).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from tools.tfdouble import harness, mirror

# Files from the stack dir that must not reach the scratch dir: a real lock file pins the
# registry's hashes (not the double's), and old state/plans would leak into the offline plan.
_SKIP = shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate", "*.tfstate.backup",
                               "plan.bin", "plan.json", "main.tf.json")


def find_stacks(out: Path, names: list[str]) -> list[Path]:
    """Stack dirs under `out`/stacks holding a cdk.tf.json, filtered by `names` (all if empty)."""
    found = {p.parent.name: p.parent for p in sorted((out / "stacks").glob("*/cdk.tf.json"))}
    missing = [n for n in names if n not in found]
    if missing:
        raise SystemExit(f"plan_offline: no synthesized stack named {', '.join(missing)} in {out}/stacks "
                         f"(have: {', '.join(found) or 'none'})")
    return [found[n] for n in names] if names else list(found.values())


def prepare_workdir(stack_dir: Path, workdir: Path) -> dict:
    """Mirror the stack dir into `workdir` (keeping its .terraform) and return the stack JSON."""
    workdir.mkdir(parents=True, exist_ok=True)
    for entry in workdir.iterdir():  # stale copies of files the stack no longer has
        if entry.name not in (".terraform", ".terraform.lock.hcl", "plan.bin", "plan.json"):
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    shutil.copytree(stack_dir, workdir, ignore=_SKIP, dirs_exist_ok=True)
    (workdir / "cdk.tf.json").unlink()  # the harness writes the offline form as main.tf.json
    return json.loads((stack_dir / "cdk.tf.json").read_text())


def plan_stack(stack_dir: Path, workdir: Path, tf_mirror: mirror.Mirror) -> str:
    """Init/validate/plan one stack; write plan.json next to its cdk.tf.json; return the report line."""
    stack_json = prepare_workdir(stack_dir, workdir)
    tf = harness.OfflineTerraform(workdir, mirror=tf_mirror)
    tf.write_config(stack_json)
    tf.init()
    tf.validate()
    plan_json = tf.plan()
    (stack_dir / "plan.json").write_text(json.dumps(plan_json, indent=2, sort_keys=True) + "\n")
    c = harness.summarize(plan_json)
    t = tf.timings
    return (f"{stack_dir.name}: validate ok, plan {c['add']} to add, {c['change']} to change, "
            f"{c['destroy']} to destroy (init {t.get('init', 0.0):.1f}s, validate {t.get('validate', 0.0):.1f}s, "
            f"plan {t.get('plan', 0.0) + t.get('show', 0.0):.1f}s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.plan_offline", description=__doc__.split("\n")[0])
    parser.add_argument("stacks", nargs="*", metavar="STACK", help="stack names (default: all)")
    parser.add_argument("--out", type=Path, default=Path("cdktf.out"), help="cdktf output dir (default: cdktf.out)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="scratch root for Terraform working dirs (default: .tfharness/work)")
    args = parser.parse_args(argv)

    if not harness.terraform_available():
        print(f"plan_offline: {harness.UNAVAILABLE_REASON}", file=sys.stderr)
        return 2
    try:
        stack_dirs = find_stacks(args.out, args.stacks)
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 2
    if not stack_dirs:
        print(f"plan_offline: no stacks under {args.out}/stacks (run `make synth` first)", file=sys.stderr)
        return 2

    tf_mirror = mirror.install()
    work_root = args.workdir or tf_mirror.home / "work"
    failed = 0
    for stack_dir in stack_dirs:
        try:
            print(plan_stack(stack_dir, work_root / stack_dir.name, tf_mirror), flush=True)
        except harness.TerraformError as exc:
            failed += 1
            print(f"{stack_dir.name}: FAILED ({exc.result.args[0]})", flush=True)
            print(f"--- {stack_dir.name} ---\n{exc}", file=sys.stderr, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
