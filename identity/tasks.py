"""Celery tasks: thin wrappers taking ids; the logic is in identity.teams."""

from __future__ import annotations

from celery import shared_task

from identity import teams


@shared_task(time_limit=280, soft_time_limit=260, acks_late=True, ignore_result=True)
def sync_spaces(space_ids: list[str]) -> None:
    """Push these spaces' managed teams to Octopus (after a grant, revoke or group change)."""
    busy = teams.sync_spaces(space_ids)
    if busy:  # another worker is on them: come back when it is likely done
        sync_spaces.apply_async((busy,), countdown=2)


@shared_task(time_limit=280, soft_time_limit=260, ignore_result=True)
def retry_due() -> int:
    """Periodic: retry managed teams that failed (instance offline...) once their time comes."""
    due = teams.due_spaces()
    if due:
        teams.sync_spaces(due, only_due=True)
    return len(due)


@shared_task(time_limit=900, soft_time_limit=870, ignore_result=True)
def reconcile() -> int:
    """Periodic: compare every managed team with Octopus and put back what drifted."""
    spaces = teams.all_managed_spaces()
    for start in range(0, len(spaces), 200):
        teams.sync_spaces(spaces[start : start + 200])
    return len(spaces)
