"""What the import-point modules ``_google`` and ``_kubernetes`` share: loading a prebuilt
provider package through ``constructs_lib._fastimport`` and attribute access to its submodules
(``from constructs_lib._google import compute_network`` returns
``cdktf_cdktf_provider_google.compute_network``; a missing one is an AttributeError)."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Callable

from constructs_lib._fastimport import Bindings, LoadReport, load_bindings


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


def import_point(
    bindings: Bindings,
) -> tuple[LoadReport, Callable[[str], ModuleType], Callable[[str], ModuleType]]:
    """``(LOAD_REPORT, submodule, __getattr__)`` of an import-point module: loads ``bindings``
    (lazily when the versions are the verified ones, see ``load_bindings``) and gives access to
    their submodules."""
    return (load_bindings(bindings), *submodule_access(bindings.package))
