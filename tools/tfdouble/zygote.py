"""Fork server that makes plugin launches cheap (~40 ms instead of ~300 ms).

Terraform starts the provider 2-3 times per command and every start of a fresh Python pays for
importing grpc, cryptography and protobuf. The zygote is one background Python process that
has done those imports and loaded both schemas; for each launch it forks a child that is the
plugin server (see :mod:`.launch` for the launcher side).

* Socket: ``<home>/zygote.sock`` (mode 0600, in the harness dir); ``zygote.log`` gets stderr.
* Started by the harness (:func:`ensure`) on first use; exits after :data:`IDLE_SECONDS`
  without launches and without live children. It gets a process group of its own (a Ctrl-C
  in the terminal does not reach it) but stays in the starter's session: with the kernel's
  autogroup scheduling a new session is a scheduling group of its own, where ``nice`` of the
  plugins it forks would no longer count against the processes of the session that runs
  Terraform (the test suite's loop runs Terraform and the plugins under ``nice``).
  ``TFDOUBLE_ZYGOTE=0`` disables it (launchers then start the server directly, which is always
  the fallback anyway).
* Code changes are picked up: the zygote reports a key over the sources it loaded, and
  :func:`ensure` replaces a zygote whose key differs from the current sources.

Protocol on the socket: a request is a 4-byte big-endian length + a ``marshal``-ed dict (the
launcher, which runs for every plugin, then imports no ``json``; zygote and launchers run the same
interpreter), sent with the client's stdin/stdout/stderr as SCM_RIGHTS.
``{"op": "ping"}`` -> JSON ``{"key", "pid"}``; ``{"op": "quit"}``;
``{"op": "spawn", "args", "env", "cwd", "nice"}`` -> ``F`` (about to fork), then the child's exit
status as ASCII digits, then EOF.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import marshal
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

IDLE_SECONDS = 300
SOCKET_NAME = "zygote.sock"
_PACKAGE_DIR = Path(__file__).resolve().parent


def socket_path(home: Path) -> Path:
    return Path(home) / SOCKET_NAME


def source_key() -> str:
    """Identifies the code and schemas a zygote would serve (path, size, mtime of each file)."""
    digest = hashlib.sha256(sys.executable.encode())
    for path in sorted([*_PACKAGE_DIR.glob("*.py"), *_PACKAGE_DIR.glob("schemas/*.gz"),
                        *_PACKAGE_DIR.glob("schemas/*.json")]):
        st = path.stat()
        digest.update(f"{path.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# client side (harness)


def _request(home: Path, message: dict, timeout: float = 2.0) -> bytes | None:
    path = socket_path(home)
    if not path.exists():
        return None
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(timeout)
            conn.connect(str(path))
            payload = marshal.dumps(message)
            conn.sendall(struct.pack("!I", len(payload)) + payload)
            reply = b""
            while chunk := conn.recv(4096):
                reply += chunk
            return reply
    except OSError:
        return None


def ping(home: Path) -> dict | None:
    """{"key", "pid"} of the running zygote, or None."""
    reply = _request(home, {"op": "ping"})
    try:
        return json.loads(reply) if reply else None
    except ValueError:
        return None


def stop(home: Path) -> None:
    """Ask the zygote serving `home` (if any) to exit; running plugin processes are unaffected."""
    _request(Path(home), {"op": "quit"})


def ensure(home: Path, python: str | None = None, wait: float = 10.0) -> bool:
    """Make sure a zygote with the current code serves `home`; True if one is ready.

    Never raises: without a zygote the launchers simply start the server themselves.
    """
    if os.environ.get("TFDOUBLE_ZYGOTE", "1") == "0":
        return False
    home = Path(home)
    key = source_key()
    running = ping(home)
    if running and running.get("key") == key:
        return True
    if running:
        _request(home, {"op": "quit"})
    python = python or sys.executable
    bootstrap = (f"import sys; sys.path.insert(0, {str(_PACKAGE_DIR.parents[1])!r}); "
                 "from tools.tfdouble.zygote import main; sys.exit(main(sys.argv[1:]))")
    try:
        with open(home / "zygote.log", "ab") as log:
            subprocess.Popen([python, "-I", "-c", bootstrap, str(home)], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=log, close_fds=True, process_group=0,
                             env={k: v for k, v in os.environ.items() if not k.startswith(("PLUGIN_", "TF_PLUGIN"))})
    except OSError:
        return False
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        running = ping(home)
        if running and running.get("key") == key:
            return True
        time.sleep(0.05)
    return False


# ---------------------------------------------------------------------------------------------
# daemon side


def _preload(cache_dir: Path) -> None:
    """Import everything a plugin needs, load both schemas and replacement rules (memoized)."""
    import asyncio  # noqa: F401
    import ssl  # noqa: F401

    import concurrent.futures.thread  # noqa: F401 - grpc.server's thread pool

    import grpc  # noqa: F401
    from grpc import _server, _utilities  # noqa: F401 - imported by grpc.server() on first call: once here, not per launch
    from google.protobuf import empty_pb2  # noqa: F401 - server._register's
    from tf.gen import grpc_controller_pb2  # noqa: F401 - server._register's

    from . import catalog, force_new, provider, schema, server, tls  # noqa: F401

    server.argument_parser()  # built once (~2 ms and a dozen regular expressions a launch)

    server.make_server_certificate()  # initializes cryptography's OpenSSL bindings
    for name in catalog.PROVIDERS:
        schema.load(name, cache_dir)
        force_new.load(name)


def _read_request(conn: socket.socket) -> tuple[dict, list[int]]:
    data, fds, _flags, _addr = socket.recv_fds(conn, 1 << 16, 3)
    while len(data) < 4 or len(data) < 4 + struct.unpack("!I", data[:4])[0]:
        chunk = conn.recv(1 << 16)
        if not chunk:
            raise ConnectionError("truncated request")
        data += chunk
    (length,) = struct.unpack("!I", data[:4])
    try:
        request = marshal.loads(data[4:4 + length])
    except (EOFError, TypeError) as exc:
        raise ValueError(f"unreadable request: {exc}") from exc
    if not isinstance(request, dict):
        raise ValueError(f"request is a {type(request).__name__}, not a dict")
    return request, list(fds)


def _child(conn: socket.socket, fds: list[int], request: dict) -> None:
    """Become the plugin process for one launch. Never returns."""
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        niceness = request.get("nice")
        if isinstance(niceness, int) and niceness > os.getpriority(os.PRIO_PROCESS, 0):
            os.setpriority(os.PRIO_PROCESS, 0, niceness)  # the launcher's priority, as exec would keep it

        def watchdog() -> None:  # the launcher died (e.g. killed by Terraform): follow it
            try:
                conn.recv(1)
            finally:
                for directory in server.TEMP_DIRS:
                    shutil.rmtree(directory, ignore_errors=True)
                os._exit(1)

        from . import server

        threading.Thread(target=watchdog, daemon=True).start()

        def report(status: int) -> None:
            try:
                conn.sendall(str(status).encode())
            except OSError:
                pass

        code = server.main(request["args"], report_exit=report)
    except BaseException:  # noqa: BLE001 - a broken child must still exit and report
        import traceback

        traceback.print_exc()
    finally:
        try:
            conn.sendall(str(code).encode())
        except OSError:
            pass
        os._exit(code)


def main(argv: list[str]) -> int:
    home = Path(argv[0])
    key = source_key()
    _preload(home / "cache")  # the launchers' --cache-dir (mirror.Mirror.cache_dir)
    path = socket_path(home)
    with open(home / "zygote.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        running = ping(home)
        if running and running.get("key") == key:
            return 0  # someone else won the race
        path.unlink(missing_ok=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(path))
        os.chmod(path, 0o600)
        listener.listen(64)
    inode = path.stat().st_ino
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    children: set[int] = set()
    last_activity = time.monotonic()
    print(f"zygote {os.getpid()} serving {path} (key {key})", file=sys.stderr, flush=True)
    try:
        while True:
            readable, _, _ = select.select([listener], [], [], 1.0)
            while children:
                try:
                    pid, _status = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    children.clear()
                    break
                if pid == 0:
                    break
                children.discard(pid)
            if not readable:
                if not children and time.monotonic() - last_activity > IDLE_SECONDS:
                    return 0
                try:
                    if path.stat().st_ino != inode:
                        return 0  # replaced by a newer zygote
                except FileNotFoundError:
                    return 0
                continue
            conn, _ = listener.accept()
            last_activity = time.monotonic()
            fds: list[int] = []
            try:
                conn.settimeout(5)
                request, fds = _read_request(conn)
                op = request.get("op")
                if op == "ping":
                    conn.sendall(json.dumps({"key": key, "pid": os.getpid()}).encode())
                elif op == "quit":
                    return 0
                elif op == "spawn" and len(fds) == 3:
                    conn.settimeout(None)
                    conn.sendall(b"F")
                    pid = os.fork()
                    if pid == 0:
                        listener.close()
                        _child(conn, fds, request)
                    children.add(pid)
            except (OSError, ValueError, KeyError) as exc:
                print(f"zygote: bad request: {exc!r}", file=sys.stderr, flush=True)
            finally:
                for fd in fds:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
                conn.close()
    finally:
        try:
            if path.stat().st_ino == inode:
                path.unlink()
        except FileNotFoundError:
            pass
