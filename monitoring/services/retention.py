"""Pruning monitoring history, and compacting old daily rollups into monthly rows.

- Status flips and version changes older than ``ODCM_RETENTION_STATUS_DAYS``; each instance
  keeps its newest flip, and a flip or change whose alert still has an email to send stays.
- Sent notifications, and planned alerts with nothing left to send, older than
  ``ODCM_RETENTION_NOTIFICATION_DAYS``.
- Deployment task records older than ``ODCM_RETENTION_DEPLOYMENT_TASK_DAYS`` (always longer
  than the backfill, so a task read again is still recognised and never counted twice).
- Daily rollups (``SpaceDay``, ``DeploymentDay``) of whole months older than
  ``ODCM_RETENTION_DAILY_ROLLUP_DAYS`` are folded into one row per month, dated the 1st: the
  dashboard and reports sum day ranges, so a range of whole months reads the same figures as
  before, and a compacted month counts where its 1st falls. Per-space totals are untouched.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q, Sum

from monitoring.models import (
    Alert,
    DeploymentDay,
    DeploymentTask,
    Notification,
    SpaceDay,
    StatusFlip,
    VersionChange,
)
from odcm.retention import cutoff, delete_in_batches

COUNTS = ("succeeded", "failed", "canceled", "timed_out", "total_duration_seconds")


def prune(now: datetime) -> dict[str, int]:
    out: dict[str, int] = {}
    out.update(_prune_notifications(now))
    out.update(_prune_status(now))
    before = cutoff(now, settings.ODCM_RETENTION_DEPLOYMENT_TASK_DAYS)
    if before is not None:
        old_tasks = DeploymentTask.objects.filter(day__lt=before.date())
        out["deployment_tasks"] = delete_in_batches(old_tasks)
    before = cutoff(now, settings.ODCM_RETENTION_DAILY_ROLLUP_DAYS)
    if before is not None:
        out["rollup_rows_compacted"] = compact_rollups(before.date())
    return out


def _unsent(alert_ref: str) -> Exists:
    return Exists(
        Notification.objects.filter(alert=OuterRef(alert_ref)).exclude(
            state=Notification.State.SENT
        )
    )


def _prune_notifications(now: datetime) -> dict[str, int]:
    before = cutoff(now, settings.ODCM_RETENTION_NOTIFICATION_DAYS)
    if before is None:
        return {}
    sent = Notification.objects.filter(state=Notification.State.SENT, created_at__lt=before)
    notifications = delete_in_batches(sent)
    done = Alert.objects.filter(state=Alert.State.PLANNED, created_at__lt=before).exclude(
        _unsent("pk")
    )
    return {"notifications": notifications, "alerts": delete_in_batches(done)}


def _prune_status(now: datetime) -> dict[str, int]:
    before = cutoff(now, settings.ODCM_RETENTION_STATUS_DAYS)
    if before is None:
        return {}
    # An alert not yet planned, or with an email still to send, keeps its flip (a cascade
    # would otherwise delete work in flight).
    waiting = Alert.objects.filter(Q(state=Alert.State.NEW) | _unsent("pk"))
    newest = StatusFlip.objects.filter(instance=OuterRef("instance")).order_by("-at", "-pk")
    flips = (
        StatusFlip.objects.filter(at__lt=before)
        .exclude(pk=newest.values("pk")[:1])
        .exclude(pk__in=waiting.filter(flip__isnull=False).values("flip"))
    )
    changes = VersionChange.objects.filter(at__lt=before).exclude(
        pk__in=waiting.filter(version_change__isnull=False).values("version_change")
    )
    return {"status_flips": delete_in_batches(flips), "version_changes": delete_in_batches(changes)}


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def compact_rollups(before: date) -> int:
    """Fold the daily rows of every whole month ending before ``before`` into its 1st;
    returns how many daily rows went. Idempotent: a compacted month has only its 1st left."""
    boundary = month_start(before) if before.day != 1 else before
    firsts = [
        model.objects.filter(day__lt=boundary)
        .exclude(day__day=1)
        .order_by("day")
        .values_list("day", flat=True)
        .first()
        for model in (SpaceDay, DeploymentDay)
    ]
    pending = [day for day in firsts if day is not None]
    folded = 0
    month = month_start(min(pending)) if pending else boundary
    while month < boundary:
        end = next_month(month)
        for model in (SpaceDay, DeploymentDay):
            folded += _fold_month(model, month, end)
        month = end
    return folded


_FOLD = """
WITH gone AS (
    DELETE FROM {table} WHERE day >= %s AND day < %s AND day <> %s
    RETURNING {keys}, succeeded, failed, canceled, timed_out, total_duration_seconds
), folded AS (
    INSERT INTO {table} AS r
        ({keys}, day, succeeded, failed, canceled, timed_out, total_duration_seconds)
    SELECT {keys}, %s::date, sum(succeeded), sum(failed), sum(canceled), sum(timed_out),
        sum(total_duration_seconds)
    FROM gone GROUP BY {keys}
    ON CONFLICT ({keys}, day) DO UPDATE SET
        succeeded = r.succeeded + EXCLUDED.succeeded, failed = r.failed + EXCLUDED.failed,
        canceled = r.canceled + EXCLUDED.canceled, timed_out = r.timed_out + EXCLUDED.timed_out,
        total_duration_seconds = r.total_duration_seconds + EXCLUDED.total_duration_seconds
    RETURNING 1
)
SELECT count(*) FROM gone
"""

Rollup = type[SpaceDay] | type[DeploymentDay]


def _keys(model: Rollup) -> list[str]:
    return ["space_id", "environment_id"] if model is DeploymentDay else ["space_id"]


def _fold_month(model: Rollup, month: date, end: date) -> int:
    """Delete the month's other days and add them to its 1st, in one statement: two runs at
    once cannot double a figure, since a row deleted by one is not returned to the other."""
    if connection.vendor != "postgresql":
        return _fold_month_portable(model, month, end)
    sql = _FOLD.format(table=model._meta.db_table, keys=", ".join(_keys(model)))
    with connection.cursor() as cursor:
        cursor.execute(sql, [month, end, month, month])
        return int(cursor.fetchone()[0])


def _fold_month_portable(model: Rollup, month: date, end: date) -> int:
    """The same on SQLite (the demo: one writer), with the ORM."""
    keys = _keys(model)
    with transaction.atomic():
        days = model.objects.filter(day__gte=month, day__lt=end).exclude(day=month)
        sums = list(days.values(*keys).annotate(**{f: Sum(f) for f in COUNTS}).order_by())
        for row in sums:
            match = {k: row[k] for k in keys}
            model.objects.get_or_create(day=month, **match)
            model.objects.filter(day=month, **match).update(
                **{f: F(f) + (row[f] or 0) for f in COUNTS}
            )
        deleted, _ = days.delete()
    return deleted
