"""Celery tasks: thin wrappers taking ids; the logic is in rollouts.services."""

from __future__ import annotations

from celery import shared_task

from rollouts.services import alerts, engine, orchestration, pipelines


@shared_task(time_limit=55, soft_time_limit=50, acks_late=True)
def advance(rollout_id: str) -> str:
    return engine.advance(rollout_id)


@shared_task(time_limit=30, soft_time_limit=25)
def tick() -> int:
    """Periodic: one advance per moving rollout; restart the follow loop of stale runs; step
    the revisions moving through pipeline stages."""
    return engine.tick() + orchestration.tick() + pipelines.tick()


@shared_task(time_limit=60, soft_time_limit=50, acks_late=True)
def notify_halt(rollout_id: str) -> bool:
    return alerts.notify_halt(rollout_id)


@shared_task(time_limit=110, soft_time_limit=100, acks_late=True)
def follow_run(run_id: str) -> str:
    return orchestration.follow(run_id)


@shared_task(time_limit=110, soft_time_limit=100, acks_late=True)
def cancel_run_tasks(run_id: str) -> int:
    return orchestration.cancel_tasks(run_id)
