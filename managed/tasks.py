"""Celery tasks: thin wrappers taking ids; the logic is in managed.services."""

from __future__ import annotations

from celery import shared_task

from managed.models import Blueprint, InstanceBaseline
from managed.services import baseline_broker, broker, facades, split, templates


@shared_task(time_limit=600, soft_time_limit=570, acks_late=True)
def apply_target(target_id: str) -> str:
    return broker.apply_target(target_id)


@shared_task(time_limit=120, soft_time_limit=110)
def sweep() -> int:
    """Periodic: rule-matched spaces and instances, due retries, lost messages, dead
    workers' applies, template pushes, splits and instance baselines."""
    return broker.sweep() + templates.sweep() + split.sweep() + baseline_broker.sweep()


@shared_task(time_limit=120, soft_time_limit=110)
def check_drift_all() -> int:
    ids = broker.drift_candidates()
    for target_id in ids:
        check_drift.delay(target_id)
    baseline_ids = baseline_broker.drift_candidates()
    for target_id in baseline_ids:
        check_baseline_drift.delay(target_id)
    return len(ids) + len(baseline_ids)


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


@shared_task(time_limit=900, soft_time_limit=870, acks_late=True)
def run_split(split_id: str) -> str:
    return split.run_split(split_id)


@shared_task(time_limit=600, soft_time_limit=570, acks_late=True)
def sync_customer(customer_id: str) -> str:
    return facades.sync_customer(customer_id)


@shared_task(time_limit=120, soft_time_limit=110)
def sync_customers_all() -> int:
    """Periodic: each customer's facade space checked against the management space."""
    ids = facades.due_customers()
    for customer_id in ids:
        sync_customer.delay(customer_id)
    return len(ids)


@shared_task(time_limit=600, soft_time_limit=570, acks_late=True)
def apply_baseline_target(target_id: str) -> str:
    return baseline_broker.apply_target(target_id)


@shared_task(time_limit=120, soft_time_limit=110)
def check_baseline_drift(target_id: str) -> str:
    return baseline_broker.check_drift(target_id)


@shared_task(time_limit=600, soft_time_limit=570)
def plan_baseline(baseline_id: str, prune: bool = False) -> int:
    """Plan every instance of a baseline (reads only); plans are stored on the targets."""
    baseline = InstanceBaseline.objects.filter(pk=baseline_id).first()
    if baseline is None:
        return 0
    return len(baseline_broker.plan_targets(baseline, prune=prune))
