"""Fixtures for the Octopus client tests: a policy for loopback and a scriptable server."""

from __future__ import annotations

import json
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
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def hits(self, path: str) -> int:
        return sum(1 for _, p, _, _ in self.seen if p.split("?")[0] == path)


@pytest.fixture
def plain_server() -> Iterator[PlainServer]:
    state = PlainServer()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            return None

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
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
            return None  # clients hanging up early (size-limit tests) are expected

    server = QuietServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
