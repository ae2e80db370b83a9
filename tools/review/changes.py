"""The change model shared by synth-diff and plan-report: resource changes, attribute diffs, masking.

Both reports turn their input (two synthesized trees, or ``terraform show -json`` plans) into
:class:`ResourceChange` objects; the risk table (:mod:`tools.review.risk`) and the Markdown
renderer (:mod:`tools.review.markdown`) only ever see this model.

Sensitive values are never rendered: an attribute is masked when any segment of its path is
named like a secret (:data:`SENSITIVE_NAME`; names of secrets such as ``secret_id`` are shown),
or when the plan marks it sensitive
(``before_sensitive`` / ``after_sensitive``), or when it is a sensitive output.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterator

#: Attribute names whose values are never shown (``secret_data``, ``auth_string``, ``password``...).
SENSITIVE_NAME = re.compile(r"secret|password|passwd|auth_string|private_key|token|credential", re.IGNORECASE)
#: ... except names that hold the *name* of a secret, not its value (``secret_id``, ``secret_name``).
SECRET_NAME = re.compile(r"(?:[a-z0-9_]*_)?secret_(?:id|name)s?", re.IGNORECASE)

#: Action names, in report order. ``replace`` = destroy + create (either order).
ACTIONS = ("create", "update", "replace", "delete")

MASK = "(sensitive)"
MAX_VALUE_CHARS = 160


class _Unknown:
    """A value Terraform knows only after apply."""

    def __repr__(self) -> str:
        return "(known after apply)"


UNKNOWN = _Unknown()

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class AttributeChange:
    """One changed leaf (or list/block) of a resource: path, old and new value, masked or not."""

    path: str
    old: Any
    new: Any
    sensitive: bool = False


@dataclass
class ResourceChange:
    """One resource (or data source, output-like block) that a review shows.

    `action` is one of :data:`ACTIONS`. `before` / `after` are the attribute values (``None`` for
    a create / delete); `attributes` lists what differs (updates and replaces). `construct_path`
    is the cdktf construct path without the stack prefix (``network/default``) when known.
    `previous_address` and `renamed` mark a logical-id rename that Terraform sees as a replace.
    A replace forced by the provider names the arguments in `forced_by`; `create_first` says the
    new object is created before the old one is destroyed (``create_before_destroy``).
    """

    stack: str
    address: str
    type: str
    action: str
    before: Any = None
    after: Any = None
    construct_path: str | None = None
    attributes: list[AttributeChange] = field(default_factory=list)
    previous_address: str | None = None
    renamed: bool = False
    reason: str | None = None
    forced_by: tuple[str, ...] = ()
    create_first: bool = False

    @property
    def order(self) -> str:
        """``delete, create`` or ``create, delete`` for a replace (Terraform's action order), else ""."""
        if self.action != "replace":
            return ""
        return "create, delete" if self.create_first else "delete, create"


def path_text(path: Path) -> str:
    """``("autoscaling_policy", 0, "min_replicas")`` -> ``autoscaling_policy[0].min_replicas``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", part):
            text += ("." if text else "") + part
        else:
            text += f"[{json.dumps(part)}]"
    return text


def sensitive_name(name: str) -> bool:
    """True for attribute names whose value is a secret (``secret_data``), not for ``secret_id``."""
    return bool(SENSITIVE_NAME.search(name)) and not SECRET_NAME.fullmatch(name)


def name_is_sensitive(path: Path) -> bool:
    return any(isinstance(p, str) and sensitive_name(p) for p in path)


def marked_sensitive(marks: Any, path: Path) -> bool:
    """True if a plan's ``*_sensitive`` tree marks `path` (or one of its parents) sensitive."""
    return _sub_marks(marks, path) is True


def _sub_marks(marks: Any, path: Path) -> Any:
    node = marks
    for part in path:
        if node is True:
            return True
        if isinstance(node, dict) and isinstance(part, str):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return None
    return node


def redact(value: Any, marks: Any = None) -> Any:
    """Copy of `value` with sensitive parts (by name or by plan marks) replaced by the mask."""
    if marks is True:
        return MASK
    if isinstance(value, dict):
        return {k: MASK if sensitive_name(k) else
                redact(v, marks.get(k) if isinstance(marks, dict) else None) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, marks[i] if isinstance(marks, list) and i < len(marks) else None)
                for i, v in enumerate(value)]
    return value


