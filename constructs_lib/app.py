"""cdktf's ``App`` and ``TerraformStack``, imported through the library so that its jsii setup
(no Node end-of-life banner) runs before cdktf starts Node: ``from constructs_lib.app import App,
TerraformStack``."""

from __future__ import annotations

import constructs_lib  # noqa: F401 - silences jsii's banner before cdktf starts its runtime

from cdktf import App, TerraformStack  # noqa: E402

__all__ = ["App", "TerraformStack"]
