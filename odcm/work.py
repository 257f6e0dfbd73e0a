"""Claiming work: one way for every app (and for the apps that follow).

A row that a worker acts on (a subscription to deliver, an email to send, a periodic job, the
Octopus teams of a space) carries a lease: ``claim_token`` and ``claimed_until``
(:class:`Leased`). A worker takes it with :func:`claim`, one conditional UPDATE that must
change exactly one row, so two workers (or a message delivered twice) never both act. It
records its outcome only while the lease is still its own (:func:`mine`) and gives it back with
:func:`release`. A worker that dies keeps the lease until ``claimed_until``; then the row is
free again and the next sweep or worker picks it up. Nothing depends on a lock living in a
cache or in one database session. A long run keeps its lease short with :func:`kept` (renewed
while it runs), so a dead worker's rows come free within that short lease, not after the
longest the run could take.

Work on many ids queued by several calls in one transaction (twenty grants saved together) is
sent once, at commit, by :func:`enqueue_merged`: one set of ids cut into batches, not one task
per call.

Failures wait :func:`backoff` seconds (capped exponential, with optional jitter) before the
next try. Tasks are queued by name with :func:`enqueue`, after commit, so services need not
import their app's ``tasks`` module (which imports the services).
"""

from __future__ import annotations

import logging
import random
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery import current_app
from django.db import DatabaseError, connection, connections, models, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

log = logging.getLogger(__name__)


class Leased(models.Model):
    """Mixin: a row one worker at a time may hold, until ``claimed_until``."""

    claim_token = models.UUIDField(null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


@dataclass(frozen=True)
class Lease:
    """A claim held on one row: its primary key, the token proving it, and its end."""

    pk: Any
    token: uuid.UUID
    until: datetime


def free(now: datetime | None = None) -> Q:
    """Rows nobody holds: never claimed, released, or whose lease has run out."""
    now = now or timezone.now()
    return Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)


def claim(
    rows: QuerySet[Any], pk: Any, *, seconds: float, now: datetime | None = None, **changes: Any
) -> Lease | None:
    """Claim row ``pk`` of ``rows`` for ``seconds`` if it is free and still matches ``rows``
    (the caller's conditions: "not unmanaged", "due"); ``changes`` are written in the same
    UPDATE, which changes one row or none. None: another worker holds it, or it no longer
    qualifies."""
    now = now or timezone.now()
    token = uuid.uuid4()
    until = now + timedelta(seconds=seconds)
    won = rows.filter(free(now), pk=pk).update(claim_token=token, claimed_until=until, **changes)
    return Lease(pk, token, until) if won == 1 else None


def claim_next(
    rows: QuerySet[Any],
    *,
    seconds: float,
    order_by: str,
    now: datetime | None = None,
    **changes: Any,
) -> Lease | None:
    """Claim the first free row of ``rows`` (in ``order_by`` order) that no other worker is
    claiming at this moment (``SKIP LOCKED``). None when nothing is free."""
    now = now or timezone.now()
    with transaction.atomic():
        pk = (
            rows.filter(free(now))
            .select_for_update(skip_locked=True)
            .order_by(order_by)
            .values_list("pk", flat=True)
            .first()
        )
        if pk is None:
            return None
        return claim(rows, pk, seconds=seconds, now=now, **changes)


def claim_each(
    rows: QuerySet[Any],
    pks: list[Any],
    *,
    seconds: float,
    now: datetime | None = None,
    **changes: Any,
) -> list[Lease]:
    """Claim every free row of ``pks`` in one conditional UPDATE (one lease each, sharing a
    token); rows another worker holds, or that no longer match ``rows``, are left out.
    ``changes`` are written in the same UPDATE."""
    now = now or timezone.now()
    token = uuid.uuid4()
    until = now + timedelta(seconds=seconds)
    if not pks or not rows.filter(free(now), pk__in=pks).update(
        claim_token=token, claimed_until=until, **changes
    ):
        return []
    won = rows.model._default_manager.filter(claim_token=token).values_list("pk", flat=True)
    return [Lease(pk, token, until) for pk in won]


def release_each(rows: QuerySet[Any], leases: list[Lease]) -> None:
    """Give back rows claimed together by ``claim_each`` (those still ours), in one UPDATE."""
    if leases:
        rows.filter(pk__in=[lease.pk for lease in leases], claim_token=leases[0].token).update(
            claim_token=None, claimed_until=None
        )


def mine(rows: QuerySet[Any], lease: Lease) -> QuerySet[Any]:
    """The leased row, only while the lease is still ours (to record an outcome)."""
    return rows.filter(pk=lease.pk, claim_token=lease.token)


