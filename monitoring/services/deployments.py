"""Deployment rollups: an incremental pull of finished Deploy tasks per space.

Each task is inserted once into ``DeploymentTask`` (unique per space and task id) and only
the rows that insert actually created are added to the daily rollups and the per-space
totals (what /metrics reads), in the same SQL statement, under a per-space transaction
lock. Repeated or overlapping pulls therefore never double count; the watermark only moves
forward.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from monitoring.models import (
    DeploymentCursor,
    DeploymentDay,
    DeploymentTask,
    SpaceDay,
    SpaceTotal,
)
from monitoring.services.checks import PulledTask, pull_spaces
from monitoring.services.status import finish_run, job_run
from spaces.models import Instance, Space

_STORE = """
WITH incoming AS (
    SELECT * FROM unnest(%s::text[], %s::date[], %s::text[], %s::text[], %s::int[])
        AS t(task_id, day, environment_id, state, duration_seconds)
    ORDER BY task_id
), inserted AS (
    INSERT INTO monitoring_deploymenttask
        (space_id, task_id, day, environment_id, state, duration_seconds)
    SELECT %s, task_id, day, environment_id, state, duration_seconds FROM incoming
    ON CONFLICT (space_id, task_id) DO NOTHING
    RETURNING day, environment_id, state, duration_seconds
), per_env AS (
    INSERT INTO monitoring_deploymentday AS d
        (space_id, day, environment_id, succeeded, failed, canceled, timed_out,
         total_duration_seconds)
    SELECT %s, day, environment_id,
        count(*) FILTER (WHERE state = 'Success'), count(*) FILTER (WHERE state = 'Failed'),
        count(*) FILTER (WHERE state = 'Canceled'), count(*) FILTER (WHERE state = 'TimedOut'),
        coalesce(sum(duration_seconds), 0)
    FROM inserted GROUP BY day, environment_id ORDER BY day, environment_id
    ON CONFLICT (space_id, day, environment_id) DO UPDATE SET
        succeeded = d.succeeded + EXCLUDED.succeeded, failed = d.failed + EXCLUDED.failed,
        canceled = d.canceled + EXCLUDED.canceled, timed_out = d.timed_out + EXCLUDED.timed_out,
        total_duration_seconds = d.total_duration_seconds + EXCLUDED.total_duration_seconds
    RETURNING 1
), totals AS (
    INSERT INTO monitoring_spacetotal AS t
        (space_id, succeeded, failed, canceled, timed_out, total_duration_seconds)
    SELECT %s,
        count(*) FILTER (WHERE state = 'Success'), count(*) FILTER (WHERE state = 'Failed'),
        count(*) FILTER (WHERE state = 'Canceled'), count(*) FILTER (WHERE state = 'TimedOut'),
        coalesce(sum(duration_seconds), 0)
    FROM inserted HAVING count(*) > 0
    ON CONFLICT (space_id) DO UPDATE SET
        succeeded = t.succeeded + EXCLUDED.succeeded, failed = t.failed + EXCLUDED.failed,
        canceled = t.canceled + EXCLUDED.canceled, timed_out = t.timed_out + EXCLUDED.timed_out,
        total_duration_seconds = t.total_duration_seconds + EXCLUDED.total_duration_seconds
    RETURNING 1
)
INSERT INTO monitoring_spaceday AS s
    (space_id, day, succeeded, failed, canceled, timed_out, total_duration_seconds)
SELECT %s, day,
    count(*) FILTER (WHERE state = 'Success'), count(*) FILTER (WHERE state = 'Failed'),
    count(*) FILTER (WHERE state = 'Canceled'), count(*) FILTER (WHERE state = 'TimedOut'),
    coalesce(sum(duration_seconds), 0)
FROM inserted GROUP BY day ORDER BY day
ON CONFLICT (space_id, day) DO UPDATE SET
    succeeded = s.succeeded + EXCLUDED.succeeded, failed = s.failed + EXCLUDED.failed,
    canceled = s.canceled + EXCLUDED.canceled, timed_out = s.timed_out + EXCLUDED.timed_out,
    total_duration_seconds = s.total_duration_seconds + EXCLUDED.total_duration_seconds
