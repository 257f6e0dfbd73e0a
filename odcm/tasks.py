"""Project-level periodic tasks."""

from __future__ import annotations

import time

from celery import shared_task
from django.core.cache import cache

HEARTBEAT_KEY = "odcm:worker-heartbeat"


@shared_task(ignore_result=True, time_limit=30, soft_time_limit=25)
def worker_heartbeat() -> None:
    """Beat sends this every minute; /readyz reports how long ago a worker last ran it."""
    cache.set(HEARTBEAT_KEY, time.time(), timeout=None)


@shared_task(ignore_result=True, soft_time_limit=3300, time_limit=3500)
def prune_history() -> dict[str, int] | None:
    """Beat: remove (or compact) what is older than the ODCM_RETENTION_* ages."""
    from odcm.retention import prune_all

    return prune_all()
