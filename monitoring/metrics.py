"""Prometheus figures read at scrape time: a constant number of queries, each reading one row
per instance or space (never the history), so a scrape costs the same after years of rollups.

Labels name ODCM's instance ``odcm_instance``: ``instance`` is Prometheus's own target label
(a metric carrying it arrives renamed to ``exported_instance``).
"""

from __future__ import annotations

from collections.abc import Iterator

from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from monitoring.models import InstanceNode, Notification, SpaceQueue, SpaceTotal, SweepRun
from spaces.models import Instance, Space

STATUSES = [choice for choice, _ in Instance.Status.choices]


def collect() -> Iterator[Metric]:
    up = GaugeMetricFamily(
        "odcm_instance_up", "1 if the instance answered its last check", labels=["odcm_instance"]
    )
    status = GaugeMetricFamily(
        "odcm_instance_status",
        "1 for the instance's current status",
        labels=["odcm_instance", "status"],
    )
    version = GaugeMetricFamily(
        "odcm_instance_version_info",
        "The Octopus version an instance reports",
        labels=["odcm_instance", "version"],
    )
    for slug, current, ver in Instance.objects.values_list("slug", "status", "version"):
        up.add_metric([slug], 1.0 if current in ("online", "unhealthy", "maintenance") else 0.0)
        for name in STATUSES:
            status.add_metric([slug, name], 1.0 if current == name else 0.0)
        version.add_metric([slug, ver or "unknown"], 1.0)
    yield from (up, status, version)

    projects = GaugeMetricFamily(
        "odcm_space_projects", "Projects in a space", labels=["odcm_instance", "space"]
    )
    targets = GaugeMetricFamily(
        "odcm_space_targets",
        "Deployment targets in a space",
        labels=["odcm_instance", "space", "health"],
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

    # A counter: the totals only grow (pruning and compacting the rollups leave them alone).
    deployments = CounterMetricFamily(
        "odcm_space_deployments",
        "Finished deployments counted since the space was enlisted",
        labels=["odcm_instance", "space", "result"],
    )
    totals = SpaceTotal.objects.values_list(
        "space__instance__slug", "space__slug", "succeeded", "failed", "canceled", "timed_out"
    )
    for inst, space, ok, bad, can, timed in totals:
        for result, value in (
            ("success", ok),
            ("failed", bad),
            ("canceled", can),
            ("timed_out", timed),
        ):
            deployments.add_metric([inst, space, result], float(value))
    yield deployments

    yield from _queues()

    duration = GaugeMetricFamily(
        "odcm_sweep_duration_seconds", "How long the last run of each sweep took", labels=["sweep"]
    )
    for name, seconds in SweepRun.objects.values_list("name", "duration_seconds"):
        if seconds is not None:
            duration.add_metric([name], float(seconds))
    yield duration
    pending = GaugeMetricFamily("odcm_alerts_pending", "Alert emails not yet accepted by SMTP")
    pending.add_metric(
        [],
        float(
            Notification.objects.filter(
                state__in=[Notification.State.PENDING, Notification.State.SENDING]
            ).count()
        ),
    )
    yield pending


def _queues() -> Iterator[Metric]:
    """Task queues and server nodes as the last status sweep read them: two queries."""
    labels = ["odcm_instance", "space"]
    queued = GaugeMetricFamily("odcm_space_tasks_queued", "Octopus tasks queued", labels=labels)
    executing = GaugeMetricFamily(
        "odcm_space_tasks_executing", "Octopus tasks executing", labels=labels
    )
    oldest = GaugeMetricFamily(
        "odcm_space_queue_oldest_seconds",
        "How long the oldest queued task has waited (0 when none waits)",
        labels=labels,
    )
    now = timezone.now()
    rows = SpaceQueue.objects.filter(space__state=Space.State.ENLISTED).values_list(
        "space__instance__slug", "space__slug", "queued", "executing", "oldest_queued_at"
    )
    for inst, space, q, e, since in rows:
        queued.add_metric([inst, space], float(q))
        executing.add_metric([inst, space], float(e))
        oldest.add_metric([inst, space], max(0.0, (now - since).total_seconds()) if since else 0.0)
    yield from (queued, executing, oldest)
    node_labels = ["odcm_instance", "node"]
    cap = GaugeMetricFamily("odcm_node_max_tasks", "A server node's task cap", labels=node_labels)
    draining = GaugeMetricFamily(
        "odcm_node_maintenance",
        "1 if a server node is in maintenance mode (draining)",
        labels=node_labels,
    )
    offline = GaugeMetricFamily(
        "odcm_node_offline", "1 if a server node is offline", labels=node_labels
    )
    for inst, name, tasks, maint, off in InstanceNode.objects.values_list(
        "instance__slug", "name", "max_tasks", "in_maintenance", "offline"
    ):
        cap.add_metric([inst, name], float(tasks))
        draining.add_metric([inst, name], 1.0 if maint else 0.0)
        offline.add_metric([inst, name], 1.0 if off else 0.0)
    yield from (cap, draining, offline)
