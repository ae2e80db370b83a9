"""Mutual-TLS front door for the plugin's gRPC server (see server.py for why it exists).

Listens on the unix socket announced to Terraform, performs the TLS handshake with Python's
``ssl`` module (OpenSSL: accepts go-plugin's P-521 client certificate), requires the client to
present exactly the certificate Terraform put in ``PLUGIN_CLIENT_CERT``, negotiates ALPN ``h2``
(grpc-go insists on it) and then shuttles bytes to grpcio's plaintext socket. Runs an asyncio
loop in a daemon thread: one TLS object per connection is only ever touched by that loop.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import threading


class TLSFrontend:
    """TLS terminator `public_path` -> `backend_path` (both unix sockets)."""

    def __init__(self, public_path: str, backend_path: str, key_pem: bytes, cert_pem: bytes,
                 client_cert_pem: bytes, secret_dir: str):
        self.public_path = public_path
        self.backend_path = backend_path
        # load_cert_chain only reads files: put them in the private (0700) socket dir.
        cert_file, key_file = os.path.join(secret_dir, "server.crt"), os.path.join(secret_dir, "server.key")
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key_pem)
        with open(cert_file, "wb") as f:
            f.write(cert_pem)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(cert_file, key_file)
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cadata=client_cert_pem.decode())
        ctx.set_alpn_protocols(["h2"])
        os.unlink(key_file)
        self.context = ctx
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> None:
        """Start listening (returns once the socket is bound)."""
        threading.Thread(target=self._run, name="tls-frontend", daemon=True).start()
        self._ready.wait()
        if self._error:
            raise self._error

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(asyncio.start_unix_server(self._handle, path=self.public_path,
                                                              ssl=self.context))
        except BaseException as exc:  # noqa: BLE001 - handed to start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        loop.run_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            backend_reader, backend_writer = await asyncio.open_unix_connection(self.backend_path)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, backend_writer), _pipe(backend_reader, writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(1 << 16):
            writer.write(data)
            await writer.drain()
    except (OSError, ssl.SSLError, asyncio.IncompleteReadError):
        pass
    finally:
        try:
            writer.close()
        except (OSError, RuntimeError):
            pass
