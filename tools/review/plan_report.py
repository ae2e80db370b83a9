"""Read ``terraform show -json`` plans (real provider or the offline double) into a review report.

Each plan file is one stack, named after the folder that holds it (``cdktf.out/stacks/<stack>/
plan.json``, as ``tools.plan_offline`` writes it). When a ``cdk.tf.json`` sits next to the plan,
construct paths are read from its cdktf metadata (and from ``base.cdk.tf.json`` for deleted
resources, as ``offline-plan`` writes it). Only managed resources count; data-source
reads and no-ops are left out (moves, imports and ``removed`` blocks are noted).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import risk
from .fold import fold
from .changes import ACTIONS, ResourceChange, ReviewInputError, diff_values, leaves, path_text, with_unknowns
from .synth_diff import resources_of

#: The base branch's configuration next to a plan (offline-plan writes it): construct paths of deleted resources.
BASE_CONFIG = "base.cdk.tf.json"

#: Terraform's action_reason values, as a reviewer reads them.
REASONS = {
    "replace_because_tainted": "tainted: replaced",
    "replace_because_cannot_update": "the provider cannot update it in place",
    "replace_by_request": "replacement requested (-replace)",
    "replace_by_triggers": "replace_triggered_by",
    "delete_because_no_resource_config": "removed from the configuration",
    "delete_because_no_module": "its module was removed",
    "delete_because_wrong_repetition": "count/for_each changed",
    "delete_because_count_index": "count decreased",
    "delete_because_each_key": "for_each key removed",
    "delete_because_no_move_target": "moved to an address that does not exist",
}


@dataclass
class StackPlan:
    """One plan file: the stack's changes (ordered), counts per action, and its output changes."""

    name: str
    source: str
    changes: list[ResourceChange] = field(default_factory=list)
    outputs: list[ResourceChange] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    errored: bool = False


@dataclass
class PlanReport:
    """Every stack's plan (sorted by name) and the risk findings over all of them."""

    stacks: list[StackPlan]
    findings: list[risk.Finding]


