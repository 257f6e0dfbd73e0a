"""Monitoring's service layer (views, tasks and commands call these, never each other).

Registry hook: call ``on_instance_enlisted(instance_id)`` after an instance (and its
spaces) has been enlisted or re-enlisted; it schedules a status check, an inventory read
and a 90-day deployment backfill once the transaction commits.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction


def on_instance_enlisted(instance_id: Any) -> None:
    """Schedule the first checks and the deployment backfill for a newly enlisted instance."""
    from monitoring import tasks

    transaction.on_commit(lambda: tasks.instance_enlisted.delay(str(instance_id)), robust=True)


def on_space_enlisted(space_id: Any) -> None:
    """Same for one space enlisted later on an instance that is already monitored."""
    from monitoring import tasks

    transaction.on_commit(lambda: tasks.backfill_space.delay(str(space_id)), robust=True)
