"""Monitoring's service layer (views, tasks and commands call these, never each other).

Registry hook: call ``on_instance_enlisted(instance_id)`` after an instance (and its
spaces) has been enlisted or re-enlisted; it schedules a status check, an inventory read
and a 90-day deployment backfill once the transaction commits.
"""

from __future__ import annotations

from typing import Any

from odcm import work


def on_instance_enlisted(instance_id: Any) -> None:
    """Schedule the first checks and the deployment backfill for a newly enlisted instance."""
    work.enqueue("monitoring.tasks.instance_enlisted", str(instance_id))


def on_space_enlisted(space_id: Any) -> None:
    """Same for one space enlisted later on an instance that is already monitored."""
    work.enqueue("monitoring.tasks.backfill_space", str(space_id))
