"""Remembered type hints for jsii's argument checks in the cdktf, constructs and provider bindings.

Every jsii-generated method, constructor and property setter checks its arguments in Python
(typeguard) against the hints of a stub function, and computes those hints on every call:
``typing.get_type_hints(_typecheckingstub__<hash>)`` evaluates the stub's annotations again
each time, about a third of the Python time of a binding call. A stub's hints cannot change once
its module is loaded, so ``activate`` gives each binding module, right after it is imported, a
``typing`` of its own whose ``get_type_hints`` computes the hints of a stub once. The checks run
exactly as before; only their input is remembered (``get_type_hints`` of anything else is the
standard one). Off when ``ML_SERVING_NAIVE_IMPORT=1`` (the plain CDKTF baseline) or
``ML_SERVING_TYPE_HINT_CACHE=0``.
"""

from __future__ import annotations

import os
import sys
import typing
from types import ModuleType
from typing import Any, Callable, Mapping

from constructs_lib import _import_hooks
from constructs_lib._jsii_pins import naive_reason, off_reason

SWITCH_ENV = "ML_SERVING_TYPE_HINT_CACHE"
PACKAGES = ("cdktf", "constructs", "cdktf_cdktf_provider_google", "cdktf_cdktf_provider_kubernetes")
"""Top-level packages whose modules get the remembering ``typing`` (jsii-generated bindings)."""
STUB_PREFIX = "_typecheckingstub__"
"""How jsii-pacmak names the stub functions whose hints the argument checks read."""

_HINTS: dict[Callable[..., Any], dict[str, Any]] = {}


def get_type_hints(obj: Any, globalns: Any = None, localns: Any = None, include_extras: bool = False) -> dict[str, Any]:
    """``typing.get_type_hints``, computed once per jsii stub (the callers only read the dict)."""
    if globalns is None and localns is None and not include_extras and getattr(obj, "__name__", "").startswith(STUB_PREFIX):
        hints = _HINTS.get(obj)
        if hints is None:
            hints = _HINTS[obj] = typing.get_type_hints(obj)
        return hints
    return typing.get_type_hints(obj, globalns, localns, include_extras)


def _remembering_typing() -> ModuleType:
    module = ModuleType("typing", typing.__doc__)
    module.__dict__.update(typing.__dict__)  # a copy: attribute look-ups stay plain dict reads
    module.get_type_hints = get_type_hints  # type: ignore[attr-defined]
    return module


REMEMBERING_TYPING = _remembering_typing()


def _is_binding(name: str) -> bool:
    return name.split(".", 1)[0] in PACKAGES


def patch(namespace: dict[str, Any]) -> None:
    """Give one binding module's namespace the remembering ``typing`` (if it uses ``typing``)."""
    if namespace.get("typing") is typing:
        namespace["typing"] = REMEMBERING_TYPING


def module_globals(module: ModuleType) -> dict[str, Any]:
    """The namespace the module's functions run in. jsii modules end with
    ``publication.publish()``, which puts a module of the public names alone in ``sys.modules``;
    its classes' methods still run in the module's own namespace, found through them."""
    for value in list(module.__dict__.values()):
        if isinstance(value, type) and value.__module__ == module.__name__:
            for member in vars(value).values():
                function = getattr(member, "fget", member)
                if getattr(function, "__module__", None) == module.__name__ and hasattr(function, "__globals__"):
                    return function.__globals__
    return module.__dict__


def skip_reason(environ: Mapping[str, str]) -> str | None:
    """Why the binding modules keep the standard ``typing``, or None."""
    return naive_reason(environ) or off_reason(environ, SWITCH_ENV)


def activate(environ: Mapping[str, str] | None = None) -> bool:
    """Patch the binding modules imported so far and every one imported later (module doc);
    False when switched off."""
    if skip_reason(os.environ if environ is None else environ) is not None:
        return False
    for name, module in list(sys.modules.items()):
        if module is not None and _is_binding(name):
            patch(module_globals(module))
    _import_hooks.install(_import_hooks.PatchAfterImport("jsii-type-hints", _is_binding, lambda module: patch(module.__dict__)))
    return True
