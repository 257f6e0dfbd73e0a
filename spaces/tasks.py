"""Thin Celery wrappers around spaces.services (ids in, nothing secret in arguments)."""

from __future__ import annotations

import logging

from celery import shared_task

from spaces import services
from spaces.models import Instance
from spaces.services import RegistryError

log = logging.getLogger(__name__)


@shared_task(acks_late=True, time_limit=300, soft_time_limit=240)
def refresh_instance(instance_id: str) -> str:
    """Refresh one instance's spaces; a failure is logged and left for the next sweep."""
    instance = Instance.objects.filter(pk=instance_id).first()
    if instance is None:
        return "gone"
    try:
        return str(services.refresh_instance(instance))
    except RegistryError as exc:
        log.warning("refresh of %s failed: %s", instance.name, exc.code)
        return f"failed: {exc.code}"


@shared_task(acks_late=True, time_limit=60, soft_time_limit=50)
def refresh_all() -> int:
    """Queue a refresh of every instance (periodic; idempotent, safe to run twice)."""
    ids = [str(pk) for pk in Instance.objects.values_list("pk", flat=True)]
    for pk in ids:
        refresh_instance.delay(pk)
    return len(ids)
