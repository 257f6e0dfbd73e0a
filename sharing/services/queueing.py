"""Queueing deliveries, the pause switch, and the sweep that re-queues lost work.

Tasks are queued by name (``odcm.work.enqueue``, after commit): this module imports neither
``sharing.tasks`` nor the delivery code, so every service can queue without an import circle.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.services import record
from odcm import fanout, work
from sharing.models import BrokerSwitch, Delivery, Subscription

ABANDONED = "The worker stopped before finishing; the delivery was queued again."

# -- the pause switch ---------------------------------------------------------------------

_paused_cache: tuple[float, bool] = (0.0, False)
PAUSE_CACHE_SECONDS = 2.0


def paused(*, cached: bool = False) -> bool:
    """Whether deliveries are paused; ``cached`` allows an answer up to 2 s old."""
    global _paused_cache
    if cached and time.monotonic() - _paused_cache[0] < PAUSE_CACHE_SECONDS:
        return _paused_cache[1]
    value = BrokerSwitch.objects.filter(pk=1, paused=True).exists()
    _paused_cache = (time.monotonic(), value)
    return value


def set_paused(value: bool, *, actor: Any = None) -> None:
    """Pause holds queued work (nothing is lost); resuming re-queues it at once."""
    BrokerSwitch.objects.update_or_create(
        pk=1, defaults={"paused": value, "changed_by": actor, "changed_at": timezone.now()}
    )
    global _paused_cache
    _paused_cache = (time.monotonic(), value)
    record("sharing.pause" if value else "sharing.resume", actor=actor)
    if not value:
        transaction.on_commit(lambda: sweep(requeue_after=0))


# -- queueing -----------------------------------------------------------------------------


def queue(ids: Iterable[uuid.UUID], revision: int, trigger: str, *, force: bool = False) -> None:
    """Mark subscriptions queued for ``revision`` and send one task each after commit.

    Without ``force`` the target never moves backwards (an old publish arriving late).
    """
    ids = list(ids)
    if not ids:
        return
    now = timezone.now()
    subs = Subscription.objects.filter(pk__in=ids).exclude(status=Subscription.Status.UNMANAGED)
    if not force:
        subs = subs.filter(target_revision__lte=revision)
    rows = list(subs.values_list("pk", "item__paused"))
    ids = [pk for pk, _held in rows]
    send = [pk for pk, held in rows if not held]  # a paused item's work waits, queued
    subs.update(
        target_revision=revision,
        status=Subscription.Status.QUEUED,
        queued_at=now,
        next_retry_at=None,
    )
    if send and not paused():
        send_deliveries(send, revision, trigger)


def send_deliveries(
    ids: Iterable[uuid.UUID], revision: int, trigger: str, *, countdown: float = 0
) -> None:
    """The deliveries' tasks, sent after commit: ``deliver`` for one subscription; for many,
    ``deliver_many`` tasks of up to ``ODCM_FANOUT_BATCH_SIZE`` subscriptions each, delivered
    concurrently. A batch holds whole instances (as far as the size allows), so one fan-out's
    per-instance request limit is kept by a single worker process."""
    pks = [str(pk) for pk in ids]
    if len(pks) == 1:
        work.enqueue("sharing.tasks.deliver", pks[0], revision, trigger, countdown=countdown)
        return
    for batch in _batches(pks, int(settings.ODCM_FANOUT_BATCH_SIZE)):
        work.enqueue("sharing.tasks.deliver_many", batch, revision, trigger, countdown=countdown)


def _batches(ids: list[str], size: int) -> list[list[str]]:
    """``ids`` in about equal batches of at most ``size``, one instance's subscriptions
    together unless an instance alone has more than ``size``."""
    by_instance: dict[Any, list[str]] = {}
    rows = Subscription.objects.filter(pk__in=ids).values_list("pk", "space__instance_id")
    for pk, instance_id in rows.order_by("space__instance_id", "pk"):
        by_instance.setdefault(instance_id, []).append(str(pk))
    return fanout.pack(list(by_instance.values()), size)


# -- the periodic sweep -------------------------------------------------------------------


def sweep(*, now: datetime | None = None, requeue_after: float | None = None) -> int:
    """Re-queue due retries, lost messages and deliveries of workers that died.

    Idempotent and safe to run from two schedulers: re-sending a message is harmless (the
    claim and the no-op check absorb duplicates). Returns how many were re-queued.
    """
    if paused():
        return 0
    now = now or timezone.now()
    wait = settings.ODCM_SHARING_REQUEUE_SECONDS if requeue_after is None else requeue_after
    due = (
        Q(status=Subscription.Status.FAILED, next_retry_at__lte=now)
        | Q(status=Subscription.Status.QUEUED, queued_at__lte=now - timedelta(seconds=wait))
        | Q(status=Subscription.Status.SYNCING, claimed_until__lt=now)
    )
    with transaction.atomic():
        subs = list(
            Subscription.objects.select_for_update(skip_locked=True, of=("self",))
            .exclude(item__paused=True)
            .filter(work.free(now))
            .filter(due)
            .values_list("pk", "target_revision", "claimed_until")
        )
        if not subs:
            return 0
        # An expired claim means its worker died: close the attempt it left running.
        lost = [pk for pk, _target, until in subs if until is not None]
        Delivery.objects.filter(subscription_id__in=lost, outcome=Delivery.Outcome.RUNNING).update(
            outcome=Delivery.Outcome.ABANDONED, finished_at=now, message=ABANDONED
        )
        Subscription.objects.filter(pk__in=[pk for pk, _t, _u in subs]).update(
            status=Subscription.Status.QUEUED, queued_at=now
        )
        by_revision: dict[int, list[uuid.UUID]] = {}
        for pk, target, _until in subs:
            by_revision.setdefault(target, []).append(pk)
        for number, ids in by_revision.items():
            send_deliveries(ids, number, Delivery.Trigger.SWEEP)
    return len(subs)


# -- giving copies up ---------------------------------------------------------------------


def release_copies(ids: list[uuid.UUID]) -> None:
    """After commit, mark each copy in Octopus as no longer managed by ODCM (best effort)."""
    if not ids:
        return
    for pk in ids:
        work.enqueue("sharing.tasks.release_copy", str(pk))
