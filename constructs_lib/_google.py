"""The only module that imports the prebuilt hashicorp/google bindings.

Construct modules write ``from constructs_lib._google import compute_network`` and get the
binding submodule ``cdktf_cdktf_provider_google.compute_network``. Keeping every import of
the bindings behind this module lets the library choose *how* they are loaded: importing this
module installs the lazy loader of ``constructs_lib._fastimport`` (only the submodules a stack
uses are loaded, on the Python and the Node side: a synth takes seconds instead of ~15 s and
~0.1 GB instead of ~0.5 GB). With other jsii/provider versions than it was written for, it falls
back to the normal import with a warning; ``ML_SERVING_NAIVE_IMPORT=1`` forces the normal import.
"""

from __future__ import annotations

from constructs_lib._bindings import import_point
from constructs_lib._fastimport import Bindings, LoadReport

BINDINGS = Bindings.prebuilt("google", "16.12.1")  # = hashicorp/google 6.50.0; the pin in requirements.txt
"""The prebuilt google provider and the version the fast path was verified with."""

PACKAGE = BINDINGS.package

LOAD_REPORT: LoadReport
"""How the bindings were loaded in this process (``mode``: fast / naive / fallback / preloaded)."""
LOAD_REPORT, submodule, __getattr__ = import_point(BINDINGS)
