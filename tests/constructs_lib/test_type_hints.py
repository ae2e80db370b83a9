"""constructs_lib._type_hints: jsii's argument checks read remembered type hints, and still check."""

from __future__ import annotations

import os
import subprocess
import sys
import typing
from pathlib import Path

import cdktf
import constructs
import pytest

from constructs_lib import _type_hints
from constructs_lib._google import compute_network
from constructs_lib._jsii_pins import NAIVE_ENV

ROOT = Path(__file__).resolve().parents[2]


def test_every_binding_module_imported_so_far_runs_with_the_remembering_typing():
    bindings = [name for name, module in sys.modules.items() if module is not None and _type_hints._is_binding(name)]

    assert {"cdktf", "constructs", compute_network.__name__} <= set(bindings)
    assert [name for name in bindings
            if _type_hints.module_globals(sys.modules[name]).get("typing") is typing] == []
    assert _type_hints.module_globals(cdktf)["typing"] is _type_hints.REMEMBERING_TYPING
    assert compute_network.ComputeNetwork.__init__.__globals__["typing"] is _type_hints.REMEMBERING_TYPING


def test_a_stubs_hints_are_computed_once_and_the_check_still_fails_on_a_wrong_type(stack):
    compute_network.ComputeNetwork(stack, "first", name="vpc")
    stubs = [stub for stub in _type_hints._HINTS if stub.__module__ == compute_network.__name__]
    remembered = {stub: _type_hints._HINTS[stub] for stub in stubs}

    compute_network.ComputeNetwork(stack, "second", name="vpc-2")

    assert stubs and all(_type_hints.get_type_hints(stub) is hints for stub, hints in remembered.items())
    with pytest.raises(TypeError, match="type of argument name must be str; got int instead"):
        compute_network.ComputeNetwork(stack, "third", name=123)


def test_other_functions_get_the_standard_answer():
    def annotated(x: "int", y: constructs.Construct) -> "str":
        return str(x)

    assert _type_hints.get_type_hints(annotated) == typing.get_type_hints(annotated)
    assert annotated not in _type_hints._HINTS
    assert _type_hints.REMEMBERING_TYPING.Optional is typing.Optional


@pytest.mark.parametrize(("environ", "reason"), [
    ({}, None),
    ({NAIVE_ENV: "1"}, f"{NAIVE_ENV}=1 (the plain CDKTF baseline)"),
    ({_type_hints.SWITCH_ENV: "0"}, f"{_type_hints.SWITCH_ENV}=0"),
    ({_type_hints.SWITCH_ENV: "1"}, None),
])
def test_switches(environ, reason):
    assert _type_hints.skip_reason(environ) == reason


PROBE = (
    "import cdktf, typing\n"
    "import constructs_lib\n"  # after cdktf: modules imported before are patched too
    "from constructs_lib import _type_hints\n"
    "print(_type_hints.module_globals(cdktf)['typing'] is _type_hints.REMEMBERING_TYPING)\n"
)


@pytest.mark.slow
@pytest.mark.parametrize(("switch", "patched"), [("1", "True"), ("0", "False")])
def test_cdktf_imported_first_is_patched_and_the_switch_turns_it_off(switch, patched):
    environ = {**os.environ, _type_hints.SWITCH_ENV: switch, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == patched
