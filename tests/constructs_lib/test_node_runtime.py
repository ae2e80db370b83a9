"""jsii's kernel started as one Node process, early (constructs_lib._node_runtime).

Each process test runs a fresh interpreter: which runtime jsii starts is decided once per process.
Byte-for-byte equality of what a synth writes with the kernel started as shipped is checked by
``test_fast_import`` (its naive runs start jsii as shipped); here: the process tree, the early
loads, the kernel's output streams, the switches back, and that no kernel outlives Python.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from constructs_lib import _node_runtime
from constructs_lib._jsii_pins import JSII_VERSION, switched_off, switched_on

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")

TREE = textwrap.dedent("""
    import json, os, sys
    {before}
    import cdktf
    app = cdktf.App(outdir=sys.argv[1])
    cdktf.TerraformStack(app, "probe")
    app.synth()
    me = os.getpid()
    def children(pid):
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = open(f"/proc/{{entry}}/stat").read().rsplit(")", 1)[1].split()
                    args = open(f"/proc/{{entry}}/cmdline").read().split("\\0")
                except OSError:
                    continue
                if int(stat[1]) == pid:
                    found.append({{"pid": int(entry), "args": [a for a in args if a]}})
        return found
    kids = [dict(kid, children=children(kid["pid"])) for kid in children(me)]
    print(json.dumps(kids))
""")


def _run(code: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("ML_SERVING_", "JSII_DEBUG", "JSII_RUNTIME"))}
    return subprocess.run([sys.executable, "-c", code, str(tmp_path / "out")], cwd=ROOT, env=environ | env,
                          capture_output=True, text=True, timeout=120)


def _node_children(result: subprocess.CompletedProcess[str]) -> list[dict]:
    assert result.returncode == 0, result.stderr
    return [kid for kid in json.loads(result.stdout.splitlines()[-1]) if "node" in os.path.basename(kid["args"][0])]


def test_jsii_kernel_is_one_node_process_running_the_kernel_program(tmp_path):
    kids = _node_children(_run(TREE.format(before="import constructs_lib"), tmp_path))
    assert len(kids) == 1, kids
    assert kids[0]["args"][-1].endswith("/lib/program.js") and kids[0]["children"] == []
    assert (tmp_path / "out" / "stacks" / "probe" / "cdk.tf.json").is_file()


@pytest.mark.parametrize("switch", [{"ML_SERVING_DIRECT_NODE": "0"}, {"ML_SERVING_NAIVE_IMPORT": "1"}])
def test_switching_back_starts_jsiis_wrapper_and_its_kernel(tmp_path, switch):
    kids = _node_children(_run(TREE.format(before="import constructs_lib"), tmp_path, **switch))
    assert len(kids) == 1 and kids[0]["args"][-1].endswith("jsii-runtime.js"), kids
    assert [grandchild["args"][-1].endswith("/lib/program.js") for grandchild in kids[0]["children"]] == [True]


def test_without_constructs_lib_jsii_runs_as_shipped(tmp_path):
    kids = _node_children(_run(TREE.format(before=""), tmp_path))
    assert len(kids) == 1 and kids[0]["args"][-1].endswith("jsii-runtime.js"), kids


def test_a_prestarted_kernel_is_taken_and_has_loaded_cdktf_before_jsii_asks(tmp_path):
    """The kernel's own stderr (JSII_DEBUG) reaches Python's stderr: it shows the early load of
    cdktf, then jsii's load of it finding it loaded (not a second load)."""
    before = "import constructs_lib\nfrom constructs_lib import _node_runtime\nassert _node_runtime.prestart()"
    result = _run(TREE.format(before=before), tmp_path, JSII_DEBUG="1")
    kids = _node_children(result)
    assert len(kids) == 1 and kids[0]["args"][-1].endswith("/lib/program.js"), kids
    lines = result.stderr.splitlines()
    requests = [json.loads(line[2:]) for line in lines if line.startswith("> {")]
    assert [r["name"] for r in requests if r.get("api") == "load"][:4] == ["constructs", "cdktf", "constructs", "cdktf"]
    # the early loads come first; jsii's own loads of the same two are answered from memory
    assert sum(line == "[@jsii/kernel] look up already-loaded assembly cdktf" for line in lines) == 1, result.stderr[-3000:]


