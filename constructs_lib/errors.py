"""One error type and one message format for every bad input.

Every rule the library enforces fails with a ``ConfigurationError`` whose message names the
field, the value and what is allowed, on one line, e.g.
``scaling.max_replicas = 2: must be >= min_replicas (4)``. pydantic validation errors are
turned into the same format by ``format_validation_error``, whether they come from an
environment file or from Python: every spec model derives from ``Spec``, whose constructor
raises ``SpecError`` (a ``ConfigurationError``) with that one line instead of pydantic's
multi-line text. Unknown keys get a "did you mean ..." when one allowed key is close.
"""

from __future__ import annotations

import difflib
from typing import Any, Callable, ClassVar, Iterable, TypeVar, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

T = TypeVar("T")


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


class SpecError(ConfigurationError):
    """A spec model built from Python with bad values: ``str(error)`` is the same one line an
    environment file gives (``ModelSpec: scaling.max_replicas = 2: must be >= ...``); ``field``,
    ``value`` and ``allowed`` describe the first problem."""

    def __init__(self, model: type[BaseModel], error: ValidationError) -> None:
        lines = describe_errors(error, model=model)
        first = error.errors(include_url=False)[0] if error.errors() else {}
        loc = _user_loc(model, tuple(first.get("loc", ())))
        cause = (first.get("ctx") or {}).get("error")
        if isinstance(cause, ConfigurationError):
            self.field, self.value, self.allowed = _join(loc, cause.field), cause.value, cause.allowed
        else:
            self.field = _loc_to_path(loc) or model.__name__
            self.value = first.get("input")
            self.allowed = lines[0].split(": ", 1)[-1] if lines else "invalid"
        ValueError.__init__(self, f"{model.__name__}: {'; '.join(lines)}")


class Spec(BaseModel):
    """Base of every spec model (``<Thing>Spec``): frozen, unknown keys rejected, and bad values
    from Python raise one-line ``SpecError`` instead of pydantic's multi-line ``ValidationError``.
    Environment files validate the same models through ``model_validate_json`` (same rules).
    ``moved_keys`` maps keys of an earlier shape to where their settings went: such a key is
    reported with that hint instead of "unknown key"."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    moved_keys: ClassVar[dict[str, str]] = {}

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as error:
            raise SpecError(type(self), error) from None

    # pydantic calls a custom __init__ for every nested model it validates; marked as the base
    # init it validates nested tables itself, so errors keep their full key path (a.b.c).
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]


def rule(check: Callable[[T, str], Any]) -> AfterValidator:
    """A pydantic field validator from a ``check(value, field)`` that raises ``ConfigurationError``:
    pydantic supplies the key path, the message is the rule's ``allowed`` text. The one adapter
    between the library's ``check_*`` functions and spec field types."""

    def validate(value: T) -> T:
        try:
            check(value, "value")
        except ConfigurationError as error:
            raise ValueError(error.allowed) from None
        return value

    return AfterValidator(validate)


def invalid(field: str, value: Any, allowed: str) -> ConfigurationError:
    """The error a pydantic validator raises for a rule on ``field`` (a path relative to the model
    it validates): pydantic wraps it, and ``describe_errors`` prefixes the model's own key path, so
    ``raise invalid("scaling.schedules", ...)`` in ``ModelSpec`` reads ``models[0].scaling.schedules = ...``."""
    return ConfigurationError(field, value, allowed)


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


