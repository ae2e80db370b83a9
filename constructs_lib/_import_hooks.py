"""The one import hook of the fast paths that adjust a module right after it is imported.

``PatchAfterImport(key, wanted, patch)`` finds the modules ``wanted(name)`` selects through the
standard path finder and wraps their loader so that ``patch(module)`` runs right after the
module's code; ``module`` is the namespace that code ran in, even when the module put another
object in ``sys.modules`` (jsii's ``publication.publish()`` does). ``install`` puts a hook at
the front of ``sys.meta_path`` unless one with the same key is there. Users:
``_node_runtime`` (jsii's process module, once) and ``_type_hints`` (every binding module).
"""

from __future__ import annotations

import importlib.machinery
import sys
from types import ModuleType
from typing import Any, Callable, Sequence


class PatchAfterImport:
    """A ``sys.meta_path`` finder that patches the modules it selects once they have run."""

    def __init__(self, key: str, wanted: Callable[[str], bool], patch: Callable[[ModuleType], object],
                 *, once: bool = False) -> None:
        self.key = key
        self.wanted = wanted
        self.patch = patch
        self.once = once  # leave sys.meta_path at the first module found

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None) -> Any:
        if not self.wanted(fullname):
            return None
        if self.once:
            sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_patch(module: ModuleType) -> None:
            exec_module(module)
            self.patch(module)

        spec.loader.exec_module = exec_and_patch  # type: ignore[method-assign]
        return spec


def install(hook: PatchAfterImport) -> None:
    """Put `hook` first on ``sys.meta_path`` unless a hook with its key is there already."""
    if not any(getattr(finder, "key", None) == hook.key for finder in sys.meta_path):
        sys.meta_path.insert(0, hook)
