"""Deliveries: claim, write a revision into a subscriber space, record, retry. (Queueing,
the pause switch and the sweep are in ``queueing``; the Octopus side of a copy in ``copies``.)

Guarantees:

* One Celery message per subscription and revision carries only ids and a number. The
  database holds the truth (``Subscription.target_revision``); a message for an older revision
  delivers the newest wanted one, and a duplicate message finds nothing to do.
* A worker claims a subscription with a lease (``odcm.work.claim``: a conditional UPDATE);
  two workers never deliver the same subscription at once. A worker that dies loses its claim
  when the lease ends; the periodic ``queueing.sweep`` re-queues its work and marks its
  attempt abandoned.
* Every attempt leaves a :class:`~sharing.models.Delivery` row before and after it.
* Failures retry with capped exponential backoff until they succeed; the sweep re-queues due
  retries, so nothing depends on a Celery countdown surviving a restart.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from odcm import work
from odcm.clients import client_for
from sharing.kinds import Calls, CountingClient, Target, Written, kind_for
from sharing.models import Delivery, Revision, SharedItem, Subscription
from sharing.secrets import secrets_digest, secrets_of
from sharing.services.alerts import send_recovery
from sharing.services.copies import classify, shared_http, target_for
from sharing.services.queueing import ABANDONED, paused, send_deliveries

logger = logging.getLogger("sharing.delivery")

MAX_ROUNDS = 3  # deliveries in one task when the target moves on while we write

ClientWrapper = Callable[[CountingClient], CountingClient]


# -- running a delivery -------------------------------------------------------------------


def backoff_seconds(failures: int) -> float:
    return work.backoff(
        failures,
        base=settings.ODCM_SHARING_RETRY_BASE_SECONDS,
        cap=settings.ODCM_SHARING_RETRY_MAX_SECONDS,
        jitter=0.1,
    )


@dataclass
class Claim:
    sub: Subscription
    lease: work.Lease
    released: bool = False

    def mine(self) -> Any:
        """The subscription, while the claim is still ours."""
        return work.mine(Subscription.objects.all(), self.lease)


def _claim(sub: Subscription) -> Claim | None:
    now = timezone.now()
    lease = work.claim(
        Subscription.objects.exclude(status=Subscription.Status.UNMANAGED),
        sub.pk,
        seconds=settings.ODCM_SHARING_CLAIM_SECONDS,
        now=now,
        status=Subscription.Status.SYNCING,
    )
    if lease is None:
        return None
    if sub.claimed_until is not None:
        # The previous claim expired without being released: its worker died, and any
        # attempt it left "running" never finished.
        Delivery.objects.filter(subscription=sub, outcome=Delivery.Outcome.RUNNING).update(
            outcome=Delivery.Outcome.ABANDONED, finished_at=now, message=ABANDONED
        )
    sub.claim_token, sub.claimed_until = lease.token, lease.until
    sub.status = Subscription.Status.SYNCING
    return Claim(sub, lease)


def claim_many(subs: list[Subscription]) -> list[Claim]:
    """``_claim`` for many subscriptions in two statements (one conditional UPDATE, one read
    of what it won) instead of one or two each; those another worker holds are left out."""
    if not subs:
        return []
    now = timezone.now()
    leases = work.claim_each(
        Subscription.objects.exclude(status=Subscription.Status.UNMANAGED),
        [sub.pk for sub in subs],
        seconds=settings.ODCM_SHARING_CLAIM_SECONDS,
        now=now,
        status=Subscription.Status.SYNCING,
    )
    won = {lease.pk: lease for lease in leases}
    claims = []
    for sub in subs:
        lease = won.get(sub.pk)
        if lease is not None:
            claims.append(Claim(sub, lease))
    # As in _claim: an expired claim's worker died, and its "running" attempt never finished.
    lost = [c.sub.pk for c in claims if c.sub.claimed_until is not None]
    if lost:
        Delivery.objects.filter(subscription__in=lost, outcome=Delivery.Outcome.RUNNING).update(
            outcome=Delivery.Outcome.ABANDONED, finished_at=now, message=ABANDONED
        )
    for claim in claims:
        claim.sub.claim_token, claim.sub.claimed_until = claim.lease.token, claim.lease.until
        claim.sub.status = Subscription.Status.SYNCING
    return claims


def _release(claim: Claim) -> None:
    work.release(Subscription.objects.all(), claim.lease)


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


def skip_reason(sub: Subscription, trigger: str) -> str | None:
    """Why a message finds nothing to do for this subscription (None: deliver)."""
    if sub.status == Subscription.Status.UNMANAGED:
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
    return None


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
    if sub is None:
        return "gone"
    reason = skip_reason(sub, trigger)
    if reason is not None:
        return reason
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


@dataclass
class Attempt:
    """One write of a revision into a subscriber space: its ``Delivery`` row is already saved
    ("running"); :func:`write` talks to Octopus (no database), :func:`finish` records."""

    claim: Claim
    row: Delivery
    number: int
    content: dict[str, Any]
    target: Target
    kind: str
    started: float
    counting: CountingClient | None = None
    written: Written | None = None
    error: BaseException | None = None


def begin(claim: Claim, trigger: str) -> Attempt | None:
    """The attempt's ``Delivery`` row (database only). None: the revision is gone."""
    attempt = _prepare(claim, trigger)
    if attempt is not None:
        attempt.row.save(force_insert=True)
    return attempt


