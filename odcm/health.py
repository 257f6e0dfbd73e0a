"""Health checks behind /healthz: does the database answer, does the broker answer?"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import connections

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
