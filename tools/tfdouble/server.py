"""Plugin process entry point: go-plugin handshake, per-launch mTLS, gRPC server.

Usage (what the mirror's launcher script runs)::

    python -m tools.tfdouble.server google|kubernetes [--cache-dir DIR]

Protocol, as go-plugin expects it from a plugin it launches:

1. Refuse to run unless ``TF_PLUGIN_MAGIC_COOKIE`` holds Terraform's cookie value.
2. AutoMTLS: Terraform passes its client certificate in ``PLUGIN_CLIENT_CERT`` (PEM). We create a
   throw-away self-signed ECDSA P-256 server certificate (CN/SAN ``localhost``, as go-plugin
   does), require and trust exactly that client cert, and announce ours (base64 DER, no padding).
   TLS is terminated by :mod:`.tls` (Python's OpenSSL), not by grpcio: go-plugin's client cert is
   ECDSA P-521/SHA-512, which grpcio's BoringSSL does not offer for client auth, so Go would send
   no certificate and the handshake fails. grpcio serves plaintext on a second socket in the same
   0700 temp dir. Without ``PLUGIN_CLIENT_CERT`` (manual debugging) the server is plaintext.
3. Listen on a unix socket in a fresh temp dir, print ``1|6|unix|<socket>|grpc|<cert>``.
4. Serve ``tfplugin6.Provider``, ``plugin.GRPCController`` (Shutdown ends the process),
   ``plugin.GRPCStdio`` (empty stream) and ``grpc.health.v1.Health``.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import functools
import os
import shutil
import signal
import sys
import tempfile
import threading
from concurrent import futures
from pathlib import Path
from typing import Callable

MAGIC_COOKIE_KEY = "TF_PLUGIN_MAGIC_COOKIE"
MAGIC_COOKIE_VALUE = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2"
CORE_PROTOCOL_VERSION = 1
APP_PROTOCOL_VERSION = 6
#: Terraform asks for up to 64 MiB responses (the google schema is ~4.5 MiB); accept as much.
MAX_MESSAGE = 256 << 20


#: Private temp dirs of this process (sockets, cert); removed on exit, also by the zygote's watchdog.
TEMP_DIRS: list[str] = []


def make_server_certificate() -> tuple[bytes, bytes, bytes]:
    """(key PEM, cert PEM, cert DER) of a fresh self-signed cert for host "localhost"."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "HashiCorp")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(seconds=30))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=True, key_cert_sign=True,
                                         content_commitment=False, data_encipherment=False, key_agreement=True,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem, cert.public_bytes(serialization.Encoding.PEM), cert.public_bytes(serialization.Encoding.DER)


def _identity(x: bytes) -> bytes:
    return x


def _register(server, service, shutdown: threading.Event) -> None:
    import grpc
    from google.protobuf import empty_pb2, message_factory

    from . import proto
    from tf.gen import grpc_controller_pb2

    handlers = {}
    for method in proto.PROVIDER_SERVICE.methods:
        fn = getattr(service, method.name, None)
        if fn is None:
            continue  # left UNIMPLEMENTED on purpose
        request_cls = message_factory.GetMessageClass(method.input_type)
        response_cls = message_factory.GetMessageClass(method.output_type)
        handlers[method.name] = grpc.unary_unary_rpc_method_handler(
            service.wrap(method.name, fn, response_cls),
            request_deserializer=request_cls.FromString,
            response_serializer=lambda m: m if isinstance(m, bytes) else m.SerializeToString())
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("tfplugin6.Provider", handlers),))

    def shutdown_rpc(request, context):
        service.log("GRPCController.Shutdown")
        shutdown.set()
        return grpc_controller_pb2.Empty()

    def stdio_rpc(request, context):
        return iter(())  # we never write to the process' stdout/stderr streams via gRPC

    def health_rpc(request, context):
        return b"\x08\x01"  # HealthCheckResponse{status: SERVING}

    server.add_generic_rpc_handlers((
        grpc.method_handlers_generic_handler("plugin.GRPCController", {
            "Shutdown": grpc.unary_unary_rpc_method_handler(
                shutdown_rpc, request_deserializer=grpc_controller_pb2.Empty.FromString,
                response_serializer=grpc_controller_pb2.Empty.SerializeToString)}),
        grpc.method_handlers_generic_handler("plugin.GRPCStdio", {
            "StreamStdio": grpc.unary_stream_rpc_method_handler(
                stdio_rpc, request_deserializer=empty_pb2.Empty.FromString, response_serializer=_identity)}),
        grpc.method_handlers_generic_handler("grpc.health.v1.Health", {
            "Check": grpc.unary_unary_rpc_method_handler(
                health_rpc, request_deserializer=_identity, response_serializer=_identity)}),
    ))


