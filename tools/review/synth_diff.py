"""Compare two ``cdktf.out`` trees (base branch vs pull request) resource by resource.

No Terraform, no credentials: only the synthesized ``stacks/<stack>/cdk.tf.json`` files. Per
stack it finds resources and data sources added, removed and changed (with the changed
attribute paths), changes to arguments the provider cannot update in place (ForceNew, the
rules the offline double uses: a **replace** naming the arguments), outputs and stack settings
(``terraform`` backend/providers, ``provider``...) that changed, and logical-id renames: a resource removed and one added with the same type and
the same body (after following the renames of what it references) is one resource whose
address changed, which Terraform plans as destroy + create = **replace** (unless a ``moved``
block in the new tree maps the old address to the new one).

The construct path (cdktf's ``"//": {"metadata": {"path": ...}}``) is shown next to each address;
``Testing.synth`` output has none, so it is simply left out.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.tfdouble import force_new

from . import risk
from .changes import MASK, ResourceChange, ReviewInputError, diff_values
from .fold import fold

RESOURCE_KINDS = ("resource", "data")
NOT_SETTINGS = frozenset({"//", "resource", "data", "output"})


@dataclass
class StackDiff:
    """One stack's differences. `status`: added, removed, changed or unchanged."""

    name: str
    status: str
    changes: list[ResourceChange] = field(default_factory=list)
    resource_count: int = 0

    def of(self, *actions: str, kind: str = "resource") -> list[ResourceChange]:
        """Changes with one of `actions`; kind ``resource`` (incl. data sources), ``output`` or ``settings``."""
        return [c for c in self.changes if c.action in actions and _kind(c) == kind]


@dataclass
class SynthDiff:
    """Every stack's diff (sorted by name) and the risk findings over all of them."""

    stacks: list[StackDiff]
    findings: list[risk.Finding]


def _kind(change: ResourceChange) -> str:
    if change.type == "output":
        return "output"
    if change.type == "stack":
        return "stack"
    return "resource" if "." in change.address else "settings"


# ---------------------------------------------------------------------------------------------
# loading


