"""Delivering one revision to many subscriptions at once (a fan-out), in one worker process.

The guarantees are those of ``delivery.run`` for each subscription: a lease per subscription
(``odcm.work.claim``), a ``Delivery`` row before and after every attempt, the same outcome
recording and retries, a duplicate message finding nothing to do. Only the waiting on Octopus
is shared: every claimed subscription's write runs concurrently through ``odcm.fanout`` (at
most ``ODCM_OCTOPUS_PER_INSTANCE_CONCURRENCY`` requests at once per Octopus server), while the
database work stays in the task's own thread, before and after.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any

from django.db import transaction

from odcm import fanout
from odcm.bulk import update_each
from sharing.models import Delivery, SharedItem, Subscription
from sharing.secrets import secrets_of
from sharing.services.alerts import send_recovery
from sharing.services.delivery import (
    MAX_ROUNDS,
    ROW_FIELDS,
    Attempt,
    Claim,
    _finish_attempt,
    _release,
    _revision,
    begin_many,
    claim_many,
    copy_fields,
    finish,
    skip_reason,
    wants_latest,
    write,
)
from sharing.services.queueing import paused

logger = logging.getLogger("sharing.delivery")


def run_many(
    sub_ids: list[str], revision: int, trigger: str = Delivery.Trigger.PUBLISH
) -> Counter[str]:
    """Deliver what each of these subscriptions wants, concurrently. Returns how many ended
    each way ("written", "unchanged", "failed", "busy", "current", ...)."""
    outcomes: Counter[str] = Counter()
    if paused(cached=True):
        outcomes["paused"] = len(sub_ids)
        return outcomes
    subs = list(
        Subscription.objects.select_related("item__publisher__instance", "space__instance")
        .filter(pk__in=sub_ids)
        .order_by("pk")
    )
    outcomes["gone"] = len(set(sub_ids)) - len(subs)
    # One commit for all the claims (and below, for all the attempts' rows and for all the
    # outcomes), not one per statement: with synchronous commit each commit waits for the
    # disk, which at fleet size cost more than the requests to Octopus. No transaction is
    # open while Octopus is called.
    wanted: list[Subscription] = []
    for sub in subs:
        reason = skip_reason(sub, trigger)
        if reason is None:
            wanted.append(sub)
        else:
            outcomes[reason] += 1
    with transaction.atomic():
        claims = claim_many(wanted)
    outcomes["busy"] += len(wanted) - len(claims)
    last: dict[Any, str] = {}
    try:
        active = claims
        for _round in range(MAX_ROUNDS):
            if not active:
                break
            ended = _round_of(active, trigger)
            active = []
            for claim, outcome in ended:
                last[claim.sub.pk] = outcome
                if outcome in ("failed", "gone") or claim.released:
                    continue
                # The target moved on while we wrote: deliver the newer revision next round.
                claim.sub.refresh_from_db(fields=["target_revision"])
                claim.sub.item.refresh_from_db(fields=["latest_revision"])
                active.append(claim)
    finally:
        for claim in claims:
            if not claim.released:
                _release(claim)
    outcomes.update(last.values())
    return +outcomes


def _round_of(claims: list[Claim], trigger: str) -> list[tuple[Claim, str]]:
    """One attempt per claim: rows first, every write at once, then every outcome."""
    ended: list[tuple[Claim, str]] = []
    attempts: list[Attempt] = []
    t0 = time.monotonic()
    with transaction.atomic():
        for claim, attempt in zip(claims, begin_many(claims, trigger), strict=True):
            if attempt is None:
                ended.append((claim, "gone"))
            else:
                attempts.append(attempt)
    # Secrets are opened once per revision, kept in memory for the writes, then dropped.
    secrets: dict[tuple[Any, int], dict[str, str]] = {}
    jobs: list[fanout.Job[Attempt]] = []
    for attempt in attempts:
        key = (attempt.claim.sub.item_id, attempt.number)
        if key not in secrets:
            secrets[key] = secrets_of(_revision(*key))
        job: Callable[[fanout.BridgedClient], Attempt] = partial(_write, attempt, secrets[key])
        jobs.append((attempt.claim.sub.space.instance, job))
    t1 = time.monotonic()
    results = fanout.run(jobs)
    t2 = time.monotonic()
    secrets.clear()
    rows: list[Delivery] = []
    written: list[Attempt] = []
    with transaction.atomic():
        for attempt, result in zip(attempts, results, strict=True):
            if isinstance(result, BaseException):  # not from the kind: write() keeps those
                attempt.error = result
            if attempt.written is None:
                ended.append((attempt.claim, finish(attempt, rows)))  # failed: one by one
            else:
                written.append(attempt)
        ended.extend(_succeeded_many(written, rows))
        # Every attempt's row in one UPDATE, in the same transaction as the outcomes.
        update_each(
            Delivery,
            [{"id": row.pk, **{f: getattr(row, f) for f in ROW_FIELDS}} for row in rows],
            fields=ROW_FIELDS,
        )
    logger.info(
        "fan-out: %d deliveries, rows %.2fs, Octopus %.2fs, outcomes %.2fs: %s",
        len(attempts),
        t1 - t0,
        t2 - t1,
        time.monotonic() - t2,
        dict(Counter(outcome for _claim_, outcome in ended)),
    )
    return ended


def _succeeded_many(attempts: list[Attempt], rows: list[Delivery]) -> list[tuple[Claim, str]]:
    """``finish`` of successful attempts, their subscriptions recorded (and released) in one
    UPDATE; the same conditions as ``delivery._succeeded`` row by row: only while the claim is
    ours, and released only if no newer revision became the target meanwhile."""
    if not attempts:
        return []
    items = {a.claim.sub.item_id for a in attempts if wants_latest(a.claim.sub)}
    latest = dict(
        SharedItem.objects.filter(pk__in=items).values_list("pk", "latest_revision")
        if items
        else ()
    )
    values = []
    for attempt in attempts:
        sub, written = attempt.claim.sub, attempt.written
        assert written is not None
        status = Subscription.Status.IN_SYNC
        if sub.item_id in latest and wants_latest(sub) and attempt.number < latest[sub.item_id]:
            status = Subscription.Status.UPDATE_AVAILABLE
        if sub.failing_since is not None and attempt.claim.mine().filter(
            alert_sent_at__isnull=False
        ).update(alert_sent_at=None):
            transaction.on_commit(partial(send_recovery, str(sub.pk)))
        values.append(
            {
                "id": sub.pk,
                "claim_token": attempt.claim.lease.token,
                "status": status,
                **copy_fields(attempt.number, written),
            }
        )
    fields = [f for f in values[0] if f not in ("id", "claim_token")]
    released = set(
        update_each(
            Subscription,
            values,
            fields=fields,
            match=("id", "claim_token"),
            where=[("target_revision", "<=", "delivered_revision")],
            also={"claim_token": None, "claimed_until": None},
        )
    )
    ended = []
    for attempt, copy in zip(attempts, values, strict=True):
        claim, written = attempt.claim, attempt.written
        assert written is not None
        claim.released = claim.sub.pk in released
        if not claim.released:  # a newer target (or the claim is lost): kept for next round
            copy = {k: v for k, v in copy.items() if k in fields}
            claim.mine().update(**{**copy, "status": Subscription.Status.QUEUED})
        outcome = Delivery.Outcome.WRITTEN if written.changed else Delivery.Outcome.UNCHANGED
        _finish_attempt(attempt.row, outcome, attempt.counting, attempt.started, rows)
        ended.append((claim, "written" if written.changed else "unchanged"))
    return ended


def _write(attempt: Attempt, secrets: dict[str, str], client: fanout.BridgedClient) -> Attempt:
    return write(attempt, client, secrets)