def serve(provider_name: str, cache_dir: Path | None = None,
          report_exit: Callable[[int], None] | None = None) -> int:
    """Run the plugin until Terraform calls GRPCController.Shutdown, then exit the process.

    Returns (1) only when not launched by Terraform. `report_exit` is told the exit status just
    before the process exits (the zygote uses it to relay the status to the launcher).
    """
    if os.environ.get(MAGIC_COOKIE_KEY) != MAGIC_COOKIE_VALUE:
        print("This binary is a plugin (an offline test double for Terraform providers). "
              "It is not meant to be executed directly.", file=sys.stderr)
        return 1
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Terraform handles Ctrl-C and tells us to stop

    import grpc

    from .provider import ProviderService

    service = ProviderService(provider_name, cache_dir)
    shutdown = threading.Event()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8),
                         options=[("grpc.max_receive_message_length", MAX_MESSAGE),
                                  ("grpc.max_send_message_length", MAX_MESSAGE)])
    _register(server, service, shutdown)

    sock_dir = tempfile.mkdtemp(prefix="tfdouble-")
    TEMP_DIRS.append(sock_dir)
    sock = os.path.join(sock_dir, "plugin.sock")
    client_cert = os.environ.get("PLUGIN_CLIENT_CERT")
    service.log(f"launch (mTLS: {'yes' if client_cert else 'no'})")
    cert_field = ""
    if client_cert:
        from .tls import TLSFrontend

        key_pem, cert_pem, cert_der = make_server_certificate()
        backend = os.path.join(sock_dir, "grpc.sock")
        server.add_insecure_port(f"unix:{backend}")
        TLSFrontend(sock, backend, key_pem, cert_pem, client_cert.encode(), sock_dir).start()
        cert_field = base64.b64encode(cert_der).decode().rstrip("=")
    else:
        server.add_insecure_port(f"unix:{sock}")
    server.start()
    print(f"{CORE_PROTOCOL_VERSION}|{APP_PROTOCOL_VERSION}|unix|{sock}|grpc|{cert_field}", flush=True)
    try:
        shutdown.wait()
        server.stop(grace=0.2).wait(1)
    finally:
        shutil.rmtree(sock_dir, ignore_errors=True)
    sys.stdout.flush()
    if report_exit:
        report_exit(0)
    os._exit(0)  # skip interpreter teardown (grpc threads); Terraform waits for our exit


@functools.cache
def argument_parser() -> argparse.ArgumentParser:
    """The command line's parser, built once per process (the zygote builds it for its children)."""
    parser = argparse.ArgumentParser(prog="tfdouble", description=__doc__.split("\n")[0])
    parser.add_argument("provider", help="provider to impersonate: google or kubernetes")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="translated-schema cache (default: $TFDOUBLE_CACHE_DIR or .tfharness/cache)")
    return parser


def main(argv: list[str] | None = None, report_exit: Callable[[int], None] | None = None) -> int:
    args = argument_parser().parse_args(argv)
    return serve(args.provider, args.cache_dir, report_exit)


if __name__ == "__main__":
    sys.exit(main())
