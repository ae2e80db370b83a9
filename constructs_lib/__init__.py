"""High-level CDKTF constructs for serving ML models on Google Cloud.

Importing the package silences jsii's Node.js end-of-life banner (users see our messages,
not jsii's) before cdktf starts its Node process.
"""

from __future__ import annotations

import os

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

from constructs_lib.errors import ConfigurationError  # noqa: E402
from constructs_lib.naming import Naming  # noqa: E402

__all__ = ["ConfigurationError", "Naming", "NetworkSpec", "ServingNetwork"]


def __getattr__(name: str):  # noqa: ANN202 - lazy re-exports keep `import constructs_lib` cheap
    if name in ("NetworkSpec", "ServingNetwork", "RouteSpec", "FlowLogsSpec"):
        from constructs_lib import network

        return getattr(network, name)
    raise AttributeError(name)
