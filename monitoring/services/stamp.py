"""The dashboard's data stamp: cached figures are keyed by it, and anything that may change
them (a sweep, a pull, an admin change, a delivery that starts or stops failing) moves it.

Below the dashboard and the alert outbox alike, so either may move it without importing the
other."""

from __future__ import annotations

from django.db.models import Max
from django.utils import timezone

from monitoring.models import SweepRun


def data_stamp() -> str:
    """Changes whenever a sweep, pull or admin change may have changed the figures."""
    latest = SweepRun.objects.aggregate(latest=Max("finished_at"))["latest"]
    return latest.isoformat() if latest else "-"


def bump() -> None:
    """Invalidate cached dashboard figures (after a pin, window or other admin change)."""
    SweepRun.objects.update_or_create(name="dashboard", defaults={"finished_at": timezone.now()})
