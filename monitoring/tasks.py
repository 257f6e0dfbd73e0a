"""Celery wrappers: thin, take ids, call services."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings

from monitoring.services import alerts, deployments, inventory, status
from spaces.models import Instance, Space


@shared_task(soft_time_limit=240, time_limit=270)
def sweep_status() -> dict[str, int] | None:
    return status.sweep_status()


@shared_task(soft_time_limit=600, time_limit=660)
def sweep_inventory() -> dict[str, int] | None:
    return inventory.sweep_inventory()


@shared_task(soft_time_limit=1700, time_limit=1800)
def pull_deployments() -> dict[str, int] | None:
    return deployments.pull_all()


@shared_task(soft_time_limit=150, time_limit=180)
def dispatch_alerts() -> dict[str, int]:
    return alerts.dispatch(max_seconds=120.0)


@shared_task(soft_time_limit=1700, time_limit=1800)
def instance_enlisted(instance_id: str) -> dict[str, Any] | None:
    if not Instance.objects.filter(pk=instance_id).exists():
        return None
    spaces = list(
        Space.objects.filter(instance_id=instance_id, state=Space.State.ENLISTED).select_related(
            "instance"
        )
    )
    inventory_done = inventory.refresh_counts(spaces)
    return {
        "inventory": inventory_done,
        "deployments": deployments.backfill(spaces, settings.ODCM_DEPLOYMENTS_BACKFILL_DAYS),
    }


@shared_task(soft_time_limit=1700, time_limit=1800)
def backfill_space(space_id: str) -> dict[str, int] | None:
    space = Space.objects.filter(pk=space_id).select_related("instance").first()
    if space is None:
        return None
    return deployments.backfill([space], settings.ODCM_DEPLOYMENTS_BACKFILL_DAYS)
