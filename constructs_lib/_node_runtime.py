"""Start jsii's Node.js kernel as one process instead of two, and early.

jsii's Python client starts ``node bin/jsii-runtime.js``, a wrapper whose only job is to start a
second ``node lib/program.js`` (the kernel) and relay: its stdin to the kernel's fd 3 and back,
the kernel's stdout and stderr as base64 JSON lines on its own stderr. It does so on the first
jsii call, after the program's Python work, and then loads ``constructs`` and ``cdktf``
(~0.15 s, mostly requiring cdktf's JavaScript) while Python waits.

``activate()`` (run by ``import constructs_lib``, before anything starts Node) makes the client
start the kernel itself: ``node lib/program.js`` with one end of a socket pair as its fd 3 (the
jsii protocol, both directions, as the wrapper's pipe was), its stdout and stderr copied to
Python's ``sys.stdout`` / ``sys.stderr`` by two threads (where the wrapper's relay put them),
stdin from ``/dev/null`` (the wrapper's "ignore"). The kernel and the messages are the same;
only the process that relayed them is gone.

``prestart()`` (``main.py`` calls it before it validates the environment files) starts that
kernel at once and sends it the ``load`` requests of ``constructs`` and ``cdktf``: Node boots and
loads them while Python validates and imports. When jsii starts its kernel it takes this one,
reads the hello and those answers, and its own ``load`` of the two finds them loaded. A
prestarted kernel nobody took is killed at exit (a config error never waits for Node).

It leans on private jsii details (``_NodeProcess.start``/``stop``, the embedded file layout), so
it applies only with the jsii version it was written for (``_fastimport.JSII_VERSION``), on
POSIX, when ``JSII_RUNTIME`` does not name another runtime and the run is not the naive baseline
(``ML_SERVING_NAIVE_IMPORT=1``, a plain CDKTF run); ``ML_SERVING_DIRECT_NODE=0`` turns it off.
Otherwise jsii runs as shipped. A kernel already started the usual way is stopped the usual way.
"""

from __future__ import annotations

import atexit
import functools
import importlib.util
import json
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Mapping

from constructs_lib import _import_hooks
from constructs_lib._jsii_pins import JSII_VERSION, naive_reason, off_reason, switched_off

DIRECT_ENV = "ML_SERVING_DIRECT_NODE"
"""Set to 0 to let jsii start its wrapper process as shipped."""

PROCESS_MODULE = "jsii._kernel.providers.process"
"""The jsii module whose ``_NodeProcess`` starts and stops the kernel."""

KERNEL_FILES = {"lib__program.js": "lib/program.js", "lib__runtime-index-worker.js": "lib/runtime-index-worker.js"}
"""What the kernel needs of jsii's embedded files (resource -> path; not the wrapper, not the maps)."""

EARLY_ASSEMBLIES = ("constructs", "cdktf")
"""Python packages whose assemblies a prestarted kernel loads before jsii asks (dependencies first)."""

STOP_TIMEOUT = 5.0
"""Seconds to wait for the kernel to exit after ``{"exit":0}`` (jsii's own value) before SIGTERM."""

_prestarted: _Kernel | None = None