def load_plan(path: Path | str) -> dict:
    """The plan JSON of `path`, or ReviewInputError with a one-line reason."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ReviewInputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ReviewInputError(f"{path}: is a directory (expected a plan JSON file)") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ReviewInputError(f"{path}: cannot read ({type(error).__name__})") from None
    try:
        plan = json.loads(text)
    except ValueError as error:
        raise ReviewInputError(f"{path}: not JSON ({str(error).splitlines()[0]})") from None
    _check_plan(path, plan)
    return plan


def _check_plan(path: Path, plan: Any) -> None:
    expected = "expected the output of `terraform show -json PLANFILE`"
    if not isinstance(plan, dict) or "format_version" not in plan:
        raise ReviewInputError(f"{path}: not a Terraform plan ({expected})")
    if "planned_values" not in plan and "resource_changes" not in plan:
        what = "a state (terraform show -json without a plan file)" if "values" in plan else "not a Terraform plan"
        raise ReviewInputError(f"{path}: {what}, {expected}")
    if not str(plan["format_version"]).startswith("1."):
        raise ReviewInputError(f"{path}: unsupported plan format_version {plan['format_version']!r} (1.x is supported)")
    changes = plan.get("resource_changes", [])
    if not isinstance(changes, list):
        raise ReviewInputError(f"{path}: malformed plan: resource_changes is not a list")
    for i, rc in enumerate(changes):
        ok = (isinstance(rc, dict) and isinstance(rc.get("address"), str) and isinstance(rc.get("change"), dict)
              and isinstance(rc["change"].get("actions"), list))
        if not ok:
            raise ReviewInputError(f"{path}: malformed plan: resource_changes[{i}] has no address/change.actions")


def action_of(actions: list[str], rc: dict) -> str | None:
    """create/update/replace/delete, move/import/forget for state-only changes, None for no-op/read."""
    if sorted(actions) == ["create", "delete"]:
        return "replace"
    if actions in (["create"], ["update"], ["delete"]):
        return actions[0]
    if actions == ["forget"]:
        return "forget"
    if actions == ["no-op"]:
        if rc.get("previous_address"):
            return "move"
        if rc.get("change", {}).get("importing"):
            return "import"
    return None


def forced_by(rc: dict) -> tuple[str, ...]:
    """The arguments that force a replacement (``replace_paths``), without the ``id`` SDKv2
    providers add to every one."""
    paths = sorted({path_text(tuple(p)) for p in rc.get("change", {}).get("replace_paths") or []})
    return tuple(p for p in paths if p != "id") or tuple(paths)


def _reason(rc: dict, action: str) -> str | None:
    parts = []
    if rc.get("previous_address"):
        parts.append(f"moved from `{rc['previous_address']}`")
    if rc.get("change", {}).get("importing"):
        parts.append("imported")
    if rc.get("action_reason"):
        parts.append(REASONS.get(rc["action_reason"], rc["action_reason"]))
    if action == "replace" and forced_by(rc):
        parts.append("forced by " + ", ".join(forced_by(rc)))
    return "; ".join(parts) or None


def stack_plan(name: str, plan: dict, *, source: str = "", construct_paths: dict[str, str] | None = None) -> StackPlan:
    """The reviewable changes of one (already checked) plan."""
    paths = construct_paths or {}
    changes = []
    for rc in plan.get("resource_changes", []):
        if rc.get("mode", "managed") != "managed":
            continue
        change = rc["change"]
        action = action_of(change["actions"], rc)
        if action is None:
            continue
        after = with_unknowns(change.get("after"), change.get("after_unknown"))
        before = change.get("before")
        if action == "create":
            attributes = leaves(after, marks=change.get("after_sensitive"))
        elif action == "delete":
            attributes = []
        else:
            attributes = diff_values(before, after, before_marks=change.get("before_sensitive"),
                                     after_marks=change.get("after_sensitive"))
        changes.append(ResourceChange(name, rc["address"], rc.get("type", ""), action, before, after,
                                      paths.get(rc["address"]), attributes, rc.get("previous_address"),
                                      reason=_reason(rc, action), forced_by=forced_by(rc) if action == "replace" else (),
                                      create_first=change["actions"] == ["create", "delete"]))
    outputs = []
    for output, change in sorted((plan.get("output_changes") or {}).items()):
        action = action_of(change.get("actions", []), {})
        if action is None:
            continue
        sensitive = bool(change.get("before_sensitive") is True or change.get("after_sensitive") is True)
        after = with_unknowns(change.get("after"), change.get("after_unknown"))
        outputs.append(ResourceChange(name, f"output.{output}", "output", action, None, None, None,
                                      diff_values({"value": change.get("before")}, {"value": after},
                                                  sensitive=sensitive,
                                                  before_marks={"value": change.get("before_sensitive")},
                                                  after_marks={"value": change.get("after_sensitive")})))
    order = {a: i for i, a in enumerate(ACTIONS + ("move", "import", "forget"))}
    changes.sort(key=lambda c: (order[c.action], c.address))
    counts = Counter(c.action for c in changes)
    return StackPlan(name, source, changes, outputs, {a: counts.get(a, 0) for a in order},
                     errored=bool(plan.get("errored")))


def _construct_paths(plan_path: Path, stack: str) -> dict[str, str]:
    """Address -> construct path from the cdk.tf.json next to the plan, and from the base branch's
    (``base.cdk.tf.json``, for deleted resources) when there is one; empty if none/unreadable."""
    found: dict[str, str] = {}
    for name in (BASE_CONFIG, "cdk.tf.json"):
        try:
            stack_json = json.loads((plan_path.parent / name).read_text())
        except (OSError, ValueError):
            continue
        if isinstance(stack_json, dict):
            found.update({address: r.path for address, r in resources_of(stack_json, stack).items() if r.path})
    return found


def stack_names(paths: list[Path]) -> list[str]:
    """Parent folder names; where two plans share one, the last two folders (``prod/ml-serving``)."""
    names = [p.resolve().parent.name or "plan" for p in paths]
    counts = Counter(names)
    return [n if counts[n] == 1 else "/".join(p.resolve().parent.parts[-2:]) for n, p in zip(names, paths)]


def build_report(plan_paths: list[Path | str]) -> PlanReport:
    """Load, check and assess every plan file; stacks sorted by name."""
    paths = [Path(p) for p in plan_paths]
    stacks = []
    for name, path in zip(stack_names(paths), paths):
        plan = load_plan(path)
        stacks.append(stack_plan(name, plan, source=str(path), construct_paths=_construct_paths(path, name)))
    stacks.sort(key=lambda s: s.name)
    changes = [c for s in stacks for c in s.changes]
    return PlanReport(stacks, fold(risk.assess_all(changes), changes))
