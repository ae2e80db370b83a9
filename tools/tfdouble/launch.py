"""What the mirror's launcher script runs: hand the launch to the zygote, or start the server.

Runs under ``python -I -S`` (no site-packages: starts in ~10 ms) and imports only the stdlib.
Argument vector: ``<zygote socket> <python> <provider> [server args...]``.

* If the zygote (see :mod:`.zygote`) is listening, send it our environment, working directory
  and stdin/stdout/stderr file descriptors; it forks a pre-loaded plugin process that writes the
  go-plugin handshake straight to *our* stdout. We stay alive as the process Terraform knows,
  wait for the plugin's exit status and exit with it. The plugin takes our niceness (a launcher
  started under ``nice`` gets a plugin under the same ``nice``, as the direct start would). If
  we are killed, the plugin notices the closed connection and exits too.
* Otherwise (no zygote, ``TFDOUBLE_ZYGOTE=0``, or any hiccup before the fork) ``exec`` the
  plugin server directly: slower (~0.3 s of imports), same behaviour.

It runs for every plugin Terraform starts (two per provider configuration and plan), so it imports
nothing but builtins and ``_socket``: the request is ``marshal``-ed (the zygote runs the same
interpreter) and framed by hand; ``json``, ``socket`` and ``struct`` took ~11 ms of its ~18 ms.
"""

from __future__ import annotations

import _socket
import marshal
import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SERVER_BOOTSTRAP = (f"import sys; sys.path.insert(0, {_ROOT!r}); "
                    "from tools.tfdouble.server import main; sys.exit(main(sys.argv[1:]))")


def _via_zygote(sock_path: str, server_args: list[str]) -> int | None:
    """Exit status of a zygote-forked plugin, or None if the zygote could not take the launch."""
    if os.environ.get("TFDOUBLE_ZYGOTE", "1") == "0" or not os.path.exists(sock_path):
        return None
    conn = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        conn.settimeout(2.0)
        conn.connect(sock_path)
        payload = marshal.dumps({"op": "spawn", "args": server_args, "env": dict(os.environ),
                                 "cwd": os.getcwd(), "nice": os.getpriority(os.PRIO_PROCESS, 0)})
        stdio = b"".join(fd.to_bytes(4, sys.byteorder, signed=True) for fd in (0, 1, 2))  # struct int[3]
        conn.sendmsg([len(payload).to_bytes(4, "big") + payload], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, stdio)])
        if conn.recv(1) != b"F":  # the zygote acknowledges right before it forks
            return None
    except OSError:
        conn.close()
        return None
    conn.settimeout(None)
    status = b""
    while chunk := conn.recv(64):
        status += chunk
    return int(status) if status.strip().isdigit() else 1


def main(argv: list[str]) -> None:
    sock_path, python, *server_args = argv
    status = _via_zygote(sock_path, server_args)
    if status is not None:
        sys.stdout.flush()
        os._exit(status)
    os.execv(python, [python, "-I", "-c", SERVER_BOOTSTRAP, *server_args])