"""


def start_of_day(days_ago: int) -> datetime:
    today = timezone.now().astimezone(UTC).date()
    first = today - timedelta(days=days_ago)
    return datetime(first.year, first.month, first.day, tzinfo=UTC)


def store(space_id: Any, tasks: Iterable[PulledTask]) -> int:
    """Count these tasks into the rollups once; returns how many were new."""
    rows = sorted(tasks, key=lambda t: t.task_id)
    if not rows:
        return 0
    if connection.vendor != "postgresql":
        return _store_portable(space_id, rows)
    DeploymentCursor.objects.get_or_create(space_id=space_id)
    with transaction.atomic(), connection.cursor() as cursor:
        # One writer per space at a time: overlapping pulls queue here (on the space's cursor
        # row) instead of racing.
        list(DeploymentCursor.objects.select_for_update().filter(pk=space_id).values("pk"))
        cursor.execute(
            "SELECT count(*) FROM monitoring_deploymenttask WHERE space_id = %s "
            "AND task_id = ANY(%s::text[])",
            [space_id, [t.task_id for t in rows]],
        )
        known = int(cursor.fetchone()[0])
        cursor.execute(
            _STORE,
            [
                [t.task_id for t in rows],
                [t.day for t in rows],
                [t.environment_id for t in rows],
                [t.state for t in rows],
                [t.duration_seconds for t in rows],
                space_id,
                space_id,
                space_id,
                space_id,
            ],
        )
        _advance(space_id, rows)
    return len(rows) - known


def _advance(space_id: Any, rows: list[PulledTask]) -> None:
    newest = max(t.completed for t in rows)
    DeploymentCursor.objects.filter(pk=space_id).filter(
        Q(watermark__isnull=True) | Q(watermark__lt=newest)
    ).update(watermark=newest)


def _store_portable(space_id: Any, rows: list[PulledTask]) -> int:
    """The same effect without PostgreSQL's SQL (the SQLite demo has a single writer)."""
    with transaction.atomic():
        known = set(
            DeploymentTask.objects.filter(
                space_id=space_id, task_id__in=[t.task_id for t in rows]
            ).values_list("task_id", flat=True)
        )
        fresh = {t.task_id: t for t in rows if t.task_id not in known}.values()
        DeploymentTask.objects.bulk_create(
            [
                DeploymentTask(
                    space_id=space_id,
                    task_id=t.task_id,
                    day=t.day,
                    environment_id=t.environment_id,
                    state=t.state,
                    duration_seconds=t.duration_seconds,
                )
                for t in fresh
            ]
        )
        for t in fresh:
            add = {
                "succeeded": F("succeeded") + int(t.state == "Success"),
                "failed": F("failed") + int(t.state == "Failed"),
                "canceled": F("canceled") + int(t.state == "Canceled"),
                "timed_out": F("timed_out") + int(t.state == "TimedOut"),
                "total_duration_seconds": F("total_duration_seconds") + t.duration_seconds,
            }
            DeploymentDay.objects.get_or_create(
                space_id=space_id, day=t.day, environment_id=t.environment_id
            )
            DeploymentDay.objects.filter(
                space_id=space_id, day=t.day, environment_id=t.environment_id
            ).update(**add)
            SpaceDay.objects.get_or_create(space_id=space_id, day=t.day)
            SpaceDay.objects.filter(space_id=space_id, day=t.day).update(**add)
            SpaceTotal.objects.get_or_create(space_id=space_id)
            SpaceTotal.objects.filter(space_id=space_id).update(**add)
        _advance(space_id, rows)
    return len(fresh)


def pull(spaces: list[Space], *, since: datetime | None = None) -> dict[str, int]:
    """Pull finished deployments for these spaces (from their watermark, or ``since``)."""
    DeploymentCursor.objects.bulk_create(
        [DeploymentCursor(space=s) for s in spaces], ignore_conflicts=True
    )
    cursors = {c.pk: c for c in DeploymentCursor.objects.filter(space__in=spaces)}
    overlap = timedelta(seconds=settings.ODCM_DEPLOYMENTS_OVERLAP_SECONDS)
    backfill = start_of_day(settings.ODCM_DEPLOYMENTS_BACKFILL_DAYS)
    work = []
    for space in spaces:
        mark = cursors[space.pk].watermark
        start = since or (mark - overlap if mark else backfill)
        work.append((space.instance, space.pk, space.octopus_id, start))
    new = errors = 0
    now = timezone.now()
    for result in pull_spaces(work):
        if result.error:
            errors += 1
            DeploymentCursor.objects.filter(pk=result.space_id).update(last_error=result.error)
            continue
        new += store(result.space_id, result.tasks)
        DeploymentCursor.objects.filter(pk=result.space_id).update(last_pull_at=now, last_error="")
    return {"spaces": len(spaces), "new": new, "errors": errors}


def pullable_spaces() -> Any:
    return (
        Space.objects.filter(state=Space.State.ENLISTED)
        .exclude(instance__status=Instance.Status.OFFLINE)
        .select_related("instance")
        .order_by("instance_id", "octopus_id")
    )


def pull_all(*, force: bool = False) -> dict[str, int] | None:
    with job_run("deployments", settings.ODCM_DEPLOYMENTS_SECONDS, force=force) as run:
        if run is None:
            return None
        started = time.perf_counter()
        summary = pull(list(pullable_spaces()))
        finish_run("deployments", started, summary["spaces"], summary["errors"])
        return summary


def backfill(spaces: list[Space], days: int) -> dict[str, int]:
    """Re-read ``days`` days of history; already counted tasks are skipped."""
    return pull(spaces, since=start_of_day(days))


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]
