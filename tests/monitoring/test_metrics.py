"""Prometheus figures of monitoring: label names, types, and a scrape cost that does not grow
with history."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from monitoring.models import SpaceDay
from monitoring.services.checks import PulledTask
from monitoring.services.deployments import store
from spaces.models import Instance, Space

pytestmark = pytest.mark.django_db


def a_space(slug: str = "octo") -> Space:
    instance = Instance.objects.create(
        name=slug, slug=slug, base_url=f"http://127.0.0.1:9/{slug}", status="online"
    )
    return Space.objects.create(
        instance=instance, octopus_id="Spaces-1", name="Default", slug=f"{slug}-s1"
    )


def tasks(space_day: date, states: list[str], prefix: str) -> list[PulledTask]:
    done = datetime(space_day.year, space_day.month, space_day.day, 12, tzinfo=UTC)
    return [
        PulledTask(f"{prefix}-{n}", space_day, "Environments-1", state, 30, done)
        for n, state in enumerate(states)
    ]


def scrape(client: Client) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200
    return response.content.decode()


def test_deployments_are_a_counter_kept_by_each_pull_and_never_a_gauge_named_total(
    client: Client, settings: Any
) -> None:
    settings.ODCM_METRICS_TOKEN = ""
    space = a_space()
    day = date(2026, 3, 2)
    store(space.pk, tasks(day, ["Success", "Success", "Failed"], "a"))
    store(space.pk, tasks(day, ["Success", "Success", "Failed", "TimedOut"], "a"))  # one new
    text = scrape(client)
    assert "# TYPE odcm_space_deployments_total counter" in text
    labels = 'odcm_instance="octo",result="{}",space="octo-s1"'
    assert f"odcm_space_deployments_total{{{labels.format('success')}}} 2.0" in text
    assert f"odcm_space_deployments_total{{{labels.format('failed')}}} 1.0" in text
    assert f"odcm_space_deployments_total{{{labels.format('timed_out')}}} 1.0" in text
    gauges = set(re.findall(r"^# TYPE (\S+) gauge$", text, re.MULTILINE))
    assert gauges and not [name for name in gauges if name.endswith("_total")]


def test_no_metric_uses_the_instance_label_that_prometheus_reserves_for_its_target(
    client: Client, settings: Any
) -> None:
    settings.ODCM_METRICS_TOKEN = ""
    store(a_space().pk, tasks(date(2026, 3, 2), ["Success"], "a"))
    text = scrape(client)
    assert 'odcm_instance_up{odcm_instance="octo"} 1.0' in text
    assert not re.search(r"[{,]instance=", text)


def test_build_info_carries_the_version_of_pyproject(client: Client, settings: Any) -> None:
    import odcm

    settings.ODCM_METRICS_TOKEN = ""
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", odcm.version())
    assert f'odcm_build_info{{version="{odcm.version()}"}} 1.0' in scrape(client)


def test_a_scrape_reads_no_rollup_rows_and_the_same_queries_after_years_of_history(
    client: Client, settings: Any
) -> None:
    settings.ODCM_METRICS_TOKEN = ""
    space = a_space()
    store(space.pk, tasks(date(2026, 3, 2), ["Success"], "a"))

    def scrape_queries() -> list[str]:
        with CaptureQueriesContext(connection) as captured:
            scrape(client)
        return [q["sql"] for q in captured.captured_queries]

    before = scrape_queries()
    first = date(2022, 1, 1)
    SpaceDay.objects.bulk_create(
        [SpaceDay(space=space, day=first + timedelta(days=n), succeeded=1) for n in range(1500)]
    )
    after = scrape_queries()
    assert len(after) == len(before)
    assert not [sql for sql in after if "monitoring_spaceday" in sql]
    assert not [sql for sql in after if "monitoring_deploymentday" in sql]
