"""Fixtures for the Octopus client tests: a policy for loopback and a scriptable server."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from octopus import RetryPolicy, Timeouts, URLPolicy

API_KEY = "API-TESTKEYDONOTLEAK0000000001"
LOOPBACK = URLPolicy(allow_http=True, allowed_networks=["127.0.0.0/8"])
FAST_RETRY = RetryPolicy(max_retries=2, backoff=0.02, max_backoff=0.05)
SHORT = Timeouts(connect=2.0, read=1.0, pool=5.0)

Reply = tuple[int, dict[str, str], bytes]


def json_reply(status: int, body: Any, **headers: str) -> Reply:
    return (
        status,
        {"Content-Type": "application/json; charset=utf-8", **headers},
        json.dumps(body).encode(),
    )


@dataclass
class PlainServer:
    """A real HTTP server on loopback whose answers the test scripts per path."""

    routes: dict[str, Callable[[], Reply]] = field(default_factory=dict)
    # (method, path, headers without the key, whether X-Octopus-ApiKey was the test key)
    seen: list[tuple[str, str, dict[str, str], bool]] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)  # request bodies, in order
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def hits(self, path: str) -> int:
        return sum(1 for _, p, _, _ in self.seen if p.split("?")[0] == path)


def _serve(state: PlainServer, context: Any = None) -> Any:
    """Run a threaded HTTP(S) server answering from ``state.routes``; returns it."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            return None

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            state.bodies.append(self.rfile.read(length) if length else b"")
            headers = {k: v for k, v in self.headers.items() if k.lower() != "x-octopus-apikey"}
            key_ok = self.headers.get("X-Octopus-ApiKey") == API_KEY
            state.seen.append((self.command, self.path, headers, key_ok))
            route = state.routes.get(self.path.split("?")[0])
            status, headers, body = (
                route() if route else (404, {"Content-Type": "text/html"}, b"<h1>no</h1>")
            )
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if "Content-Length" not in headers and "Transfer-Encoding" not in headers:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except OSError:  # the client hung up (size limit tests)
                self.close_connection = True

        do_GET = do_POST = do_PUT = do_DELETE = _answer

    class QuietServer(ThreadingHTTPServer):
        def handle_error(self, request: Any, client_address: Any) -> None:
            return None  # clients hanging up early (size-limit, TLS tests) are expected

    server = QuietServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    state.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server


@pytest.fixture
def plain_server() -> Iterator[PlainServer]:
    state = PlainServer()
    server = _serve(state)
    yield state
    server.shutdown()
    server.server_close()


@dataclass
class TLSMaterial:
    """A private CA and a server certificate for ``octopus.test`` (files on disk)."""

    ca_pem: bytes
    cert_file: str
    key_file: str


@pytest.fixture(scope="session")
def tls_material(tmp_path_factory: pytest.TempPathFactory) -> TLSMaterial:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("ODCM test CA"))
        .issuer_name(name("ODCM test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("octopus.test"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("octopus.test")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "server.pem", folder / "server.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return TLSMaterial(ca.public_bytes(serialization.Encoding.PEM), str(cert_file), str(key_file))


@pytest.fixture
def tls_server(plain_server: PlainServer, tls_material: TLSMaterial) -> Iterator[PlainServer]:
    """An HTTPS twin of ``plain_server`` (same routes; certificate for ``octopus.test``)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls_material.cert_file, tls_material.key_file)
    state = PlainServer(
        routes=plain_server.routes, seen=plain_server.seen, bodies=plain_server.bodies
    )
    server = _serve(state, context)
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def fast_sim(sim_instance: Any) -> Any:
    """An instance whose deployment steps take 50 ms."""
    sim_instance.set_faults(step_ms=50)
    return sim_instance
