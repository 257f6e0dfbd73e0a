"""The probes: /healthz (liveness: the process answers) and /readyz (the database and the
broker answer).

Both are answered by :class:`ProbeMiddleware`, first in the middleware list, before Django
checks the Host header or redirects to https: a container or load-balancer probe calls
``http://127.0.0.1:8000/readyz`` by address and over plain http, which production settings
would otherwise answer with 400 (host not allowed) or a redirect to https.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.cache import add_never_cache_headers

log = logging.getLogger(__name__)


def check_database() -> None:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")


def check_broker() -> None:
    from odcm.celery import app

    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, timeout=2)


CHECKS: dict[str, Callable[[], None]] = {"database": check_database, "broker": check_broker}


def worker_heartbeat_age() -> float | None:
    """Seconds since a Celery worker last ran the heartbeat task (None: never seen)."""
    import time

    from django.core.cache import cache

    from odcm.tasks import HEARTBEAT_KEY

    try:
        seen = cache.get(HEARTBEAT_KEY)
    except Exception:  # the cache is informational here; the broker check reports outages
        return None
    return None if seen is None else round(time.time() - float(seen), 1)


def run_checks() -> dict[str, str]:
    """Each check's outcome: "ok" or a short, secret-free reason."""
    results = {}
    for name, check in CHECKS.items():
        try:
            check()
        except Exception as exc:  # a health check reports every failure, whatever its type
            log.warning("health check %s failed: %s", name, type(exc).__name__)
            results[name] = f"unavailable ({type(exc).__name__})"
        else:
            results[name] = "ok"
    return results


def liveness() -> JsonResponse:
    """The process is up and serving requests; nothing else is consulted."""
    return JsonResponse({"status": "ok"})


def readiness() -> JsonResponse:
    """200 when the database and the broker answer, else 503 naming what failed."""
    checks = run_checks()
    failed = sorted(name for name, outcome in checks.items() if outcome != "ok")
    body: dict[str, object] = {"status": "ok" if not failed else "unavailable", "checks": checks}
    if failed:
        body["failed"] = failed
    # Informational: a stalled worker does not make the web process unready.
    body["worker_heartbeat_age_seconds"] = worker_heartbeat_age()
    return JsonResponse(body, status=503 if failed else 200)


PROBES: dict[str, Callable[[], JsonResponse]] = {"/healthz": liveness, "/readyz": readiness}


class ProbeMiddleware:
    """Answers GET and HEAD of the probe paths before host validation and the https redirect."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        probe = PROBES.get(request.path_info)
        if probe is None or request.method not in ("GET", "HEAD"):
            return self.get_response(request)
        response = probe()
        add_never_cache_headers(response)
        return response
