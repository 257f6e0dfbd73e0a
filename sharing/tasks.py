"""Celery tasks: thin wrappers taking ids; the logic is in sharing.services."""

from __future__ import annotations

import logging

from celery import shared_task

from sharing.services import (
    alerts,
    copies,
    delivery,
    drift,
    fanout,
    queueing,
    subscription_rules,
    trusts,
)

logger = logging.getLogger(__name__)


@shared_task(time_limit=150, soft_time_limit=140, acks_late=True)
def deliver(subscription_id: str, revision: int, trigger: str = "publish") -> str:
    return delivery.run(subscription_id, revision, trigger)


@shared_task(time_limit=600, soft_time_limit=570, acks_late=True)
def deliver_many(subscription_ids: list[str], revision: int, trigger: str = "publish") -> str:
    """A revision for many subscriptions (a fan-out): delivered concurrently."""
    outcomes = fanout.run_many(subscription_ids, revision, trigger)
    return ", ".join(f"{k}={v}" for k, v in sorted(outcomes.items()))


@shared_task(time_limit=120, soft_time_limit=110)
def sweep() -> int:
    """Periodic: re-queue due retries and lost work; failure alerts; tag trusts."""
    count = queueing.sweep()
    # Each step runs even if another fails: a broken email must not stop the re-queueing
    # of deliveries or the tag trusts, nor the other way round.
    for step in (alerts.check_failures, trusts.extend_tag_trusts):
        try:
            step()
        except Exception:
            logger.exception("sharing sweep: %s failed", step.__name__)
    return count


@shared_task(time_limit=120, soft_time_limit=110)
def check_drift_all() -> int:
    """Periodic: one drift check per delivered subscription."""
    ids = drift.candidates()
    for sub_id in ids:
        check_drift.delay(sub_id)
    return len(ids)


@shared_task(time_limit=120, soft_time_limit=110)
def check_drift(subscription_id: str) -> str:
    return drift.check(subscription_id)


@shared_task(time_limit=120, soft_time_limit=110)
def release_copy(subscription_id: str) -> bool:
    return copies.release(subscription_id)


@shared_task(time_limit=280, soft_time_limit=260, acks_late=True, ignore_result=True)
def apply_subscription_rules() -> int:
    """Periodic, and after the fleet changed (an instance enlisted, tagged or moved, a space
    enlisted): keep every subscription rule's subscriptions matching it (idempotent)."""
    return subscription_rules.apply_all()
