"""Offline plans of a pull request against its base: apply BASE, then plan HEAD, per stack.

No credentials and no network: the provider double (``tools.tfdouble``) stands in for Google.
For every stack of HEAD, a scratch working dir (default ``.tfharness/review/<stack>``) gets a
fresh local state: the base branch's ``cdk.tf.json`` is applied (if the stack exists there),
then HEAD's is planned. The plan therefore shows what the pull request changes as Terraform
sees it (updates, deletes, moves), not just "create everything" as a plan of HEAD alone does.
The double answers replacements as the real provider does (ForceNew and the conditional rules
it can decide), so a replaced resource is listed under its stack line as ``delete, create`` or
``create, delete`` (``create_before_destroy``) with the arguments that forced it.
It writes ``<out>/<stack>/plan.json`` next to a copy of HEAD's ``cdk.tf.json`` and BASE's as
``base.cdk.tf.json`` (construct paths, also of deleted resources), ready for ``plan-report``.
Stacks only in BASE are not planned (the synth diff reports them).

What the double cannot show (see tools/tfdouble/README.md): replacements decided by provider
code it does not model, API-side validation, drift. The real plan (CI with credentials) is
authoritative.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tools.tfdouble import harness, mirror as mirror_mod

from .plan_report import BASE_CONFIG, forced_by
from .synth_diff import load_tree

STATE_FILES = ("terraform.tfstate", "terraform.tfstate.backup", "plan.bin", "plan.json")


def plan_stack(name: str, base: dict | None, head: dict, workdir: Path, out: Path,
               tf_mirror: mirror_mod.Mirror | None = None) -> str:
    """Apply `base` (if any) on an empty local state, plan `head`; write out/<name>/plan.json."""
    workdir.mkdir(parents=True, exist_ok=True)
    for stale in STATE_FILES:
        (workdir / stale).unlink(missing_ok=True)
    tf = harness.OfflineTerraform(workdir, mirror=tf_mirror)
    applied = "new stack"
    if base is not None:
        tf.write_config(base)
        tf.apply()
        applied = "base applied"
    tf.write_config(head)
    plan = tf.plan()
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "plan.json").write_text(json.dumps(plan, indent=2, sort_keys=True) + "\n")
    (folder / "cdk.tf.json").write_text(json.dumps(head, indent=2) + "\n")
    if base is not None:
        (folder / BASE_CONFIG).write_text(json.dumps(base, indent=2) + "\n")
    c = harness.summarize(plan)
    lines = [f"{name}: {applied}, plan {c['add']} to add, {c['change']} to change, {c['destroy']} to destroy"
             f" ({c['replace']} replaced)"]
    for rc in plan.get("resource_changes", []):
        actions = rc["change"]["actions"]
        if sorted(actions) == ["create", "delete"]:
            forced = forced_by(rc)
            lines.append(f"  {rc['address']}: {', '.join(actions)}" + (f" (forced by {', '.join(forced)})" if forced else ""))
    return "\n".join(lines)


def plan_trees(base_dir: Path | str, head_dir: Path | str, out: Path | str, *,
               work_root: Path | None = None) -> tuple[list[str], list[tuple[str, harness.TerraformError]]]:
    """Plan every HEAD stack against BASE; returns (report lines, failures). Raises
    ReviewInputError for unreadable trees."""
    base, head = load_tree(base_dir), load_tree(head_dir)
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    tf_mirror = mirror_mod.install()
    work_root = work_root or tf_mirror.home / "review"
    lines, failures = [], []
    for name in sorted(head):
        try:
            lines.append(plan_stack(name, base.get(name), head[name], work_root / name, out, tf_mirror))
        except harness.TerraformError as error:
            failures.append((name, error))
            lines.append(f"{name}: FAILED (terraform {error.result.args[0]})")
    lines += [f"{name}: only in base, not planned (removed from the app)" for name in sorted(set(base) - set(head))]
    return lines, failures
