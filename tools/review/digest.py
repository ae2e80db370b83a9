"""Plan digests: what a plan changes, one hash per stack, so a deploy applies only what was reviewed.

The digest of a stack's plan (``terraform show -json PLANFILE``) is ``sha256:`` + the SHA-256 of
the canonical JSON (sorted keys, no spaces, UTF-8) of the list, sorted by address, of

    {"address": ..., "actions": [...], "changes": [[path, old, new], ...],
     "previous_address": ..., "importing": ...}   # the last two only when set

for every managed resource change except no-ops (moves and imports count) and reads. `changes`
are the attribute changes the report shows (``changes.diff_values``; leaf by leaf, null, ``[]``
and ``{}`` equal): for a create, every value of the new object; for an update or replace, what
differs; for a delete, nothing. Values the plan marks sensitive, or named like secrets, are
``"(sensitive)"``: a changed secret changes the digest, its value never enters it (the digest is
posted in a pull-request comment). Values unknown until apply are ``"(known after apply)"``.

So the digest changes when anything a reviewer saw changes (an address, an action, an old or
new value), and not when attributes the plan does not touch drift. Outputs are not included.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from .changes import UNKNOWN, diff_values, with_unknowns
from .plan_report import load_plan, stack_names

PREFIX = "sha256:"
#: The record in a review comment: ``<!-- terraform-plan-digest head=<sha> <stack>=sha256:<hex> ... -->``.
MARKER = re.compile(r"<!-- terraform-plan-digest((?: [^ =]+=[^ ]+)*) -->")


def _canonical(value: Any) -> Any:
    if value is UNKNOWN:
        return "(known after apply)"
    raise TypeError(f"not JSON: {type(value).__name__}")


def entries(plan: dict) -> list[dict]:
    """The digested form of a plan's resource changes (see module doc)."""
    found = []
    for rc in plan.get("resource_changes", []):
        change = rc["change"]
        actions = change["actions"]
        if rc.get("mode", "managed") != "managed" or actions == ["read"] or (
                actions == ["no-op"] and not rc.get("previous_address") and not change.get("importing")):
            continue
        after = with_unknowns(change.get("after"), change.get("after_unknown"))
        before = None if actions == ["create"] else change.get("before")
        changed = [] if actions == ["delete"] else diff_values(
            before, after, before_marks=change.get("before_sensitive"), after_marks=change.get("after_sensitive"))
        entry = {"address": rc["address"], "actions": actions, "changes": [[c.path, c.old, c.new] for c in changed]}
        if rc.get("previous_address"):
            entry["previous_address"] = rc["previous_address"]
        if change.get("importing"):
            entry["importing"] = change["importing"]
        found.append(entry)
    return sorted(found, key=lambda e: e["address"])


def of_plan(plan: dict) -> str:
    """``sha256:<hex>`` of one stack's plan."""
    text = json.dumps(entries(plan), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_canonical)
    return PREFIX + hashlib.sha256(text.encode()).hexdigest()


def of_files(paths: list[Path | str]) -> dict[str, str]:
    """{stack: digest} of plan files (each one's parent folder names the stack)."""
    paths = [Path(p) for p in paths]
    return {name: of_plan(load_plan(path)) for name, path in zip(stack_names(paths), paths)}


def marker(digests: dict[str, str], head: str) -> str:
    """The hidden record a review comment carries."""
    fields = "".join(f" {stack}={value}" for stack, value in sorted(digests.items()))
    return f"<!-- terraform-plan-digest head={head}{fields} -->"


def parse(text: str) -> tuple[str | None, dict[str, str]]:
    """(reviewed head commit, {stack: digest}) from a review comment's marker, or from
    ``<stack> sha256:<hex>`` lines (what ``plan-digest`` prints); the last marker wins."""
    found = MARKER.findall(text)
    if found:
        fields = dict(f.split("=", 1) for f in found[-1].split())
        return fields.pop("head", None), fields
    lines = [line.split() for line in text.splitlines()]
    return None, {parts[0]: parts[1] for parts in lines if len(parts) == 2 and parts[1].startswith(PREFIX)}


def compare(current: dict[str, str], reviewed: dict[str, str]) -> list[tuple[str, bool, str]]:
    """Per stack of `current`: (stack, matches, one line saying so)."""
    results = []
    for stack, value in sorted(current.items()):
        if stack not in reviewed:
            results.append((stack, False, f"{stack}: not in the reviewed plans (plan {value})"))
        elif reviewed[stack] != value:
            results.append((stack, False, f"{stack}: differs from the reviewed plan (reviewed {reviewed[stack]}, "
                                          f"now {value})"))
        else:
            results.append((stack, True, f"{stack}: matches the reviewed plan ({value})"))
    return results