def test_an_unused_prestarted_kernel_is_killed_at_exit(tmp_path):
    # a "node" that would outlive Python by 30 s if nothing killed it (a real kernel also exits
    # once its input closes, so it could not tell the kill from its own exit)
    stubborn = tmp_path / "stubborn-node"
    stubborn.write_text("#!/bin/sh\nexec sleep 30\n")
    stubborn.chmod(0o755)
    code = ("import constructs_lib\nfrom constructs_lib import _node_runtime\nassert _node_runtime.prestart()\n"
            "print(_node_runtime._prestarted.pid, flush=True)\nraise SystemExit(4)")
    result = _run(code, tmp_path, JSII_NODE=str(stubborn))
    assert result.returncode == 4 and result.stderr == ""
    pid = int(result.stdout)
    stat = Path(f"/proc/{pid}/stat")
    assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] in "ZX", "the kernel outlived Python"


def test_prestart_without_node_starts_nothing_and_jsii_reports_it_when_needed(tmp_path):
    code = ("import constructs_lib\nfrom constructs_lib import _node_runtime\nprint(_node_runtime.prestart())\n"
            "import cdktf")
    result = _run(code, tmp_path, JSII_NODE=str(tmp_path / "no-such-node"))
    assert result.stdout.strip() == "False"
    assert result.returncode == 1 and "FileNotFoundError" in result.stderr and "no-such-node" in result.stderr


def test_prestart_does_nothing_once_jsii_is_imported(tmp_path):
    code = ("import constructs_lib, jsii\nfrom constructs_lib import _node_runtime\n"
            "print(_node_runtime.prestart())")
    result = _run(code, tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == "False", result.stderr


@pytest.mark.parametrize(
    ("environ", "version", "platform", "reason"),
    [
        ({}, JSII_VERSION, "linux", None),
        ({"ML_SERVING_DIRECT_NODE": "0"}, JSII_VERSION, "linux", "ML_SERVING_DIRECT_NODE=0"),
        ({"ML_SERVING_NAIVE_IMPORT": "1"}, JSII_VERSION, "linux", "ML_SERVING_NAIVE_IMPORT=1 (the plain CDKTF baseline)"),
        ({"JSII_RUNTIME": "/opt/runtime.js"}, JSII_VERSION, "linux", "JSII_RUNTIME names another runtime"),
        ({}, JSII_VERSION, "win32", "not a POSIX system"),
        ({}, "1.99.0", "linux", f"jsii 1.99.0 is not {JSII_VERSION}, the version this was written for"),
        ({}, None, "linux", f"jsii None is not {JSII_VERSION}, the version this was written for"),
    ],
)
def test_skip_reason_names_why_jsii_runs_as_shipped(environ, version, platform, reason):
    assert _node_runtime.skip_reason(environ, version, platform) == reason


def test_the_installed_jsii_is_the_one_this_was_written_for():
    # the pin in requirements.txt and _jsii_pins move together; otherwise every run falls back
    assert _node_runtime.jsii_version() == JSII_VERSION
    assert _node_runtime._embedded_dir() is not None


@pytest.mark.parametrize(("value", "on", "off"), [
    (None, False, False), ("", False, False), ("0", False, True), ("1", True, False),
    ("false", True, True), ("no", True, True), ("yes", True, False),
])
def test_environment_switches_read_one_way_in_both_fast_paths(value, on, off):
    """``switched_on`` (off by default: ML_SERVING_NAIVE_IMPORT) and ``switched_off`` (a fast path
    on by default: ML_SERVING_DIRECT_NODE, ML_SERVING_LAZY_NODE), as _fastimport and _node_runtime read them."""
    environ = {} if value is None else {"SWITCH": value}
    assert (switched_on(environ, "SWITCH"), switched_off(environ, "SWITCH")) == (on, off)
