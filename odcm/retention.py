"""Data retention: each app registers a pruner, and one periodic task runs them all.

A pruner takes "now" and returns how many rows of each kind it removed::

    from odcm.retention import register_pruner
    register_pruner("audit", prune_audit)   # in AppConfig.ready()

Every pruner is idempotent (it deletes or compacts what is older than a cutoff, so a second
run finds nothing) and deletes in bounded batches, so no transaction holds many locks. Two
beat schedulers may both enqueue the task: a session advisory lock lets one run at a time,
and the other returns at once (running both would still be correct, only wasteful).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Model, QuerySet
from django.utils import timezone

log = logging.getLogger(__name__)

Pruner = Callable[[datetime], dict[str, int]]
_pruners: dict[str, Pruner] = {}
LOCK_KEY = 7_301_900  # arbitrary, distinct from the monitoring jobs' keys
BATCH = 5000


def register_pruner(name: str, function: Pruner) -> None:
    _pruners[name] = function


def cutoff(now: datetime, days: int) -> datetime | None:
    """The moment before which rows go; None when ``days`` is 0 (keep forever)."""
    return now - timedelta(days=days) if days > 0 else None


def delete_in_batches(queryset: QuerySet[Any], batch_size: int = BATCH) -> int:
    """Delete the rows of ``queryset`` (and what cascades from them) a batch at a time;
    returns how many rows of the queryset's own model went."""
    model: type[Model] = queryset.model
    label = model._meta.label
    deleted = 0
    while True:
        ids = list(queryset.order_by().values_list("pk", flat=True)[:batch_size])
        if not ids:
            return deleted
        _, per_model = model._default_manager.filter(pk__in=ids).delete()
        deleted += per_model.get(label, 0)
        if len(ids) < batch_size:
            return deleted


@contextmanager
def _run_lock() -> Iterator[bool]:
    if connection.vendor != "postgresql":
        yield True  # the SQLite demo runs one beat
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY])
        got = bool(cursor.fetchone()[0])
    try:
        yield got
    finally:
        if got:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])


def prune_all(now: datetime | None = None) -> dict[str, int] | None:
    """Run every registered pruner; None if another process is pruning right now."""
    now = now or timezone.now()
    with _run_lock() as got:
        if not got:
            return None
        summary: dict[str, int] = {}
        for name, pruner in sorted(_pruners.items()):
            started = time.perf_counter()
            counts = pruner(now)
            summary.update({f"{name}.{kind}": n for kind, n in counts.items()})
            log.info(
                "retention %s: %s in %.1fs",
                name,
                ", ".join(f"{kind} {n}" for kind, n in counts.items()) or "nothing",
                time.perf_counter() - started,
            )
        return summary
