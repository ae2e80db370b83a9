"""The only module that imports the prebuilt hashicorp/kubernetes bindings.

Construct modules write ``from constructs_lib._kubernetes import deployment_v1`` and get the
binding submodule ``cdktf_cdktf_provider_kubernetes.deployment_v1`` (the same contract as
``constructs_lib._google``: ``PACKAGE``, ``submodule(name)`` and module attribute access). The
bindings are imported the normal way; only the GKE variant needs them, and only when used.
"""

from __future__ import annotations

from constructs_lib._bindings import submodule_access

PACKAGE = "cdktf_cdktf_provider_kubernetes"


submodule, __getattr__ = submodule_access(PACKAGE)
