"""What the fast paths that lean on private jsii details (``_fastimport``, ``_node_runtime``)
check before they run, in a module that imports nothing: the jsii version they were verified
with, the switch back to a plain CDKTF run, and how their environment switches read."""

from __future__ import annotations

from typing import Mapping

JSII_VERSION = "1.142.0"
"""The jsii runtime whose private details (type registry, package cache, kernel process) the fast paths were verified against."""

NAIVE_ENV = "ML_SERVING_NAIVE_IMPORT"
"""Set to 1 for a plain CDKTF run: whole provider packages imported, jsii's kernel started as shipped (benchmarks, equivalence tests)."""


def switched_on(environ: Mapping[str, str], name: str) -> bool:
    """Whether a switch that is off by default is on: ``name`` set to anything but empty or 0
    (``ML_SERVING_NAIVE_IMPORT=1``)."""
    return environ.get(name, "") not in ("", "0")


def switched_off(environ: Mapping[str, str], name: str) -> bool:
    """Whether a fast path that is on by default is turned off: ``name`` set to 0, false or no
    (``ML_SERVING_DIRECT_NODE=0``, ``ML_SERVING_LAZY_NODE=0``)."""
    return environ.get(name, "1") in ("0", "false", "no")


def naive_reason(environ: Mapping[str, str]) -> str | None:
    """``"ML_SERVING_NAIVE_IMPORT=1 (the plain CDKTF baseline)"`` when that run is asked for (every
    fast path then stands aside), else None."""
    return f"{NAIVE_ENV}={environ[NAIVE_ENV]} (the plain CDKTF baseline)" if switched_on(environ, NAIVE_ENV) else None


def off_reason(environ: Mapping[str, str], name: str) -> str | None:
    """``"<name>=<value>"`` when the fast path switch ``name`` is turned off, else None."""
    return f"{name}={environ[name]}" if switched_off(environ, name) else None
