"""Octopus task queues: each instance's server nodes and, per space, its queued and executing
tasks and how long the oldest queued one has waited, read by the status sweep (two GETs per
instance, see ``checks.read_queue``) and stored one row per node and per space.

A space whose oldest queued task has waited longer than ``ODCM_QUEUE_ALERT_MINUTES`` raises
a queue alert; once it has none waiting that long, a "moving again" alert follows, to the
people told about the wait. Both go through the same plan/outbox path as offline alerts, and
each is raised by a conditional UPDATE of ``SpaceQueue.alerted``, so two sweeps (or two
schedulers) raise it once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from monitoring.models import Alert, InstanceNode, SpaceQueue
from monitoring.services.alerts import dispatch_on_commit
from monitoring.services.checks import CheckResult, QueueSnapshot, _when
from monitoring.services.wording import duration_text
from spaces.models import Instance, Space

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SpaceFigures:
    queued: int = 0
    executing: int = 0
    oldest_queued_at: datetime | None = None


def threshold() -> timedelta | None:
    """How long a queued task may wait before its space alerts; None = never."""
    minutes = float(settings.ODCM_QUEUE_ALERT_MINUTES or 0)
    return timedelta(minutes=minutes) if minutes > 0 else None


def space_figures(snapshot: QueueSnapshot, now: datetime) -> dict[str, SpaceFigures]:
    """Per Octopus space id: tasks queued and executing, and the oldest queued task's queue
    time. A task queued for later (a scheduled deployment) counts as queued but is not
    waiting until its time comes."""
    counts: dict[str, list[Any]] = {}
    for task in snapshot.tasks:
        space = str(task.get("SpaceId") or "")
        if not space:
            continue
        row = counts.setdefault(space, [0, 0, None])
        state = str(task.get("State") or "")
        if state == "Executing":
            row[1] += 1
        elif state == "Queued":
            row[0] += 1
            queued_at = _when(task.get("QueueTime"))
            if (
                queued_at is not None
                and queued_at <= now
                and (row[2] is None or queued_at < row[2])
            ):
                row[2] = queued_at
    return {space: SpaceFigures(q, e, oldest) for space, (q, e, oldest) in counts.items()}


def _node(instance_id: Any, raw: dict[str, Any], now: datetime) -> InstanceNode:
    return InstanceNode(
        instance_id=instance_id,
        octopus_id=str(raw.get("Id") or raw.get("Name") or "")[:100],
        name=str(raw.get("Name") or raw.get("Id") or "")[:200],
        max_tasks=max(0, int(raw.get("MaxConcurrentTasks") or 0)),
        in_maintenance=bool(raw.get("IsInMaintenanceMode")),
        offline=bool(raw.get("IsOffline")),
        last_seen=_when(raw.get("LastSeen")),
        updated_at=now,
    )


def apply_queues(instances: Sequence[Instance], results: Sequence[CheckResult]) -> int:
    """Store what the sweep read of each instance's queue and raise or clear queue alerts.
    Instances whose queue could not be read keep their last figures. A fixed number of
    queries for the whole fleet, plus two per alert raised. Returns alerts raised."""
    now = timezone.now()
    read = {r.instance_id: r.queue for r in results if r.queue is not None}
    if not read:
        return 0
    with transaction.atomic():
        InstanceNode.objects.filter(instance_id__in=list(read)).delete()
        InstanceNode.objects.bulk_create(
            [_node(pk, raw, now) for pk, snap in read.items() for raw in snap.nodes],
            batch_size=500,
        )
    figures = {pk: space_figures(snap, now) for pk, snap in read.items()}
    spaces = list(
        Space.objects.filter(instance_id__in=list(read), state=Space.State.ENLISTED).values_list(
            "pk", "instance_id", "octopus_id"
        )
    )
    SpaceQueue.objects.bulk_create(
        [SpaceQueue(space_id=pk, updated_at=now) for pk, _, _ in spaces],
        ignore_conflicts=True,
        batch_size=1000,
    )
    rows = {q.space_id: q for q in SpaceQueue.objects.filter(space_id__in=[s[0] for s in spaces])}
    changed = []
    for pk, instance_id, octopus_id in spaces:
        row, fig = rows[pk], figures[instance_id].get(octopus_id, SpaceFigures())
        new = (fig.queued, fig.executing, fig.oldest_queued_at)
        if (row.queued, row.executing, row.oldest_queued_at) != new:
            row.queued, row.executing, row.oldest_queued_at = new
            row.updated_at = now
            changed.append(row)
    SpaceQueue.objects.bulk_update(
        changed, ["queued", "executing", "oldest_queued_at", "updated_at"], batch_size=1000
    )
    return _alerts(list(rows.values()), now)


def waiting_too_long(row: SpaceQueue, now: datetime, limit: timedelta | None) -> bool:
    return (
        limit is not None
        and row.oldest_queued_at is not None
        and (now - row.oldest_queued_at > limit)
    )


def _alerts(rows: list[SpaceQueue], now: datetime) -> int:
    limit = threshold()
    raised = 0
    for row in rows:
        waiting = waiting_too_long(row, now, limit)
        if waiting != row.alerted and _raise(row, waiting, now):
            raised += 1
    return raised


def _raise(row: SpaceQueue, waiting: bool, now: datetime) -> bool:
    """Flip ``alerted`` and record the alert in one transaction; False if another sweep
    already did."""
    with transaction.atomic():
        won = SpaceQueue.objects.filter(pk=row.pk, alerted=not waiting).update(alerted=waiting)
        if won != 1:
            return False
        space = Space.objects.select_related("instance").get(pk=row.pk)
        if waiting:
            assert row.oldest_queued_at is not None
            detail = (
                f"{space.name}: {row.queued} task{'s' if row.queued != 1 else ''} queued, "
                f"{row.executing} executing; the oldest has waited "
                f"{duration_text((now - row.oldest_queued_at).total_seconds())} "
                f"(since {row.oldest_queued_at:%Y-%m-%d %H:%M} UTC)"
            )
        else:
            detail = f"{space.name}: no task has waited longer than the threshold any more"
        Alert.objects.create(
            instance=space.instance,
            space=space,
            kind=Alert.Kind.QUEUE if waiting else Alert.Kind.QUEUE_CLEARED,
            status=space.instance.status,
            since=row.oldest_queued_at if waiting and row.oldest_queued_at else now,
            detail=detail[:500],
        )
        dispatch_on_commit()
    row.alerted = waiting
    log.info("space %s: queue %s", space.slug, "waiting" if waiting else "moving again")
    return True


# -- reading -------------------------------------------------------------------------


def nodes_of(instance: Instance) -> QuerySet[InstanceNode]:
    return InstanceNode.objects.filter(instance=instance).order_by("name")


def queues_of(instance: Instance) -> list[dict[str, Any]]:
    """The instance's enlisted spaces with their queue figures, busiest first."""
    now = timezone.now()
    limit = threshold()
    out = []
    for row in (
        SpaceQueue.objects.filter(space__instance=instance, space__state=Space.State.ENLISTED)
        .select_related("space")
        .order_by("oldest_queued_at", "-queued", "space__name")
    ):
        out.append(
            {
                "space": row.space,
                "queued": row.queued,
                "executing": row.executing,
                "oldest_queued_at": row.oldest_queued_at,
                "waiting_seconds": (now - row.oldest_queued_at).total_seconds()
                if row.oldest_queued_at
                else None,
                "waiting_text": duration_text((now - row.oldest_queued_at).total_seconds())
                if row.oldest_queued_at
                else "",
                "too_long": waiting_too_long(row, now, limit),
            }
        )
    return out
