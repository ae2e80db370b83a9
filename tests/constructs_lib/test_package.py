import subprocess
import sys
from pathlib import Path

import pytest

import constructs_lib

ROOT = Path(__file__).resolve().parents[2]


def test_every_exported_name_resolves():
    for name in constructs_lib.__all__:
        assert getattr(constructs_lib, name).__name__ == name


def test_every_spec_model_is_exported():
    from constructs_lib import specs

    assert set(specs.__all__) <= set(constructs_lib.__all__)


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        constructs_lib.Nope  # noqa: B018


@pytest.mark.slow
@pytest.mark.parametrize("first", ["import cdktf", "import constructs_lib", "from constructs_lib.app import App"])
def test_node_banner_stays_silent_whatever_the_import_order(first: str):
    """jsii prints Node 20's end-of-life banner when its runtime starts unless told not to; the
    project's venv tells it before any import (a .pth file the Makefile installs)."""
    environ = {k: v for k, v in __import__("os").environ.items() if not k.startswith("JSII_SILENCE")}
    code = f"{first}\nfrom constructs_lib.app import App, TerraformStack\nTerraformStack(App(), 'x')\n"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "end-of-life" not in result.stderr and "not supported" not in result.stderr, result.stderr
