"""An instance's status history: segments from its flips, and uptime over a period."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from monitoring.models import StatusFlip
from spaces.models import Instance

Status = Instance.Status
# Maintenance is planned: it counts as neither up nor down.
UP = (Status.ONLINE,)
DOWN = (Status.OFFLINE, Status.UNHEALTHY)


@dataclass
class Segment:
    status: str
    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


def segments(instance: Instance, start: datetime, end: datetime | None = None) -> list[Segment]:
    """The instance's status from ``start`` to ``end`` (now), one segment per status held.
    Two queries."""
    end = end or timezone.now()
    before = (
        StatusFlip.objects.filter(instance=instance, at__lt=start)
        .order_by("-at", "-id")
        .values_list("to_status", flat=True)
        .first()
    )
    flips = list(
        StatusFlip.objects.filter(instance=instance, at__gte=start, at__lt=end).order_by("at", "id")
    )
    status = before or (flips[0].from_status if flips else instance.status)
    cursor, out = start, []
    for flip in [*flips, None]:
        until = flip.at if flip is not None else end
        if until > cursor:
            out.append(Segment(status, cursor, until))
        if flip is not None:
            status, cursor = flip.to_status, max(cursor, flip.at)
    return out


def uptime(instance: Instance, days: int = 30) -> dict[str, Any]:
    """Share of the known time (neither unknown nor maintenance) the instance was online,
    and the time it was down, over the last ``days`` days."""
    now = timezone.now()
    # Before it was enlisted ODCM knew nothing of it: the bar starts then, not 30 days back.
    start = max(now - timedelta(days=days), instance.created_at or now)
    parts = segments(instance, start, now)
    up = sum(s.seconds for s in parts if s.status in UP)
    down = sum(s.seconds for s in parts if s.status in DOWN)
    known = up + down
    return {
        "days": days,
        "percent": None if not known else round(100 * up / known, 2),
        "down_seconds": down,
        "outages": sum(1 for s in parts if s.status in DOWN),
        "segments": [
            {
                "status": s.status,
                "x": round(100 * (s.start - parts[0].start).total_seconds() / _span(parts), 3),
                "width": round(100 * s.seconds / _span(parts), 3),
                "start": s.start,
                "end": s.end,
            }
            for s in parts
        ],
    }


def _span(parts: list[Segment]) -> float:
    return max((parts[-1].end - parts[0].start).total_seconds(), 1.0) if parts else 1.0