def _user_loc(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """``loc`` without the tags pydantic inserts for discriminated unions
    (``backend.gcs.bucket`` -> ``backend.bucket``): users write the file's keys, not union tags."""
    cleaned: list[Any] = []
    current: Any = model
    union: Any = None
    skip_member = False
    for item in loc:
        if skip_member:
            # pydantic names the union member it tried (``str``, ``function-after[..., Spec]``).
            skip_member = False
            if isinstance(item, str) and item not in getattr(current, "model_fields", {}):
                continue
        if union is not None:
            member = _union_member(union, item)
            union = None
            if member is not None:
                current = member
                continue
        cleaned.append(item)
        fields = getattr(current, "model_fields", None)
        if isinstance(item, int) or not fields:
            continue
        info = fields.get(item)
        if info is None:
            current = None
            continue
        if info.discriminator is not None:
            union = (info.annotation, info.discriminator)
            current = None
        else:
            current = _model_in(info.annotation)
            if _is_plain_union(info.annotation):
                skip_member = True
    return tuple(cleaned)


def _is_plain_union(annotation: Any) -> bool:
    """``Spec | str`` style unions (not ``X | None``): their errors carry a member tag in ``loc``."""
    args = [a for a in (getattr(annotation, "__args__", ()) or ()) if a is not type(None)]
    origin = getattr(annotation, "__origin__", None)
    is_union = origin is Union or type(annotation).__name__ == "UnionType"
    return is_union and len(args) > 1


def _union_member_errors(error: ValidationError) -> set[int]:
    """Indexes of errors from a union member that does not fit the input's kind (a ``str``
    member tried on a table): the member that fits explains the mistake better."""
    dropped = set()
    for index, item in enumerate(error.errors(include_url=False)):
        loc = tuple(item.get("loc", ()))
        scalar_tags = {"str", "int", "float", "bool"}
        if loc and str(loc[-1]) in scalar_tags and isinstance(item.get("input"), dict):
            dropped.add(index)
    return dropped


def _union_tags(model: type[BaseModel] | None, loc: tuple[Any, ...], discriminator: str) -> str | None:
    """``'local', 'gcs'``: the tags a discriminated union field at ``loc`` accepts."""
    current: Any = model
    for item in loc[:-1]:
        fields = getattr(current, "model_fields", None)
        if isinstance(item, int) or not fields or item not in fields:
            continue
        current = _model_in(fields[item].annotation)
    fields = getattr(current, "model_fields", None) or {}
    info = fields.get(loc[-1]) if loc else None
    if info is None:
        return None
    tags = []
    for member in getattr(info.annotation, "__args__", ()) or ():
        field = getattr(member, "model_fields", {}).get(discriminator)
        tags += [repr(tag) for tag in getattr(field.annotation, "__args__", ())] if field is not None else []
    return ", ".join(tags) or None


def _union_member(union: tuple[Any, str], tag: Any) -> type[BaseModel] | None:
    """The member of a discriminated union whose discriminator field accepts ``tag``."""
    annotation, discriminator = union
    for member in getattr(annotation, "__args__", ()) or ():
        field = getattr(member, "model_fields", {}).get(discriminator)
        if field is not None and tag in getattr(field.annotation, "__args__", ()):
            return member
    return None


def _allowed_keys(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> list[str] | None:
    """The keys a model accepts at ``loc`` (the parent of an unknown key), if it can be told."""
    current = _model_at(model, loc)
    fields = getattr(current, "model_fields", None)
    return sorted(fields) if fields else None


def _model_at(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> Any:
    """The model that validates the table at ``loc`` (None when it cannot be told)."""
    current: Any = model
    union: Any = None
    for item in loc:
        if union is not None:
            current, union = _union_member(union, item), None
            continue
        if isinstance(item, int) or current is None:
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or item not in fields:
            return None
        info = fields[item]
        if info.discriminator is not None:
            union = (info.annotation, info.discriminator)
        current = _model_in(info.annotation)
    return current


def _join(loc: tuple[Any, ...], field: str) -> str:
    """A rule's ``field`` (relative to the model or field that raised it) under pydantic's ``loc``:
    a field validator names its own field again (``env.PORT`` raised at ``models[0].env``)."""
    head = field.split(".", 1)[0].split("[", 1)[0]
    if loc and str(loc[-1]) == head:
        loc = loc[:-1]
    base = _loc_to_path(loc)
    if not base:
        return field
    return f"{base}{field}" if field.startswith("[") else f"{base}.{field}"


def _did_you_mean(key: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.7)
    return f"did you mean {close[0]!r}" if close else ""


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
    dropped = _union_member_errors(error)
    for index, item in enumerate(error.errors(include_url=False)):
        if index in dropped and len(dropped) < len(error.errors()):
            continue
        raw_loc = tuple(item.get("loc", ()))
        loc = _user_loc(model, raw_loc)
        # Errors raised inside a model validator carry no field location; the message names it.
        path = prefix + _loc_to_path(loc) if loc else prefix.rstrip(".")
        cause = (item.get("ctx") or {}).get("error")
        if isinstance(cause, ConfigurationError):
            lines.append(f"{prefix}{_join(loc, cause.field)} = {_show(cause.value)}: {cause.allowed}")
            continue
        message = str(item.get("msg", "invalid"))
        message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
        kind = item.get("type")
        if kind == "too_short" and any(
            len(other.get("loc", ())) > len(raw_loc) and tuple(other.get("loc", ()))[: len(raw_loc)] == raw_loc
            for other in error.errors(include_url=False)
        ):
            continue  # "at least 1 item ... not 0" only because an item failed: that item's error says it
        if kind == "union_tag_not_found":
            discriminator = str(item.get("ctx", {}).get("discriminator", "")).strip("'")
            tags = _union_tags(model, raw_loc, discriminator)
            lines.append(f"{path}.{discriminator}: required key is missing" + (f"; must be one of {tags}" if tags else ""))
            continue
        if kind == "union_tag_invalid":
            context = item.get("ctx", {})
            discriminator = str(context.get("discriminator", "")).strip("'")
            path = f"{path}.{discriminator}" if discriminator else path
            lines.append(f"{path} = {_show(context.get('tag'))}: must be one of {context.get('expected_tags')}")
            continue
        if kind == "extra_forbidden":
            allowed = _allowed_keys(model, raw_loc[:-1])
            key = str(raw_loc[-1]) if raw_loc else ""
            moved = getattr(_model_at(model, raw_loc[:-1]), "moved_keys", {}).get(key)
            if moved is not None:
                lines.append(f"{path} = {_show(item.get('input'))}: this key moved: {moved}")
                continue
            hint = _did_you_mean(key, allowed or [])
            message = "unknown key" + (f"; {hint}?" if hint else "")
            message += (" allowed" if hint else "; allowed") + f" keys: {', '.join(allowed)}" if allowed else ""
        elif kind == "missing":
            message = "required key is missing"
        value = item.get("input")
        if kind == "missing":
            lines.append(f"{path}: {message}")
        elif isinstance(value, dict):  # a table-level rule: its message names the keys
            lines.append(f"{path}: {message}" if path else message)
        else:
            lines.append(f"{path} = {_show(value)}: {message}")
    return lines


def format_validation_error(
    error: ValidationError, *, prefix: str = "", model: type[BaseModel] | None = None
) -> str:
    """All errors of a pydantic ``ValidationError`` joined into one line."""
    return "; ".join(describe_errors(error, prefix=prefix, model=model))