def load_tree(root: Path | str) -> dict[str, dict]:
    """``{stack name: cdk.tf.json}`` of a cdktf output dir (``<root>/stacks/*/cdk.tf.json``; a dir
    that directly holds ``*/cdk.tf.json`` works too). An existing dir with no stacks is empty."""
    root = Path(root)
    if not root.is_dir():
        raise ReviewInputError(f"{root}: no such directory (expected a cdktf output dir with stacks/<stack>/cdk.tf.json)")
    stacks_dir = root / "stacks" if (root / "stacks").is_dir() else root
    found: dict[str, dict] = {}
    for path in sorted(stacks_dir.glob("*/cdk.tf.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, ValueError) as error:
            raise ReviewInputError(f"{path}: not JSON ({_first_line(error)})") from None
        if not isinstance(data, dict) or not isinstance(data.get("resource", {}), dict):
            raise ReviewInputError(f"{path}: not a synthesized stack (expected a JSON object with a 'resource' map)")
        found[path.parent.name] = data
    return found


def _first_line(error: Exception) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__


# ---------------------------------------------------------------------------------------------
# comparing


@dataclass(frozen=True)
class _Resource:
    address: str
    type: str
    body: dict
    path: str | None


def construct_path(body: Any, stack: str) -> str | None:
    """``network/default`` from a resource's cdktf metadata, or None. The first segment (the
    stack's construct id, normally the stack name) is dropped: the report already names the stack."""
    meta = body.get("//") if isinstance(body, dict) else None
    path = meta.get("metadata", {}).get("path") if isinstance(meta, dict) else None
    if not isinstance(path, str):
        return None
    return path.split("/", 1)[1] if "/" in path else path


def resources_of(stack_json: dict, stack: str) -> dict[str, _Resource]:
    """Address -> (type, body without cdktf metadata, construct path) of every resource and data source."""
    found = {}
    for kind in RESOURCE_KINDS:
        by_type = stack_json.get(kind)
        for rtype, by_id in sorted(by_type.items() if isinstance(by_type, dict) else ()):
            for logical_id, body in sorted(by_id.items() if isinstance(by_id, dict) else ()):
                address = f"{'data.' if kind == 'data' else ''}{rtype}.{logical_id}"
                clean = {k: v for k, v in body.items() if k != "//"} if isinstance(body, dict) else body
                found[address] = _Resource(address, rtype, clean, construct_path(body, stack))
    return found


def _moved(stack_json: dict) -> dict[str, str]:
    blocks = stack_json.get("moved") or []
    blocks = blocks if isinstance(blocks, list) else [blocks]
    strip = lambda a: str(a).removeprefix("${").removesuffix("}")  # noqa: E731
    return {strip(b.get("from")): strip(b.get("to")) for b in blocks if isinstance(b, dict)}


def _substitute(body: Any, renames: dict[str, str]) -> str:
    """Canonical JSON of `body` with references to renamed addresses rewritten to the new ones."""
    text = json.dumps(body, sort_keys=True)
    for old, new in renames.items():
        text = re.sub(rf"(?<![\w.-]){re.escape(old)}(?![\w-])", new, text)
    return text


def find_renames(removed: dict[str, _Resource], added: dict[str, _Resource]) -> dict[str, str]:
    """Old address -> new address for removed/added pairs of one type whose bodies match once
    references to already-matched renames are rewritten (repeated until nothing new matches).
    A body that matches several candidates is left alone (ambiguous)."""
    renames: dict[str, str] = {}
    progress = True
    while progress:
        progress = False
        taken = set(renames.values())
        for old in sorted(set(removed) - set(renames)):
            wanted = _substitute(removed[old].body, renames)
            candidates = [new for new in sorted(set(added) - taken)
                          if added[new].type == removed[old].type
                          and json.dumps(added[new].body, sort_keys=True) == wanted]
            if len(candidates) == 1:
                renames[old] = candidates[0]
                taken.add(candidates[0])
                progress = True
    return renames


def diff_stack(name: str, base: dict | None, head: dict | None) -> StackDiff:
    """Differences of one stack between `base` and `head` (either may be None: added/removed)."""
    if base is None and head is None:
        raise ValueError("diff_stack needs at least one side")
    old, new = resources_of(base or {}, name), resources_of(head or {}, name)
    if base is None or head is None:
        side = new if base is None else old
        status = "added" if base is None else "removed"
        diff = StackDiff(name, status, resource_count=len(side))
        if status == "added":
            diff.changes = [ResourceChange(name, r.address, r.type, "create", after=r.body, construct_path=r.path)
                            for r in side.values()]
        else:
            diff.changes = [ResourceChange(name, name, "stack", "delete",
                                           before={"types": sorted({r.type for r in side.values()}),
                                                   "addresses": sorted(side)})]
        diff.changes += _output_changes(name, base or {}, head or {}) if status == "added" else []
        return diff

    changes: list[ResourceChange] = []
    removed = {a: r for a, r in old.items() if a not in new}
    added = {a: r for a, r in new.items() if a not in old}
    moved = {a: b for a, b in _moved(head).items() if a in removed and b in added}
    renames = find_renames({a: r for a, r in removed.items() if a not in moved},
                           {a: r for a, r in added.items() if a not in moved.values()})
    for address in sorted(set(old) & set(new)):
        before, after = old[address], new[address]
        attributes = diff_values(before.body, after.body)
        if attributes:
            forced = () if address.startswith("data.") else forced_by(after.type, before.body, after.body)
            changes.append(ResourceChange(name, address, after.type, "replace" if forced else "update", before.body,
                                          after.body, after.path or before.path, attributes,
                                          reason=_forced_reason(forced, after.body), forced_by=forced,
                                          create_first=bool(forced) and created_first(address, new)))
    for previous, address in sorted(moved.items()):
        before, after = removed[previous], added[address]
        changes.append(ResourceChange(name, address, after.type, "move", before.body, after.body, after.path,
                                      diff_values(before.body, after.body), previous_address=previous,
                                      reason=f"moved from `{previous}` (a `moved` block: no replace)"))
    for previous, address in sorted(renames.items()):
        before, after = removed[previous], added[address]
        changes.append(ResourceChange(name, address, after.type, "replace", before.body, after.body, after.path,
                                      previous_address=previous, renamed=True,
                                      reason=f"renamed from `{previous}`" + (
                                          f" (construct path `{before.path}`)" if before.path != after.path else "")))
    for address, resource in sorted(added.items()):
        if address not in renames.values() and address not in moved.values():
            changes.append(ResourceChange(name, address, resource.type, "create", after=resource.body,
                                          construct_path=resource.path))
    for address, resource in sorted(removed.items()):
        if address not in renames and address not in moved:
            changes.append(ResourceChange(name, address, resource.type, "delete", before=resource.body,
                                          construct_path=resource.path))
    changes += _output_changes(name, base, head)
    changes += _settings_changes(name, base, head)
    return StackDiff(name, "changed" if changes else "unchanged", changes, len(new))


def forced_by(resource_type: str, before: dict, after: dict) -> tuple[str, ...]:
    """The changed arguments that make the provider replace the resource (tools/tfdouble/force_new.py).

    Configuration only: references are compared as text, and a referenced resource that is
    itself replaced (its id unknown until apply) is not followed."""
    rules = force_new.rules_for(resource_type)
    if rules is None:
        return ()
    paths = [force_new.path_text(p) for p in force_new.replace_paths(rules, before, after)]
    return tuple("labels (through effective_labels)" if p == "effective_labels" else p for p in paths)


def _lifecycle(body: dict, key: str) -> bool:
    lifecycle = body.get("lifecycle") if isinstance(body, dict) else None
    return isinstance(lifecycle, dict) and lifecycle.get(key) is True


def created_first(address: str, resources: dict[str, _Resource]) -> bool:
    """Whether Terraform replaces `address` create-before-destroy: its own lifecycle says so, or a
    resource that depends on it (through references or depends_on, transitively) does -
    Terraform propagates create_before_destroy to every dependency."""
    texts = {a: json.dumps(r.body) for a, r in resources.items()}
    seen, pending = {address}, [address]
    while pending:
        current = pending.pop()
        if _lifecycle(resources[current].body, "create_before_destroy"):
            return True
        reference = re.compile(rf"(?<![\w.-]){re.escape(current)}(?![\w-])")
        for other, text in texts.items():
            if other not in seen and reference.search(text):
                seen.add(other)
                pending.append(other)
    return False


def _forced_reason(forced: tuple[str, ...], body: dict) -> str | None:
    if not forced:
        return None
    reason = "forced by " + ", ".join(forced)
    if _lifecycle(body, "prevent_destroy"):
        reason += "; lifecycle.prevent_destroy is set, so Terraform will refuse to plan it"
    return reason


def _output_changes(stack: str, base: dict, head: dict) -> list[ResourceChange]:
    old, new = base.get("output") or {}, head.get("output") or {}
    changes = []
    for output in sorted(set(old) | set(new)):
        before, after = old.get(output), new.get(output)
        if before == after:
            continue
        sensitive = any(isinstance(b, dict) and b.get("sensitive") is True for b in (before, after))
        attributes = diff_values(before, after)
        if sensitive:
            attributes = [_mask(a) if a.path == "value" or a.path.startswith(("value.", "value[")) else a
                          for a in attributes]
        action = "create" if before is None else "delete" if after is None else "update"
        changes.append(ResourceChange(stack, f"output.{output}", "output", action, None, None, None, attributes,
                                      reason="sensitive" if sensitive else None))
    return changes


def _mask(attribute):
    return type(attribute)(attribute.path, None if attribute.old is None else MASK,
                           None if attribute.new is None else MASK, True)


def _settings_changes(stack: str, base: dict, head: dict) -> list[ResourceChange]:
    changes = []
    for key in sorted((set(base) | set(head)) - NOT_SETTINGS):
        attributes = diff_values(base.get(key), head.get(key))
        if attributes:
            action = "create" if key not in base else "delete" if key not in head else "update"
            changes.append(ResourceChange(stack, key, key, action, base.get(key), head.get(key), None, attributes))
    return changes


def diff_trees(base: dict[str, dict], head: dict[str, dict]) -> SynthDiff:
    """Diff every stack present on either side; stacks sorted by name."""
    stacks = [diff_stack(name, base.get(name), head.get(name)) for name in sorted(set(base) | set(head))]
    changes = [c for s in stacks for c in s.changes]
    return SynthDiff(stacks, fold(risk.assess_all(changes), changes))


def diff_dirs(base: Path | str, head: Path | str) -> SynthDiff:
    """:func:`diff_trees` of two cdktf output dirs (raises ReviewInputError on bad input)."""
    return diff_trees(load_tree(base), load_tree(head))
