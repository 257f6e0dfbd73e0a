"""Prometheus figures read from the database at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily, Metric

from rollouts.models import Rollout, RolloutTarget


def collect() -> Iterator[Metric]:
    rollouts = GaugeMetricFamily("odcm_rollouts", "Rollouts by state", labels=["state"])
    counts = dict(
        Rollout.objects.values_list("state").annotate(n=Count("pk")).values_list("state", "n")
    )
    for state in Rollout.State.values:
        rollouts.add_metric([state], float(counts.get(state, 0)))
    yield rollouts
    targets = GaugeMetricFamily(
        "odcm_rollout_targets", "Targets of active rollouts by state", labels=["state"]
    )
    active = RolloutTarget.objects.filter(rollout__state__in=Rollout.ACTIVE)
    counts = dict(active.values_list("state").annotate(n=Count("pk")).values_list("state", "n"))
    for state in RolloutTarget.State.values:
        targets.add_metric([state], float(counts.get(state, 0)))
    yield targets
