"""cty values <-> Python, via cty's msgpack encoding (the tfplugin6 `DynamicValue.msgpack` field).

The encoding (github.com/zclconf/go-cty/cty/msgpack) maps naturally onto msgpack-python:

* null -> nil; string -> str; bool -> bool; number -> int/float (or a decimal string when huge);
* list, set, tuple -> array; map, object -> map (object keys are attribute names);
* unknown -> extension type 0 (Terraform >= 1.3 may also send "refined" unknowns as extension
  type 12 carrying range/prefix hints);
* a value of type "dynamic" (cty.DynamicPseudoType) -> 2-element array [type JSON bytes, value].

Python representation used by the double: plain dict/list/str/int/float/bool/None, unknowns as
:class:`Unknown`. Dynamic-typed values stay in their raw [type JSON, value] form, so they round-trip
byte-for-byte. Decoding needs no schema; producing *new* values (fake apply results) does, via the
JSON type expressions from the schema ("string", ["list", "string"], ["object", {...}], ...).
"""

from __future__ import annotations

from typing import Any

import msgpack

#: msgpack extension type codes used by cty for unknown values.
UNKNOWN_EXT = 0
REFINED_UNKNOWN_EXT = 12


class Unknown:
    """A cty unknown value. `ext` keeps the original extension (refinements) for round-tripping."""

    __slots__ = ("ext",)

    def __init__(self, ext: msgpack.ExtType | None = None):
        self.ext = ext

    def __repr__(self) -> str:
        return "Unknown()"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Unknown)

    def __hash__(self) -> int:
        return 0


UNKNOWN = Unknown()
# cty writes a plain unknown as fixext1 type 0 with a zero byte (d4 00 00).
_PLAIN_UNKNOWN = msgpack.ExtType(UNKNOWN_EXT, b"\x00")


def _ext_hook(code: int, data: bytes) -> Any:
    if code in (UNKNOWN_EXT, REFINED_UNKNOWN_EXT):
        return Unknown(msgpack.ExtType(code, data))
    return msgpack.ExtType(code, data)


def _default(obj: Any) -> Any:
    if isinstance(obj, Unknown):
        return obj.ext or _PLAIN_UNKNOWN
    if isinstance(obj, (tuple, frozenset, set)):
        return list(obj)
    raise TypeError(f"cannot encode {type(obj).__name__} as cty msgpack")


def decode(data: bytes) -> Any:
    """Decode a DynamicValue.msgpack payload (empty bytes decode to None)."""
    if not data:
        return None
    return msgpack.unpackb(data, raw=False, ext_hook=_ext_hook, strict_map_key=False)


def encode(value: Any) -> bytes:
    """Encode a Python value (see module doc) as cty msgpack."""
    return msgpack.packb(value, use_bin_type=True, default=_default)


def is_known(value: Any) -> bool:
    """True unless `value` is, or contains, an Unknown."""
    if isinstance(value, Unknown):
        return False
    if isinstance(value, dict):
        return all(is_known(v) for v in value.values())
    if isinstance(value, list):
        return all(is_known(v) for v in value)
    return True


def zero_value(ty: Any, path: tuple, make_string, depth: int = 0) -> Any:
    """A known, non-null value of JSON type expression `ty` at attribute `path`.

    Strings come from `make_string(path)`; numbers are 0, bools False, lists/sets get one
    element (so `x[0].attr` / `names[0]` references resolve at apply), maps are empty, objects have every attribute filled. "dynamic" becomes null (valid for any
    type). `depth` guards against pathological nesting.
    """
    if ty == "string":
        return make_string(path)
    if ty == "number":
        return 0
    if ty == "bool":
        return False
    if ty == "dynamic" or depth > 8:
        return None
    kind = ty[0]
    if kind in ("list", "set"):
        return [zero_value(ty[1], path, make_string, depth + 1)]
    if kind == "map":
        return {}
    if kind == "object":
        return {name: zero_value(aty, path + (name,), make_string, depth + 1) for name, aty in ty[1].items()}
    if kind == "tuple":
        return [zero_value(ety, path + (str(i),), make_string, depth + 1) for i, ety in enumerate(ty[1])]
    raise ValueError(f"unsupported cty type {ty!r}")