def release(rows: QuerySet[Any], lease: Lease, **changes: Any) -> bool:
    """Give the row back, writing ``changes`` with it. False if the lease was no longer ours
    (it ran out and another worker took the row): then nothing is written."""
    return bool(mine(rows, lease).update(claim_token=None, claimed_until=None, **changes))


@contextmanager
def kept(rows: QuerySet[Any], leases: list[Lease], *, seconds: float) -> Iterator[None]:
    """Hold ``leases`` while the block runs: a thread moves their end ``seconds`` ahead every
    quarter of that, for as long as the block lasts. The lease can then be short (a worker
    killed mid-run, or one whose database went away, frees its rows within ``seconds``)
    while a run that is alive keeps its rows however long it takes."""
    if not leases:
        yield
        return
    stop = threading.Event()
    by_token: dict[uuid.UUID, list[Any]] = {}
    for lease in leases:
        by_token.setdefault(lease.token, []).append(lease.pk)
    manager = rows.model._default_manager

    def renew() -> None:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                # Never wait behind a lock (a test's open transaction holding the row): skip
                # this renewal, the next one comes soon.
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL lock_timeout = '2s'")
            until = timezone.now() + timedelta(seconds=seconds)
            for token, pks in by_token.items():
                manager.filter(pk__in=pks, claim_token=token).update(claimed_until=until)

    def keep() -> None:
        try:
            while not stop.wait(seconds / 4):
                try:
                    renew()
                except DatabaseError as exc:  # the database restarting: try again next time
                    log.warning("could not renew a lease on %s: %s", manager.model.__name__, exc)
        finally:
            connections.close_all()  # this thread's own connections

    keeper = threading.Thread(target=keep, name="lease-keeper", daemon=True)
    keeper.start()
    try:
        yield
    finally:
        stop.set()
        keeper.join(timeout=5)


def backoff(failures: int, *, base: float, cap: float, jitter: float = 0.0) -> float:
    """Seconds to wait after ``failures`` failures in a row: ``base`` doubling per failure,
    at most ``cap``, spread by ±``jitter`` (a fraction) so retries do not arrive together."""
    delay = min(float(cap), base * 2 ** max(0, failures - 1))
    if jitter:
        delay *= random.uniform(1 - jitter, 1 + jitter)  # noqa: S311 - spread, not security
    return float(delay)


def enqueue(task_name: str, *args: Any, countdown: float = 0, on_commit: bool = True) -> None:
    """Queue the Celery task ``task_name`` with ``args`` (ids and numbers only), after the
    current transaction commits unless ``on_commit`` is False. Runs it at once when tasks
    are eager (tests, ``ODCM_CELERY_EAGER``)."""

    def send() -> None:
        task = current_app.tasks.get(task_name)
        if task is not None:
            task.apply_async(args, countdown=countdown)
        else:  # not registered in this process: the worker knows it by name
            current_app.send_task(task_name, args, countdown=countdown)

    if on_commit:
        transaction.on_commit(send, robust=True)
    else:
        send()


class _Merged:
    """The ids queued for one task in the current transaction; sent together at commit."""

    def __init__(self, task_name: str, split: Callable[[list[str]], list[list[str]]] | None):
        self.task_name = task_name
        self.split = split
        self.ids: set[str] = set()

    def __call__(self) -> None:
        ids = sorted(self.ids)
        for batch in self.split(ids) if self.split is not None else [ids]:
            if batch:
                enqueue(self.task_name, batch, on_commit=False)


def enqueue_merged(
    task_name: str,
    ids: Iterable[Any],
    *,
    split: Callable[[list[str]], list[list[str]]] | None = None,
) -> None:
    """Queue ``task_name`` for ``ids`` (its one argument, a list of ids) after commit, merged
    with every other call for the same task in this transaction: at commit the union of the
    ids is sent once, cut into batches by ``split`` (one task each). Twenty grants saved in
    one transaction then make one fan-out, not twenty tasks waiting for worker processes.

    Outside a transaction the ids are sent at once. A savepoint rolled back after its ids
    were merged leaves them in (the task must be idempotent); a rollback of the savepoint
    that first queued them drops them all, with the work they stood for."""
    wanted = {str(pk) for pk in ids}
    if not wanted:
        return
    conn = transaction.get_connection()
    if not conn.in_atomic_block:
        merged = _Merged(task_name, split)
        merged.ids = wanted
        merged()
        return
    # The callbacks waiting for this transaction's commit (Django keeps them on the
    # connection and drops those of a savepoint rolled back): ours, if already queued.
    for _sids, func, _robust in conn.run_on_commit:
        if isinstance(func, _Merged) and func.task_name == task_name and func.split is split:
            func.ids |= wanted
            return
    merged = _Merged(task_name, split)
    merged.ids = wanted
    transaction.on_commit(merged, robust=True)
