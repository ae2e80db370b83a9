"""The only module that imports the prebuilt hashicorp/kubernetes bindings.

Construct modules write ``from constructs_lib._kubernetes import deployment_v1`` and get the
binding submodule ``cdktf_cdktf_provider_kubernetes.deployment_v1`` (the same contract as
``constructs_lib._google``: ``PACKAGE``, ``submodule(name)`` and module attribute access). The
bindings are imported the normal way; only the GKE variant needs them, and only when used.
"""

from __future__ import annotations

import importlib
from types import ModuleType

PACKAGE = "cdktf_cdktf_provider_kubernetes"


def submodule(name: str) -> ModuleType:
    """The bindings submodule ``name`` (``deployment_v1``, ``provider``...)."""
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