@functools.cache
def _package_dir(package: str) -> Path | None:
    """Where the installed ``package`` lives, found without importing it (looked up once)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def jsii_version() -> str | None:
    """The installed jsii's version, read without importing jsii (its import starts nothing, but costs)."""
    directory = _package_dir("jsii")
    if directory is None:
        return None
    try:
        return json.loads((directory / "_metadata.json").read_text())["version"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def skip_reason(environ: Mapping[str, str], version: str | None, platform: str = sys.platform) -> str | None:
    """Why the kernel must be started as jsii ships it, or None when it can be started directly."""
    switched = off_reason(environ, DIRECT_ENV) or naive_reason(environ)
    if switched:
        return switched
    if environ.get("JSII_RUNTIME"):
        return "JSII_RUNTIME names another runtime"
    if platform == "win32" or not hasattr(os, "posix_spawn"):
        return "not a POSIX system"
    if version != JSII_VERSION:
        return f"jsii {version} is not {JSII_VERSION}, the version this was written for"
    return None


def activate(environ: Mapping[str, str] | None = None) -> None:
    """Start the kernel directly once jsii is imported (now, if it is imported already and its
    kernel is not running yet). Cheap: imports nothing of jsii itself."""
    environ = os.environ if environ is None else environ
    if switched_off(environ, DIRECT_ENV):
        return
    module = sys.modules.get(PROCESS_MODULE)
    if module is not None:
        patch(module)
    else:
        _import_hooks.install(_import_hooks.PatchAfterImport("jsii-process", PROCESS_MODULE.__eq__, patch, once=True))


def prestart(environ: Mapping[str, str] | None = None) -> bool:
    """Start the kernel now and have it load ``EARLY_ASSEMBLIES`` while Python goes on; False
    (nothing started) when it cannot be started directly or jsii's kernel is running already."""
    global _prestarted
    environ = os.environ if environ is None else environ
    if _prestarted is not None or PROCESS_MODULE in sys.modules or skip_reason(environ, jsii_version()):
        return False
    embedded = _embedded_dir()
    if embedded is None:
        return False
    try:
        kernel = _spawn(embedded)
        for name, version, tarball in _early_assemblies():
            kernel.send_early({"api": "load", "name": name, "version": version, "tarball": tarball})
    except OSError:  # no node, or it died at once: jsii's own start reports it when a synth needs it
        return False
    _prestarted = kernel
    activate(environ)
    atexit.register(_discard_prestarted)
    return True


def patch(process_module: ModuleType, environ: Mapping[str, str] | None = None) -> bool:
    """Make ``process_module._NodeProcess`` start the kernel directly; False (nothing changed)
    when ``skip_reason`` says it must not or the embedded files are not the expected ones."""
    environ = os.environ if environ is None else environ
    node_process = process_module._NodeProcess
    if getattr(node_process, "_ml_serving_direct", False):
        return True
    version = jsii_version()
    embedded = _embedded_dir()
    if skip_reason(environ, version) or embedded is None:
        return False
    shipped_start, shipped_stop = node_process.start, node_process.stop

    def start(self: Any) -> None:
        global _prestarted
        kernel, _prestarted = _prestarted, None
        if kernel is None:
            if skip_reason(os.environ, version):  # decided when Node starts: tests and tools set the env late
                return shipped_start(self)
            kernel = _spawn(embedded)
        self._process, self._direct = kernel, True
        atexit.register(self.stop)
        self.handshake()
        kernel.drain_early()

    def stop(self: Any) -> None:
        if not getattr(self, "_direct", False):
            return shipped_stop(self)
        atexit.unregister(self.stop)
        self._process.stop()

    node_process.start, node_process.stop = start, stop
    node_process._ml_serving_direct = True
    return True


def _embedded_dir() -> Path | None:
    """jsii's embedded runtime files, if they are the ones this module knows."""
    jsii = _package_dir("jsii")
    if jsii is None:
        return None
    directory = jsii / "_embedded" / "jsii"
    return directory if all((directory / name).is_file() for name in KERNEL_FILES) else None


def _early_assemblies() -> list[tuple[str, str, str]]:
    """``(assembly, version, tarball)`` of ``EARLY_ASSEMBLIES`` as their packages ship them."""
    found = []
    for package in EARLY_ASSEMBLIES:
        directory = _package_dir(package)
        if directory is None:
            break
        tarballs = list((directory / "_jsii").glob("*@*.jsii.tgz"))
        if len(tarballs) != 1:
            break
        name, version = tarballs[0].name.removesuffix(".jsii.tgz").rsplit("@", 1)
        found.append((name, version, str(tarballs[0])))
    return found


class _Kernel:
    """A kernel this module started, as ``_NodeProcess`` uses it (``stdin``/``stdout`` carry the
    protocol) plus what stops it."""

    def __init__(self, pid: int, channel: Any, pumps: list[Any], directory: Any) -> None:
        self.pid = pid
        self.channel = channel
        self.stdin = channel.makefile("wb")
        self.stdout = channel.makefile("rb")
        self.pumps = pumps
        self.directory = directory
        self.returncode: int | None = None
        self.early = 0

    def send_early(self, request: dict) -> None:
        """Send ``request`` before jsii speaks; its answer is read (and dropped) by ``drain_early``."""
        self.stdin.write(json.dumps(request).encode("utf-8") + b"\n")
        self.stdin.flush()
        self.early += 1

    def drain_early(self) -> None:
        """Read the answers to the early requests (after the hello). A failed early load is not
        an error here: jsii's own load of the same assembly fails the same way and reports it."""
        for _ in range(self.early):
            self.stdout.readline()
        self.early = 0

    def wait(self, timeout: float | None = None) -> int:
        import subprocess
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        while self.returncode is None:
            pid, status = os.waitpid(self.pid, 0 if deadline is None else os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
            elif deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(["node"], timeout)
            else:
                time.sleep(0.005)
        return self.returncode

    def stop(self, *, kill: bool = False) -> None:
        """Ask the kernel to exit (``{"exit":0}``, then end of input) and wait for it, SIGTERM
        after ``STOP_TIMEOUT``; with ``kill``, SIGKILL at once (it was never used). Then wait
        for its output to be copied and remove its files."""
        import signal
        import socket
        import subprocess

        if self.returncode is None:
            if kill:
                os.kill(self.pid, signal.SIGKILL)
            else:
                try:
                    self.stdin.write(b'{"exit":0}\n')
                    self.stdin.flush()
                except (OSError, ValueError):
                    pass
            try:
                self.channel.shutdown(socket.SHUT_RDWR)  # end of input for the kernel
            except OSError:
                pass
            try:
                self.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGTERM)
                self.wait()
        for pump in self.pumps:
            pump.join(timeout=STOP_TIMEOUT)
        for stream in (self.stdin, self.stdout, self.channel):
            try:
                stream.close()
            except OSError:
                pass
        self.directory.cleanup()


def _discard_prestarted() -> None:
    global _prestarted
    kernel, _prestarted = _prestarted, None
    if kernel is not None:
        kernel.stop(kill=True)


def _spawn(embedded: Path) -> _Kernel:
    """Start ``node lib/program.js`` with the protocol on fd 3 (see the module docstring)."""
    import platform
    import shutil
    import socket
    import tempfile
    import threading

    directory = tempfile.TemporaryDirectory(prefix="jsii-kernel-")
    for resource, relative in KERNEL_FILES.items():
        target = Path(directory.name, relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(embedded / resource, target)
    environ = os.environ.copy()
    environ["JSII_AGENT"] = f"Python/{platform.python_version()}"
    node = environ.get("JSII_NODE", "node")
    ours, theirs = socket.socketpair()
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    null = os.open(os.devnull, os.O_RDONLY)
    try:
        pid = os.posix_spawn(
            shutil.which(node) or node,
            [node, "--max-old-space-size=4069", "--preserve-symlinks", str(Path(directory.name, KERNEL_FILES["lib__program.js"]))],
            environ,
            file_actions=[
                (os.POSIX_SPAWN_DUP2, null, 0),
                (os.POSIX_SPAWN_DUP2, out_write, 1),
                (os.POSIX_SPAWN_DUP2, err_write, 2),
                (os.POSIX_SPAWN_DUP2, theirs.fileno(), 3),
            ],
        )
    except BaseException:
        for fd in (out_read, err_read):
            os.close(fd)
        ours.close()
        directory.cleanup()
        raise
    finally:
        for fd in (null, out_write, err_write):
            os.close(fd)
        theirs.close()
    pumps = [
        threading.Thread(target=_copy, args=(out_read, "stdout"), name="jsii.kernel.stdout", daemon=True),
        threading.Thread(target=_copy, args=(err_read, "stderr"), name="jsii.kernel.stderr", daemon=True),
    ]
    for pump in pumps:
        pump.start()
    return _Kernel(pid, ours, pumps, directory)


def _copy(fd: int, stream_name: str) -> None:
    """Copy what the kernel writes on ``fd`` to ``sys.<stream_name>`` until it closes it."""
    try:
        for chunk in iter(lambda: os.read(fd, 65536), b""):
            stream = getattr(sys, stream_name)
            buffer = getattr(stream, "buffer", None)
            if buffer is not None:
                buffer.write(chunk)
                buffer.flush()
            else:  # a text-only replacement (pytest's capsys)
                stream.write(chunk.decode("utf-8", "replace"))
    except (OSError, ValueError, AttributeError):  # closed under us, or None: nothing to show it to
        pass
    finally:
        os.close(fd)