def begin_many(claims: list[Claim], trigger: str) -> list[Attempt | None]:
    """``begin`` for many claims, their rows written in one INSERT."""
    attempts = [_prepare(claim, trigger) for claim in claims]
    Delivery.objects.bulk_create([a.row for a in attempts if a is not None])
    return attempts


def _prepare(claim: Claim, trigger: str) -> Attempt | None:
    """The attempt with its ``Delivery`` row not yet saved. None: the revision is gone."""
    sub = claim.sub
    item = sub.item
    number = sub.target_revision or item.latest_revision
    revision = _revision(item.pk, number)
    if revision is None:
        return None
    note = ""
    if trigger == Delivery.Trigger.DRIFT and sub.drift:
        # Keep what had drifted: the subscription's drift list is cleared once re-applied.
        note = "Re-applied after drift: " + "; ".join(
            f"{d.get('name')}: {d.get('change')}" for d in sub.drift[:20]
        )
    row = Delivery(
        subscription=sub,
        revision=number,
        trigger=trigger,
        worker=worker_name()[:200],
        message=note[:2000],
    )
    return Attempt(
        claim, row, number, revision.content, target_for(sub), item.kind, time.monotonic()
    )


def write(
    attempt: Attempt, client: Calls, secrets: dict[str, str], wrap: ClientWrapper | None = None
) -> Attempt:
    """Write the attempt's revision through ``client`` (HTTP only: safe in a fan-out thread).
    The outcome (or the error) is kept on the attempt for :func:`finish`."""
    try:
        counting = CountingClient(client)
        attempt.counting = wrap(counting) if wrap is not None else counting
        attempt.written = kind_for(attempt.kind).deliver(
            attempt.counting, attempt.target, attempt.content, secrets, secrets_digest(secrets)
        )
    except Exception as exc:  # every failure is recorded; nothing escapes to Celery
        attempt.error = exc
    return attempt


ROW_FIELDS = ["outcome", "requests", "finished_at", "duration_ms", "error_class", "message"]


def finish(attempt: Attempt, rows: list[Delivery] | None = None) -> str:
    """Record what :func:`write` did (database only). With ``rows`` the attempt's
    ``Delivery`` row is not updated here but appended, for the caller to write together with
    others (``bulk_update`` of ``ROW_FIELDS``) in the same transaction."""
    if attempt.written is None:
        error_class, message = classify(attempt.error or RuntimeError())
        _failed(
            attempt.claim,
            attempt.row,
            error_class,
            message,
            attempt.counting,
            attempt.started,
            rows,
        )
        return "failed"
    written = attempt.written
    _succeeded(
        attempt.claim,
        attempt.row,
        attempt.number,
        written,
        attempt.counting,
        attempt.started,
        rows,
    )
    return "written" if written.changed else "unchanged"


def _deliver_once(claim: Claim, trigger: str, wrap: ClientWrapper | None) -> str:
    attempt = begin(claim, trigger)
    if attempt is None:
        return "gone"
    try:
        secrets = secrets_of(_revision(claim.sub.item_id, attempt.number))
        with client_for(claim.sub.space.instance, http=shared_http()) as client:
            write(attempt, client, secrets, wrap)
        del secrets
    except Exception as exc:  # a key that cannot be opened, a refused URL: recorded too
        attempt.error = exc
    return finish(attempt)


def _finish_attempt(
    attempt: Delivery,
    outcome: str,
    counting: CountingClient | None,
    started: float,
    rows: list[Delivery] | None = None,
    **fields: Any,
) -> None:
    changes = {
        "outcome": outcome,
        "requests": counting.requests if counting else 0,
        "finished_at": timezone.now(),
        "duration_ms": int((time.monotonic() - started) * 1000),
        **fields,
    }
    if rows is None:
        Delivery.objects.filter(pk=attempt.pk).update(**changes)
        return
    for name, value in changes.items():
        setattr(attempt, name, value)
    rows.append(attempt)


def wants_latest(sub: Subscription) -> bool:
    """An on-demand subscription following the newest revision: once written, it is "update
    available" if a newer revision exists."""
    return sub.effective_mode == Subscription.Mode.ON_DEMAND and not sub.pinned_revision


def copy_fields(number: int, written: Written) -> dict[str, Any]:
    """What a successful delivery records on its subscription."""
    return {
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


def _succeeded(
    claim: Claim,
    attempt: Delivery,
    number: int,
    written: Written,
    counting: CountingClient | None,
    started: float,
    rows: list[Delivery] | None = None,
) -> None:
    sub = claim.sub
    status = Subscription.Status.IN_SYNC
    if wants_latest(sub):
        latest = SharedItem.objects.values_list("latest_revision", flat=True).get(pk=sub.item_id)
        if number < latest:
            status = Subscription.Status.UPDATE_AVAILABLE
    copy = copy_fields(number, written)
    outcome = Delivery.Outcome.WRITTEN if written.changed else Delivery.Outcome.UNCHANGED
    mine = claim.mine()
    if sub.failing_since is not None and mine.filter(alert_sent_at__isnull=False).update(
        alert_sent_at=None
    ):
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
    _finish_attempt(attempt, outcome, counting, started, rows)
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
    rows: list[Delivery] | None = None,
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
            rows,
            error_class=error_class,
            message=message[:2000],
        )
        claim.mine().update(
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
        send_deliveries([sub.pk], attempt.revision, Delivery.Trigger.RETRY, countdown=delay)
