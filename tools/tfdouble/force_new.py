"""Which changes replace a resource: the provider's ForceNew rules applied to old and new values.

The rules come from ``schemas/<provider>-<version>.force-new.json`` (see force_new_data.py for
google; hand-written for kubernetes). :func:`replace_paths` answers as the SDKv2 providers do in
PlanResourceChange (``RequiresReplace``):

* a force-new attribute whose value changes replaces the resource; a change to unknown counts
  ("known after apply" may differ); unset and the zero value (``""``, ``0``, ``false``, empty)
  are equal, as they are in SDKv2 state;
* a force-new *block* (or list/set of objects) replaces only when its number of elements
  changes; an edit inside an element replaces only through a force-new attribute inside it;
* paths go through list elements by index (``node_config[0].guest_accelerator``) and stop at
  sets (an element of a set has no stable key), as SDKv2's ``hcl2shim.RequiresReplace`` does;
* conditional rules (CustomizeDiff) that old and new values decide: ``labels`` (through
  ``effective_labels``), a Redis version downgrade, a size decrease, a flag turned off, an IP
  range that no longer covers the old one, a value cleared. Unknown new values decide nothing.

The same walk serves synthesized configuration (``synth-diff``: blocks are lists or objects,
references are compared as text) and the double's plan (cty values, sets known from the schema).
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any, Callable, Iterator

from . import catalog
from .cty import Unknown, is_known

Step = str | int
Path = tuple[Step, ...]


@dataclass(frozen=True)
class TypeRules:
    """One resource type's rules: dotted paths without indices (``node_config.guest_accelerator``)."""

    force_new: frozenset[str]
    blocks: frozenset[str]
    conditional: tuple[tuple[str, str], ...]
    undecided: tuple[str, ...]

    def children(self, dotted: str) -> tuple[str, ...]:
        """Names directly under `dotted` ("" = top level) that lead to a rule."""
        return _children(self).get(dotted, ())


@cache
def _children(rules: TypeRules) -> dict[str, tuple[str, ...]]:
    found: dict[str, set[str]] = {}
    for path in rules.force_new | {p for p, _ in rules.conditional}:
        parts = path.split(".")
        for i, part in enumerate(parts):
            found.setdefault(".".join(parts[:i]), set()).add(part)
    return {parent: tuple(sorted(names)) for parent, names in found.items()}


@cache
def load(provider: str) -> dict[str, TypeRules]:
    """Rules per resource type of `provider` ("google", "kubernetes"); empty if none are vendored."""
    try:
        document = json.loads(catalog.get(provider).force_new_file.read_text())
    except (KeyError, OSError):
        return {}
    return {name: TypeRules(frozenset(body["force_new"]), frozenset(body["blocks"]),
                            tuple((p, r) for p, r in body["conditional"]), tuple(body["undecided"]))
            for name, body in document["types"].items()}


def rules_for(type_name: str) -> TypeRules | None:
    """The rules of a resource type, found by its provider prefix (``google_``, ``kubernetes_``)."""
    return load(type_name.split("_", 1)[0]).get(type_name)


# ---------------------------------------------------------------------------------------------
# values


def _normal(value: Any) -> Any:
    """Comparable form: zero values and null are one value; numbers compare by value."""
    if value in (None, "", 0, False, [], {}) and not isinstance(value, Unknown):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in sorted(value.items()) if _normal(v) is not None} or None
    if isinstance(value, list):
        return [_normal(v) for v in value]
    return value


def differs(old: Any, new: Any) -> bool:
    """Whether a force-new attribute changes (SDKv2: a change to unknown counts)."""
    return not is_known(new) or _normal(old) != _normal(new)


def _version(value: Any) -> float | None:
    match = re.search(r"REDIS_(\d+)_(\d+)", value) if isinstance(value, str) else None
    return float(f"{match[1]}.{match[2]}") if match else None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _cidr_not_covering(old: Any, new: Any) -> bool:
    try:
        old_net, new_net = ipaddress.ip_network(old, strict=False), ipaddress.ip_network(new, strict=False)
    except (TypeError, ValueError):
        return False
    return old_net.version != new_net.version or not old_net.subnet_of(new_net)