def with_unknowns(value: Any, unknown: Any) -> Any:
    """Plan ``after`` with :data:`UNKNOWN` wherever ``after_unknown`` says so."""
    if unknown is True:
        return UNKNOWN
    if isinstance(unknown, dict):
        base = dict(value) if isinstance(value, dict) else {}
        for key, sub in unknown.items():
            base[key] = with_unknowns(base.get(key), sub)
        return base
    if isinstance(unknown, list) and isinstance(value, list):
        return [with_unknowns(v, unknown[i] if i < len(unknown) else None) for i, v in enumerate(value)]
    return value


def _blank(value: Any) -> bool:
    return value is None or value == [] or value == {}


def _walk_diff(old: Any, new: Any, path: Path) -> Iterator[tuple[Path, Any, Any]]:
    if old == new or (_blank(old) and _blank(new)):
        return
    if old is None:  # a block or map that appears: show its leaves
        old = {} if isinstance(new, dict) else [] if isinstance(new, list) else None
    if new is None:
        new = {} if isinstance(old, dict) else [] if isinstance(old, list) else None
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            yield from _walk_diff(old.get(key), new.get(key), path + (key,))
        return
    if (isinstance(old, list) and isinstance(new, list)
            and any(isinstance(v, (dict, list)) for v in old + new)):
        for i in range(max(len(old), len(new))):
            yield from _walk_diff(old[i] if i < len(old) else None, new[i] if i < len(new) else None, path + (i,))
        return
    yield path, old, new


def diff_values(before: Any, after: Any, *, before_marks: Any = None, after_marks: Any = None,
                sensitive: bool = False) -> list[AttributeChange]:
    """What differs between two attribute trees, leaf by leaf (scalar lists as one value).

    ``None``, ``[]`` and ``{}`` count as the same (Terraform plans an unset block either way).
    `sensitive` masks everything (a sensitive output).
    """
    changes = []
    for path, old, new in _walk_diff(before, after, ()):
        masked = (sensitive or name_is_sensitive(path) or marked_sensitive(before_marks, path)
                  or marked_sensitive(after_marks, path))
        if masked:
            changes.append(AttributeChange(path_text(path), None if old is None else MASK,
                                           None if new is None else MASK, True))
        else:
            changes.append(AttributeChange(path_text(path), redact(old, _sub_marks(before_marks, path)),
                                           redact(new, _sub_marks(after_marks, path))))
    return changes


def leaves(value: Any, *, marks: Any = None, sensitive: bool = False) -> list[AttributeChange]:
    """The set (non-blank, known) leaves of a created resource, as ``None -> value`` changes."""
    return [c for c in diff_values(None, value, after_marks=marks, sensitive=sensitive) if c.new is not UNKNOWN]


def get_path(value: Any, *path: str | int) -> Any:
    """``get_path(after, "autoscaling_policy", 0, "min_replicas")`` or None if any step is missing.

    A plan holds a nested block as a list (``"autoscaling_policy": [{...}]``), the synthesized
    JSON a single block as an object (``"autoscaling_policy": {...}``): index 0 of an object is
    the object, so one path reads both."""
    node = value
    for part in path:
        if isinstance(node, dict) and isinstance(part, str):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        elif isinstance(node, dict) and part == 0:
            continue
        else:
            return None
    return node


class ReviewInputError(Exception):
    """Input that cannot be reviewed (missing, not JSON, not a plan / cdktf output); one line."""
