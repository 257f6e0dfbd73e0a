"""Celery tasks: thin wrappers taking ids; the logic is in identity.services.teams.

A push runs as tasks of up to ``ODCM_FANOUT_BATCH_SIZE`` spaces (an instance's spaces in one
task); a task pushes its spaces concurrently (``odcm.fanout``), a task given more splits
itself so the work spreads over the worker processes.
"""

from __future__ import annotations

from celery import shared_task

from identity.models import OctopusSignIn
from identity.services import grant_rules, octopus_signin, teams


@shared_task(time_limit=280, soft_time_limit=260, acks_late=True, ignore_result=True)
def sync_spaces(space_ids: list[str], only_due: bool = False) -> None:
    """Push these spaces' managed teams to Octopus (after a grant, revoke or group change)."""
    groups = teams.batches(space_ids)
    if len(groups) > 1:
        for ids in groups:
            sync_spaces.delay(ids, only_due)
        return
    busy = teams.sync_spaces(space_ids, only_due=only_due)
    if busy:  # another worker is on them: come back when it is likely done
        sync_spaces.apply_async((busy, only_due), countdown=2)


@shared_task(time_limit=120, soft_time_limit=110, ignore_result=True)
def retry_due() -> int:
    """Periodic: retry managed teams that failed (instance offline...) once their time comes."""
    due = teams.due_spaces()
    for ids in teams.batches(due):
        sync_spaces.delay(ids, True)
    return len(due)


@shared_task(time_limit=120, soft_time_limit=110, ignore_result=True)
def reconcile() -> int:
    """Periodic: compare every managed team with Octopus and put back what drifted."""
    spaces = teams.all_managed_spaces()
    for ids in teams.batches(spaces):
        sync_spaces.delay(ids)
    return len(spaces)


@shared_task(time_limit=150, soft_time_limit=140, acks_late=True, ignore_result=True)
def configure_octopus_sign_in(sign_in_id: str) -> None:
    """Configure an instance's OpenID Connect provider to sign in through ODCM."""
    if not OctopusSignIn.objects.filter(pk=sign_in_id).exists():
        return
    octopus_signin.configure(sign_in_id)


@shared_task(time_limit=280, soft_time_limit=260, acks_late=True, ignore_result=True)
def apply_grant_rules() -> int:
    """Periodic, and after an instance's tags, region or enlisting changed: keep every grant
    rule's instance grants matching the fleet (idempotent)."""
    return grant_rules.apply_all()


@shared_task(time_limit=280, soft_time_limit=260, acks_late=True, ignore_result=True)
def end_octopus_sessions(user_ids: list[int], instance_ids: list[str] | None = None) -> None:
    """End these people's Octopus sessions (they lost a grant, or were deactivated)."""
    from identity.services import octopus_sessions

    for user_id in user_ids:
        octopus_sessions.end_sessions(user_id, instance_ids)
