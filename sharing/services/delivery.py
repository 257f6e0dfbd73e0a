"""Deliveries: queue, claim, write a revision into a subscriber space, record, retry.

Guarantees:

* One Celery message per subscription and revision carries only ids and a number. The
  database holds the truth (``Subscription.target_revision``); a message for an older revision
  delivers the newest wanted one, and a duplicate message finds nothing to do.
* A worker claims a subscription with a conditional UPDATE (``claimed_until`` in the past);
  two workers never deliver the same subscription at once. A worker that dies loses its claim
  when the lease ends; the periodic :func:`sweep` re-queues its work and marks its attempt
  abandoned.
* Every attempt leaves a :class:`~sharing.models.Delivery` row before and after it.
* Failures retry with capped exponential backoff until they succeed; the sweep re-queues due
  retries, so nothing depends on a Celery countdown surviving a restart.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from audit.services import record
from octopus import ErrorKind, OctopusError, make_http_client
from odcm.clients import client_for, url_policy
from odcm.crypto import CryptoError
from sharing.kinds import CountingClient, DeliveryProblem, Target, Written, kind_for
from sharing.models import BrokerSwitch, Delivery, Revision, SharedItem, Subscription

logger = logging.getLogger("sharing.delivery")

ABANDONED = "The worker stopped before finishing; the delivery was queued again."
MAX_ROUNDS = 3  # deliveries in one task when the target moves on while we write

ClientWrapper = Callable[[CountingClient], CountingClient]


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
        transaction.on_commit(lambda: _send(send, revision, trigger))


def _send(ids: list[uuid.UUID], revision: int, trigger: str, countdown: float = 0) -> None:
    from sharing.tasks import deliver

    for sub_id in ids:
        deliver.apply_async((str(sub_id), revision, trigger), countdown=countdown)


# -- running a delivery -------------------------------------------------------------------

_http: tuple[int, httpx.Client] | None = None


def shared_http() -> httpx.Client:
    """One connection pool per process (made after a worker forks)."""
    global _http
    if _http is None or _http[0] != os.getpid():
        _http = (os.getpid(), make_http_client(url_policy(), max_connections=50))
    return _http[1]


def target_for(sub: Subscription) -> Target:
    item = sub.item
    publisher = item.publisher
    note = (
        f"Managed by ODCM: shared from the space {publisher.name} on "
        f"{publisher.instance.name}. Read-only here; changes made in Octopus are overwritten or "
        "reported as drift."
    )
    return Target(
        space_id=sub.space.octopus_id,
        space_label=f"{sub.space.name} ({sub.space.instance.name})",
        item_key=str(item.pk),
        name=item.name,
        description=f"{item.description}\n\n{note}".strip(),
        octopus_id=sub.octopus_id,
        octopus_child_id=sub.octopus_child_id,
        octopus_version=sub.octopus_version,
        secrets_digest=sub.secrets_digest,
    )


# The broker's error class of each kind of error (the rest are the server's fault).
_ERROR_CLASSES = {
    ErrorKind.UNREACHABLE: Subscription.ErrorClass.UNREACHABLE,
    ErrorKind.TIMEOUT: Subscription.ErrorClass.UNREACHABLE,
    ErrorKind.TLS: Subscription.ErrorClass.UNREACHABLE,
    ErrorKind.AUTH: Subscription.ErrorClass.AUTH,
    ErrorKind.PERMISSION: Subscription.ErrorClass.PERMISSION,
    ErrorKind.CONFLICT: Subscription.ErrorClass.CONFLICT,
    ErrorKind.VALIDATION: Subscription.ErrorClass.VALIDATION,
    ErrorKind.NOT_FOUND: Subscription.ErrorClass.VALIDATION,
    ErrorKind.REFUSED_URL: Subscription.ErrorClass.VALIDATION,
}


def classify(exc: BaseException) -> tuple[str, str]:
    """(error class, message for people) for a failed delivery. Never includes secrets."""
    if isinstance(exc, DeliveryProblem):
        return exc.error_class, exc.message
    if isinstance(exc, OctopusError):
        return _ERROR_CLASSES.get(exc.kind, Subscription.ErrorClass.SERVER), str(exc)
    if isinstance(exc, CryptoError):
        return Subscription.ErrorClass.INTERNAL, str(exc)
    # Unknown failures: the type only, in case a message were to echo data.
    return Subscription.ErrorClass.INTERNAL, f"Unexpected {type(exc).__name__} in ODCM."


def backoff_seconds(failures: int) -> float:
    base = settings.ODCM_SHARING_RETRY_BASE_SECONDS
    delay = min(base * 2 ** max(0, failures - 1), settings.ODCM_SHARING_RETRY_MAX_SECONDS)
    return float(delay * random.uniform(0.9, 1.1))  # noqa: S311 - jitter, not security


@dataclass
class Claim:
    sub: Subscription
    token: uuid.UUID
    released: bool = False


def _claim(sub: Subscription) -> Claim | None:
    now = timezone.now()
    token = uuid.uuid4()
    until = now + timedelta(seconds=settings.ODCM_SHARING_CLAIM_SECONDS)
    won = (
        Subscription.objects.filter(pk=sub.pk)
        .exclude(status=Subscription.Status.UNMANAGED)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claim_token=token, claimed_until=until, status=Subscription.Status.SYNCING)
    )
    if not won:
        return None
    if sub.claimed_until is not None:
        # The previous claim expired without being released: its worker died, and any
        # attempt it left "running" never finished.
        Delivery.objects.filter(subscription=sub, outcome=Delivery.Outcome.RUNNING).update(
            outcome=Delivery.Outcome.ABANDONED, finished_at=now, message=ABANDONED
        )
    sub.claim_token, sub.claimed_until, sub.status = token, until, Subscription.Status.SYNCING
    return Claim(sub, token)


def _release(claim: Claim) -> None:
    Subscription.objects.filter(pk=claim.sub.pk, claim_token=claim.token).update(
        claim_token=None, claimed_until=None
    )


_revisions: OrderedDict[tuple[uuid.UUID, int], Revision] = OrderedDict()


def _revision(item_id: uuid.UUID, number: int) -> Revision | None:
    """Revisions are immutable: each worker process keeps the last few it delivered."""
    key = (item_id, number)
    revision = _revisions.get(key)
    if revision is None:
        revision = Revision.objects.filter(item_id=item_id, number=number).first()
        if revision is None:
            return None
        _revisions[key] = revision
        while len(_revisions) > 32:
            _revisions.popitem(last=False)
    return revision


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run(
    sub_id: str,
    revision: int,
    trigger: str = Delivery.Trigger.PUBLISH,
    *,
    wrap: ClientWrapper | None = None,
) -> str:
    """Deliver the revision a subscription wants. Returns what happened (for logs and tests).

    ``revision`` is the one the message was sent for; the subscription's ``target_revision``
    decides. ``wrap`` lets a test put itself between the kind and the Octopus client.
    """
    if paused(cached=True):
        return "paused"
    sub = (
        Subscription.objects.select_related("item__publisher__instance", "space__instance")
        .filter(pk=sub_id)
        .first()
    )
    if sub is None or sub.status == Subscription.Status.UNMANAGED:
        return "gone"
    if sub.item.paused:
        return "paused"
    if sub.status == Subscription.Status.FAILED and trigger == Delivery.Trigger.RETRY:
        due = sub.next_retry_at
        if due is not None and due > timezone.now() + timedelta(seconds=2):
            return "not due"
    if (
        sub.status in (Subscription.Status.IN_SYNC, Subscription.Status.UPDATE_AVAILABLE)
        and sub.delivered_revision == sub.target_revision
    ):
        return "current"
    claim = _claim(sub)
    if claim is None:
        return "busy"
    outcome = "gone"
    try:
        for _round in range(MAX_ROUNDS):
            outcome = _deliver_once(claim, trigger, wrap)
            if outcome == "failed" or claim.released:
                break
            # The target moved on while we wrote: deliver the newer revision now.
            sub.refresh_from_db(fields=["target_revision"])
            sub.item.refresh_from_db(fields=["latest_revision"])
    finally:
        if not claim.released:
            _release(claim)
    return outcome


def _deliver_once(claim: Claim, trigger: str, wrap: ClientWrapper | None) -> str:
    from sharing.services.items import secrets_digest, secrets_of

    sub = claim.sub
    item = sub.item
    number = sub.target_revision or item.latest_revision
    revision = _revision(item.pk, number)
    if revision is None:
        return "gone"
    note = ""
    if trigger == Delivery.Trigger.DRIFT and sub.drift:
        # Keep what had drifted: the subscription's drift list is cleared once re-applied.
        note = "Re-applied after drift: " + "; ".join(
            f"{d.get('name')}: {d.get('change')}" for d in sub.drift[:20]
        )
    attempt = Delivery.objects.create(
        subscription=sub,
        revision=number,
        trigger=trigger,
        worker=worker_name()[:200],
        message=note[:2000],
    )
    started = time.monotonic()
    counting: CountingClient | None = None
    try:
        secrets = secrets_of(revision)
        with client_for(sub.space.instance, http=shared_http()) as client:
            counting = CountingClient(client)
            if wrap is not None:
                counting = wrap(counting)
            written = kind_for(item.kind).deliver(
                counting, target_for(sub), revision.content, secrets, secrets_digest(secrets)
            )
        del secrets
    except Exception as exc:  # every failure is recorded; nothing escapes to Celery
        error_class, message = classify(exc)
        _failed(claim, attempt, error_class, message, counting, started)
        return "failed"
    _succeeded(claim, attempt, number, written, counting, started)
    return "written" if written.changed else "unchanged"


def _finish_attempt(
    attempt: Delivery, outcome: str, counting: CountingClient | None, started: float, **fields: Any
) -> None:
    Delivery.objects.filter(pk=attempt.pk).update(
        outcome=outcome,
        requests=counting.requests if counting else 0,
        finished_at=timezone.now(),
        duration_ms=int((time.monotonic() - started) * 1000),
        **fields,
    )


def _succeeded(
    claim: Claim,
    attempt: Delivery,
    number: int,
    written: Written,
    counting: CountingClient | None,
    started: float,
) -> None:
    sub = claim.sub
    status = Subscription.Status.IN_SYNC
    if sub.effective_mode == Subscription.Mode.ON_DEMAND and not sub.pinned_revision:
        latest = SharedItem.objects.values_list("latest_revision", flat=True).get(pk=sub.item_id)
        if number < latest:
            status = Subscription.Status.UPDATE_AVAILABLE
    copy = {
        "delivered_revision": number,
        "octopus_id": written.octopus_id,
        "octopus_child_id": written.octopus_child_id,
        "octopus_version": written.octopus_version,
        "secrets_digest": written.secrets_digest,
        "error_class": "",
        "error_message": "",
        "failing_since": None,
        "consecutive_failures": 0,
        "next_retry_at": None,
        "drift": [],
        "last_synced_at": timezone.now(),
    }
    outcome = Delivery.Outcome.WRITTEN if written.changed else Delivery.Outcome.UNCHANGED
    mine = Subscription.objects.filter(pk=sub.pk, claim_token=claim.token)
    if sub.failing_since is not None and mine.filter(alert_sent_at__isnull=False).update(
        alert_sent_at=None
    ):
        from sharing.services.alerts import send_recovery

        transaction.on_commit(lambda: send_recovery(str(sub.pk)))
    # Two autocommit statements, no transaction: the subscription first (what matters), then
    # the attempt. Usually the one UPDATE records the copy and releases the claim; if a newer
    # revision became the target meanwhile, the claim is kept for the next round.
    claim.released = bool(
        mine.filter(target_revision__lte=number).update(
            **copy, status=status, claim_token=None, claimed_until=None
        )
    )
    if not claim.released:
        mine.update(**copy, status=Subscription.Status.QUEUED)
    _finish_attempt(attempt, outcome, counting, started)
    logger.info(
        "delivered %s r%s to subscription %s (%s, %s requests)",
        sub.item.kind,
        number,
        sub.pk,
        outcome,
        counting.requests if counting else 0,
    )


def _failed(
    claim: Claim,
    attempt: Delivery,
    error_class: str,
    message: str,
    counting: CountingClient | None,
    started: float,
) -> None:
    sub = claim.sub
    now = timezone.now()
    failures = sub.consecutive_failures + 1
    delay = backoff_seconds(failures)
    with transaction.atomic():
        _finish_attempt(
            attempt,
            Delivery.Outcome.FAILED,
            counting,
            started,
            error_class=error_class,
            message=message[:2000],
        )
        Subscription.objects.filter(pk=sub.pk, claim_token=claim.token).update(
            status=Subscription.Status.FAILED,
            error_class=error_class,
            error_message=message[:2000],
            failing_since=sub.failing_since or now,
            consecutive_failures=F("consecutive_failures") + 1,
            next_retry_at=now + timedelta(seconds=delay),
        )
    logger.warning(
        "delivery of r%s to subscription %s failed (%s); retry in %.0f s",
        attempt.revision,
        sub.pk,
        error_class,
        delay,
    )
    if delay <= 600:
        # A prompt retry; the sweep re-queues it too if this message is lost.
        transaction.on_commit(
            lambda: _send([sub.pk], attempt.revision, Delivery.Trigger.RETRY, countdown=delay)
        )


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
    free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    due = (
        Q(status=Subscription.Status.FAILED, next_retry_at__lte=now)
        | Q(status=Subscription.Status.QUEUED, queued_at__lte=now - timedelta(seconds=wait))
        | Q(status=Subscription.Status.SYNCING, claimed_until__lt=now)
    )
    with transaction.atomic():
        subs = list(
            Subscription.objects.select_for_update(skip_locked=True, of=("self",))
            .exclude(item__paused=True)
            .filter(free)
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
            transaction.on_commit(
                lambda ids=ids, number=number: _send(ids, number, Delivery.Trigger.SWEEP)  # type: ignore[misc]
            )
    return len(subs)


# -- giving copies up ---------------------------------------------------------------------


def release_copies(ids: list[uuid.UUID]) -> None:
    """After commit, mark each copy in Octopus as no longer managed by ODCM (best effort)."""
    if not ids:
        return
    from sharing.tasks import release_copy

    transaction.on_commit(lambda: [release_copy.delay(str(pk)) for pk in ids])


RELEASED_NOTE = "No longer managed by ODCM: this copy is no longer updated and may be edited."


def release(sub_id: str) -> bool:
    """Rewrite the copy's description to say ODCM no longer manages it."""
    sub = (
        Subscription.objects.select_related("space__instance", "item")
        .filter(pk=sub_id, status=Subscription.Status.UNMANAGED)
        .first()
    )
    if sub is None or not sub.octopus_id:
        return False
    collection = {
        SharedItem.Kind.VARIABLE_SET: "libraryvariablesets",
        SharedItem.Kind.STEP_TEMPLATE: "actiontemplates",
    }[SharedItem.Kind(sub.item.kind)]
    path = f"/api/{sub.space.octopus_id}/{collection}/{sub.octopus_id}"
    try:
        with client_for(sub.space.instance, http=shared_http()) as client:
            doc = client.get(path)
            doc["Description"] = RELEASED_NOTE
            doc.pop("Links", None)
            client.put(path, doc)
    except (OctopusError, CryptoError) as exc:
        logger.warning(
            "could not mark subscription %s's copy unmanaged: %s", sub.pk, classify(exc)[0]
        )
        return False
    return True
