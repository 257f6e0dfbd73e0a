"""Celery tasks: thin wrappers taking ids; the logic is in managed.services."""

from __future__ import annotations

from celery import shared_task

from managed.models import Blueprint
from managed.services import broker, templates


@shared_task(time_limit=600, soft_time_limit=570, acks_late=True)
def apply_target(target_id: str) -> str:
    return broker.apply_target(target_id)


@shared_task(time_limit=120, soft_time_limit=110)
def sweep() -> int:
    """Periodic: rule-matched spaces, due retries, lost messages, dead workers' applies and
    template pushes."""
    return broker.sweep() + templates.sweep()


@shared_task(time_limit=120, soft_time_limit=110)
def check_drift_all() -> int:
    ids = broker.drift_candidates()
    for target_id in ids:
        check_drift.delay(target_id)
    return len(ids)


@shared_task(time_limit=120, soft_time_limit=110)
def check_drift(target_id: str) -> str:
    return broker.check_drift(target_id)


@shared_task(time_limit=600, soft_time_limit=570)
def plan_blueprint(blueprint_id: str, prune: bool = False) -> int:
    """Plan every target of a blueprint (reads only); plans are stored on the targets."""
    blueprint = Blueprint.objects.filter(pk=blueprint_id).first()
    if blueprint is None:
        return 0
    return len(broker.plan_targets(blueprint, prune=prune))


@shared_task(time_limit=600, soft_time_limit=570, acks_late=True)
def push_downstream(downstream_id: str) -> str:
    return templates.push_downstream(downstream_id)
