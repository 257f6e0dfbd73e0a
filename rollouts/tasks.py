"""Celery tasks: thin wrappers taking ids; the logic is in rollouts.services."""

from __future__ import annotations

from celery import shared_task

from rollouts.services import alerts, engine


@shared_task(time_limit=55, soft_time_limit=50, acks_late=True)
def advance(rollout_id: str) -> str:
    return engine.advance(rollout_id)


@shared_task(time_limit=30, soft_time_limit=25)
def tick() -> int:
    """Periodic: one advance per moving rollout."""
    return engine.tick()


@shared_task(time_limit=60, soft_time_limit=50, acks_late=True)
def notify_halt(rollout_id: str) -> bool:
    return alerts.notify_halt(rollout_id)
