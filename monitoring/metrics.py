"""Prometheus figures read at scrape time (a constant number of queries)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import F, Sum
from prometheus_client.core import GaugeMetricFamily, Metric

from monitoring.models import Notification, SpaceDay, SweepRun
from spaces.models import Instance, Space

STATUSES = [choice for choice, _ in Instance.Status.choices]


def collect() -> Iterator[Metric]:
    up = GaugeMetricFamily(
        "odcm_instance_up", "1 if the instance answered its last check", labels=["instance"]
    )
    status = GaugeMetricFamily(
        "odcm_instance_status", "1 for the instance's current status", labels=["instance", "status"]
    )
    version = GaugeMetricFamily(
        "odcm_instance_version_info",
        "The Octopus version an instance reports",
        labels=["instance", "version"],
    )
    for slug, current, ver in Instance.objects.values_list("slug", "status", "version"):
        up.add_metric([slug], 1.0 if current in ("online", "unhealthy", "maintenance") else 0.0)
        for name in STATUSES:
            status.add_metric([slug, name], 1.0 if current == name else 0.0)
        version.add_metric([slug, ver or "unknown"], 1.0)
    yield from (up, status, version)

    projects = GaugeMetricFamily(
        "odcm_space_projects", "Projects in a space", labels=["instance", "space"]
    )
    targets = GaugeMetricFamily(
        "odcm_space_targets",
        "Deployment targets in a space",
        labels=["instance", "space", "health"],
    )
    spaces = Space.objects.filter(state=Space.State.ENLISTED).values_list(
        "instance__slug", "slug", "project_count", "target_count", "unhealthy_target_count"
    )
    for inst, space, p, t, u in spaces:
        if p is not None:
            projects.add_metric([inst, space], float(p))
        if t is not None:
            targets.add_metric([inst, space, "all"], float(t))
            targets.add_metric([inst, space, "unhealthy"], float(u or 0))
    yield from (projects, targets)

    deployments = GaugeMetricFamily(
        "odcm_space_deployments_total",
        "Finished deployments counted in the rollups",
        labels=["instance", "space", "result"],
    )
    sums = (
        SpaceDay.objects.values(inst=F("space__instance__slug"), sp=F("space__slug"))
        .annotate(
            ok=Sum("succeeded"), bad=Sum("failed"), can=Sum("canceled"), timed=Sum("timed_out")
        )
        .order_by()
    )
    for item in sums:
        row: dict[str, Any] = dict(item)
        for result, key in (
            ("success", "ok"),
            ("failed", "bad"),
            ("canceled", "can"),
            ("timed_out", "timed"),
        ):
            deployments.add_metric([row["inst"], row["sp"], result], float(row[key] or 0))
    yield deployments

    duration = GaugeMetricFamily(
        "odcm_sweep_duration_seconds", "How long the last run of each sweep took", labels=["sweep"]
    )
    for name, seconds in SweepRun.objects.values_list("name", "duration_seconds"):
        if seconds is not None:
            duration.add_metric([name], float(seconds))
    yield duration
    pending = GaugeMetricFamily("odcm_alerts_pending", "Alert emails not yet accepted by SMTP")
    pending.add_metric(
        [], float(Notification.objects.exclude(state=Notification.State.SENT).count())
    )
    yield pending
