"""The only module that imports the prebuilt hashicorp/kubernetes bindings.

Construct modules write ``from constructs_lib._kubernetes import deployment_v1`` and get the
binding submodule ``cdktf_cdktf_provider_kubernetes.deployment_v1`` (the same contract as
``constructs_lib._google``: ``BINDINGS``, ``PACKAGE``, ``LOAD_REPORT``, ``submodule(name)`` and
module attribute access). Importing this module installs the lazy loader of
``constructs_lib._fastimport`` for these bindings, exactly as ``_google`` does for google: only
the submodules a stack uses are loaded (eagerly the package costs ~2.5-4 s). Only the GKE variant
needs them, so only modules the GKE variant uses may import this one.
"""

from __future__ import annotations

from constructs_lib._bindings import import_point
from constructs_lib._fastimport import Bindings, LoadReport

BINDINGS = Bindings.prebuilt("kubernetes", "12.1.1")  # = hashicorp/kubernetes 2.38.0; the pin in requirements.txt
"""The prebuilt kubernetes provider and the version the fast path was verified with."""

PACKAGE = BINDINGS.package

LOAD_REPORT: LoadReport
"""How the bindings were loaded in this process (``mode``: fast / naive / fallback / preloaded)."""
LOAD_REPORT, submodule, __getattr__ = import_point(BINDINGS)
