"""Before the tests: are PostgreSQL and Redis there? If not, one line saying how to start them."""

from __future__ import annotations

import os
import socket
import sys
from urllib.parse import urlsplit

START = {
    "PostgreSQL": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "Redis": "redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no",
}


def reachable(url: str, default_port: int) -> tuple[str, int, bool]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or default_port
    try:
        with socket.create_connection((host, port), timeout=2):
            return host, port, True
    except OSError:
        return host, port, False


def main() -> int:
    services = {
        "PostgreSQL": (
            os.environ.get("ODCM_TEST_DATABASE_URL", "postgres://127.0.0.1:5432/x"),
            5432,
        ),
        "Redis": (os.environ.get("ODCM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"), 6379),
    }
    for name, (url, port) in services.items():
        host, port, ok = reachable(url, port)
        if not ok:
            print(
                f"{name} is not running at {host}:{port}: start it with: {START[name]}",
                file=sys.stderr,
            )
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
