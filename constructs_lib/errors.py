"""One error type and one message format for every bad input.

Every rule the library enforces fails with a ``ConfigurationError`` whose message names the
field, the value and what is allowed, on one line, e.g.
``autoscaling.max_replicas = 2: must be >= min_replicas (4)``. pydantic validation errors
from spec models are turned into the same format by ``format_validation_error`` so that the
app can print one readable line instead of a traceback.
"""

from __future__ import annotations

from typing import Any, Iterable

from pydantic import BaseModel, ValidationError


class ConfigurationError(ValueError):
    """Bad input to a construct, a spec or an environment file.

    ``field`` is the dotted key path, ``value`` the offending value, ``allowed`` what would
    have been accepted. ``str(error)`` is the one-line message shown to users.
    """

    def __init__(self, field: str, value: Any, allowed: str) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        super().__init__(f"{field} = {_show(value)}: {allowed}")


def _show(value: Any) -> str:
    """Short, single-line repr of a value for error messages (long values are cut)."""
    text = repr(value)
    text = text.replace("\n", "\\n")
    return text if len(text) <= 80 else text[:77] + "..."


def _loc_to_path(loc: Iterable[Any]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts)


def _allowed_keys(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> list[str] | None:
    """The keys a model accepts at ``loc`` (the parent of an unknown key), if it can be told."""
    current: Any = model
    for item in loc:
        if isinstance(item, int) or current is None:
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or item not in fields:
            return None
        current = _model_in(fields[item].annotation)
    fields = getattr(current, "model_fields", None)
    return sorted(fields) if fields else None


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation such as ``Spec``, ``Spec | None``, ``tuple[Spec, ...]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def describe_errors(
    error: ValidationError, *, prefix: str = "", model: type[BaseModel] | None = None
) -> list[str]:
    """One line per pydantic error: ``<prefix><key path> = <value>: <what is allowed>``."""
    lines = []
    for item in error.errors(include_url=False):
        loc = tuple(item.get("loc", ()))
        # Errors raised inside a model validator carry no field location; the message names it.
        path = prefix + _loc_to_path(loc) if loc else prefix.rstrip(".")
        message = str(item.get("msg", "invalid"))
        message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
        kind = item.get("type")
        if kind == "extra_forbidden":
            allowed = _allowed_keys(model, loc[:-1])
            message = "unknown key" + (f"; allowed keys: {', '.join(allowed)}" if allowed else "")
        elif kind == "missing":
            message = "required key is missing"
        value = item.get("input")
        if kind == "missing":
            lines.append(f"{path}: {message}")
        elif not loc and isinstance(value, dict):
            lines.append(f"{path}: {message}" if path else message)
        else:
            lines.append(f"{path} = {_show(value)}: {message}")
    return lines


def format_validation_error(
    error: ValidationError, *, prefix: str = "", model: type[BaseModel] | None = None
) -> str:
    """All errors of a pydantic ``ValidationError`` joined into one line."""
    return "; ".join(describe_errors(error, prefix=prefix, model=model))

