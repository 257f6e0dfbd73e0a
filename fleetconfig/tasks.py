"""Celery tasks: poll the configured Git sources (beat)."""

from __future__ import annotations

from celery import shared_task

from fleetconfig import gitops
from fleetconfig.models import GitSource


@shared_task(time_limit=600, soft_time_limit=570, acks_late=True)
def poll_git_sources() -> int:
    """Plan (and apply, if automatic) each enabled source's newest commit. Idempotent: a
    source another worker holds is skipped; a commit already planned is not planned again."""
    polled = 0
    for source in GitSource.objects.filter(enabled=True):
        gitops.poll(source)
        polled += 1
    return polled


@shared_task(time_limit=600, soft_time_limit=570, acks_late=True)
def poll_git_source(source_id: str) -> None:
    source = GitSource.objects.filter(pk=source_id).first()
    if source is not None:
        gitops.poll(source, force=True)
