"""Attribute access to a prebuilt provider package's submodules, shared by ``_google`` and
``_kubernetes``: ``from constructs_lib._google import compute_network`` returns
``cdktf_cdktf_provider_google.compute_network`` and a missing one is an AttributeError."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Callable


def submodule_access(package: str) -> tuple[Callable[[str], ModuleType], Callable[[str], ModuleType]]:
    """``(submodule, __getattr__)`` for a module that re-exports ``package``'s submodules."""

    def submodule(name: str) -> ModuleType:
        """The bindings submodule ``name`` (``compute_network``, ``provider``...)."""
        return importlib.import_module(f"{package}.{name}")

    def getattr_(name: str) -> ModuleType:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return submodule(name)
        except ModuleNotFoundError as error:
            if error.name == f"{package}.{name}":
                raise AttributeError(f"{package} has no submodule {name!r}") from None
            raise

    return submodule, getattr_
