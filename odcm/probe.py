"""The container health probe: ``python -m odcm.probe [/readyz|/healthz]``.

Asks the web process on this machine (``127.0.0.1:$PORT``, 8000 by default) and exits 0 only
on a 200: a redirect, a 400 or a 503 is a failure (``curl -f`` would count a redirect as
healthy). Used by docker-compose.yml and the Dockerfile's HEALTHCHECK; needs no curl.
"""

from __future__ import annotations

import http.client
import os
import sys

PATHS = ("/healthz", "/readyz")


def probe(path: str = "/readyz", *, port: int | None = None, timeout: float = 5.0) -> int:
    """GET ``path`` from the local web process; returns the exit code (0 only on a 200)."""
    if path not in PATHS:
        print(f"probe: unknown path {path!r} (use {' or '.join(PATHS)})", file=sys.stderr)
        return 2
    port = port or int(os.environ.get("PORT") or 8000)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read(500).decode("utf-8", "replace")
    except OSError as exc:
        print(f"probe: {path} did not answer: {type(exc).__name__}", file=sys.stderr)
        return 1
    finally:
        connection.close()
    if response.status != 200:
        print(f"probe: {path} answered {response.status}: {body}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(probe(*sys.argv[1:2]))