#: Conditional rules: (old, new) -> replaces. Both values known; the provider's own conditions.
CONDITIONS: dict[str, Callable[[Any, Any], bool]] = {
    "labels": lambda old, new: differs(old, new),
    "version_decrease": lambda old, new: None not in (_version(old), _version(new)) and _version(new) < _version(old),
    "decrease": lambda old, new: None not in (_number(old), _number(new)) and _number(new) < _number(old),
    "true_to_false": lambda old, new: old is True and new is False,
    "cidr_not_covering": lambda old, new: _normal(old) != _normal(new) and _cidr_not_covering(old, new),
    "cleared": lambda old, new: bool(old) and not new,
}
#: Where a conditional rule's replacement shows (the real provider reports effective_labels).
REPORTED_AT = {"labels": "effective_labels"}


# ---------------------------------------------------------------------------------------------
# the walk


def _elements(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _get(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else None


def replace_paths(rules: TypeRules, old: Any, new: Any, *,
                  is_set: Callable[[str], bool] = lambda dotted: False) -> list[Path]:
    """Paths whose change replaces the resource (see module doc), sorted, without duplicates.

    `old`/`new` are objects (dicts); `is_set(dotted)` says whether a block or collection at a
    dotted path is a set (the double knows it from the schema; configuration lists are ordered).
    """
    found = set(_walk(rules, old, new, "", (), is_set))
    return sorted(found, key=lambda p: [str(s) for s in p])


def _walk(rules: TypeRules, old: Any, new: Any, dotted: str, steps: Path,
          is_set: Callable[[str], bool]) -> Iterator[Path]:
    conditional = dict(rules.conditional)
    for name in rules.children(dotted):
        path = f"{dotted}.{name}" if dotted else name
        before, after, here = _get(old, name), _get(new, name), steps + (name,)
        if path in rules.blocks:
            yield from _block(rules, path, before, after, here, is_set)
        elif path in rules.force_new and differs(before, after):
            yield here
        elif path not in rules.force_new and not isinstance(after, Unknown) and (before or after):
            # not force-new itself, but rules inside (a block the schema dump calls an attribute)
            yield from _block(rules, path, before, after, here, is_set)
        rule = conditional.get(path)
        if rule and is_known(after) and CONDITIONS[rule](before, after):
            yield (*steps, REPORTED_AT[rule]) if rule in REPORTED_AT else here


def _block(rules: TypeRules, path: str, before: Any, after: Any, here: Path,
           is_set: Callable[[str], bool]) -> Iterator[Path]:
    if isinstance(after, Unknown):
        if path in rules.force_new:
            yield here
        return
    old, new = _elements(before), _elements(after)
    if path in rules.force_new and len(old) != len(new):
        yield here
    if not rules.children(path):
        return
    if is_set(path):  # elements only in one side; a path into a set stops at the set
        for element in [e for e in old if e not in new] + [e for e in new if e not in old]:
            pair = (element, None) if element in old else (None, element)
            if any(_walk(rules, *pair, path, here, is_set)):
                yield here
                return
        return
    for i in range(max(len(old), len(new))):
        yield from _walk(rules, old[i] if i < len(old) else None, new[i] if i < len(new) else None,
                         path, here + (i,), is_set)


def schema_sets(block: tuple) -> Callable[[str], bool]:
    """`is_set` for :func:`replace_paths` from a compact schema block (schema.compact_block)."""

    def is_set(dotted: str) -> bool:
        node, ty, kind = block, None, None
        for part in dotted.split("."):
            if ty is None:
                attrs, blocks = node
                if part in blocks:
                    kind, _, _, node = blocks[part]
                    continue
                if part not in attrs:
                    return False
                ty = attrs[part][0]
            else:
                while isinstance(ty, list) and ty[0] in ("list", "set", "map"):
                    ty = ty[1]
                if not (isinstance(ty, list) and ty[0] == "object" and part in ty[1]):
                    return False
                ty = ty[1][part]
            kind = ty[0] if isinstance(ty, list) else ty
        return kind == "set"

    return is_set


def path_text(path: Path) -> str:
    """``("node_config", 0, "guest_accelerator")`` -> ``node_config[0].guest_accelerator``."""
    return "".join(f"[{s}]" if isinstance(s, int) else (f".{s}" if i else s) for i, s in enumerate(path))
