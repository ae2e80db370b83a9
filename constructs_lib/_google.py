"""The only module that imports the prebuilt hashicorp/google bindings.

Construct modules write ``from constructs_lib._google import compute_network`` and get the
binding submodule ``cdktf_cdktf_provider_google.compute_network``. Keeping every import of
the bindings behind this module lets the library choose *how* they are loaded (the package
costs ~12 s and ~0.5 GB to import eagerly) without touching the constructs.
"""

from __future__ import annotations

import importlib
from types import ModuleType

PACKAGE = "cdktf_cdktf_provider_google"


def submodule(name: str) -> ModuleType:
    """The bindings submodule ``name`` (``compute_network``, ``provider``...)."""
    return importlib.import_module(f"{PACKAGE}.{name}")


def __getattr__(name: str) -> ModuleType:
    if name.startswith("__"):
        raise AttributeError(name)
    try:
        return submodule(name)
    except ModuleNotFoundError as error:
        if error.name == f"{PACKAGE}.{name}":
            raise AttributeError(f"{PACKAGE} has no submodule {name!r}") from None
        raise
