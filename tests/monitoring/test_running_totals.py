"""The running totals behind the dashboard's window sums (``SpaceDay.run_*``, kept by the
trigger of monitoring migration 0009) equal the plain sum of the window's rollup rows, for
random windows and filters, after every kind of write: the pull (twice, overlapping), bulk
inserts, updates, deletes and retention's monthly compaction."""

from __future__ import annotations

import random
import threading
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.db import connection, connections, transaction

from monitoring.models import SpaceDay
from monitoring.services import dashboard, deployments, windows
from monitoring.services.checks import PulledTask
from monitoring.services.dashboard import Filters, Period
from monitoring.services.retention import compact_rollups
from spaces.models import Space
from tests.monitoring.test_dashboard import build

pytestmark = pytest.mark.django_db
TODAY = dashboard.today()
STATES = ["Success", "Success", "Success", "Failed", "Canceled", "TimedOut"]


def per_space(first: date, last: date, *, fast: bool) -> dict[Any, dict[str, int]]:
    rows = Space.objects.annotate(**windows.figures(first, last, fast=fast)).values(
        "pk", *windows.FIGURES
    )
    return {r["pk"]: {k: r[k] for k in windows.FIGURES} for r in rows}


def stored_running_totals_are_true() -> None:
    """Every row's running totals are the sums of its space's rows up to its day."""
    seen: dict[Any, list[int]] = {}
    for row in SpaceDay.objects.order_by("space_id", "day").values():
        acc = seen.setdefault(row["space_id"], [0, 0, 0, 0])
        acc[0] += row["succeeded"]
        acc[1] += row["failed"] + row["timed_out"]
        acc[2] += row["canceled"]
        acc[3] += 1
        got = [row["run_succeeded"], row["run_failed"], row["run_canceled"], row["run_days"]]
        assert got == acc, (row, acc)


def random_windows(rng: random.Random) -> list[tuple[date, date]]:
    found = [
        (p.first, p.last) for p in (dashboard.parse_period({"tf": k}) for k in dashboard.TIMEFRAMES)
    ]
    for _ in range(25):
        a = TODAY - timedelta(days=rng.randrange(0, 500))
        b = a + timedelta(days=rng.randrange(0, 420))
        found.append((a, min(b, TODAY + timedelta(days=3))))
    found.append((TODAY - timedelta(days=900), TODAY - timedelta(days=800)))  # before all data
    found.append((TODAY, TODAY))
    return found


def pulled(rng: random.Random, prefix: str, count: int, oldest: int) -> list[PulledTask]:
    out = []
    for n in range(count):
        day = TODAY - timedelta(days=rng.randrange(0, oldest))
        out.append(
            PulledTask(
                task_id=f"ServerTasks-{prefix}-{n}",
                day=day,
                environment_id=f"Environments-{n % 3}",
                state=rng.choice(STATES),
                duration_seconds=rng.randrange(1, 900),
                completed=datetime(day.year, day.month, day.day, 12, tzinfo=UTC),
            )
        )
    return out


@pytest.mark.skipif(not windows.running(), reason="the running totals live in PostgreSQL")
def test_running_totals_equal_the_plain_sum_for_random_windows_filters_and_writes(
    admin_user: Any,
) -> None:
    rng = random.Random(20261201)
    build(4, 3)
    spaces = list(Space.objects.order_by("slug"))
    # History the pull stores (some of it twice: overlapping pulls count a task once) ...
    for space in spaces[:8]:
        tasks = pulled(rng, space.slug, 120, 400)
        assert deployments.store(space.pk, tasks) == 120
        assert deployments.store(space.pk, tasks[40:] + pulled(rng, space.slug + "b", 5, 30)) == 5
    # ... rows written in bulk (the benchmark's load, a restore), updated and deleted ...
    SpaceDay.objects.bulk_create(
        [
            SpaceDay(space=s, day=TODAY - timedelta(days=d), succeeded=d % 4, canceled=d % 2)
            for s in spaces[8:]
            for d in range(10, 300, 7)
        ]
    )
    SpaceDay.objects.filter(space=spaces[9], day__lt=TODAY - timedelta(days=100)).update(
        failed=5, timed_out=1
    )
    SpaceDay.objects.filter(space=spaces[10], day__gt=TODAY - timedelta(days=50)).delete()
    stored_running_totals_are_true()

    def compare(label: str) -> None:
        for first, last in random_windows(rng):
            fast = per_space(first, last, fast=True)
            assert fast == per_space(first, last, fast=False), (label, first, last)
            period = Period("custom", first, last)
            for filters in (
                Filters(),
                Filters(instance="octo-0001"),
                Filters(region="emea", tag="prod"),
                Filters(status="online"),
                Filters(space=spaces[9].slug),
            ):
                quick = dashboard.space_totals(admin_user, period, filters, by_day=False)
                summed = dashboard.space_totals(admin_user, period, filters, by_day=True)
                summed.pop("days")
                assert quick == summed, (label, first, last, filters)
                # The deployments report's row count, from the running row counts.
                visible = dashboard.spaces_for(admin_user, filters).values("pk")
                counted = SpaceDay.objects.filter(
                    space_id__in=visible, day__gte=first, day__lte=last
                ).count()
                assert windows.row_count(visible, first, last) == counted, (label, first, last)

    compare("after pulls, bulk writes, updates and deletes")
    # ... and after retention folds whole old months into their 1st.
    assert compact_rollups(TODAY - timedelta(days=120)) > 0
    stored_running_totals_are_true()
    compare("after compaction")


@pytest.mark.skipif(not windows.running(), reason="the running totals live in PostgreSQL")
def test_the_dashboard_rows_use_the_running_totals_and_show_the_same_figures(
    admin_user: Any,
) -> None:
    build(2, 3)
    space = Space.objects.order_by("slug").first()
    assert space is not None
    SpaceDay.objects.filter(space=space, day=TODAY).update(succeeded=40, failed=2, timed_out=3)
    # A long window reads the running totals; a short one sums its few rows.
    assert "run_succeeded" not in str(
        dashboard.space_rows(admin_user, dashboard.parse_period({"tf": "7d"}), Filters()).query
    )
    period = dashboard.parse_period({"tf": "30d"})
    sql = str(dashboard.space_rows(admin_user, period, Filters()).query)
    assert "run_succeeded" in sql and "SUM(" not in sql.upper()
    rows = {r["slug"]: r for r in dashboard.space_rows(admin_user, period, Filters())}
    # build() writes 7 days of 3 succeeded, 1 failed, 1 timed out per space (30 d holds them).
    assert (rows[space.slug]["succeeded"], rows[space.slug]["failed"]) == (6 * 3 + 40, 6 * 2 + 5)
    others = [r for slug, r in rows.items() if slug != space.slug]
    assert {(r["succeeded"], r["failed"], r["canceled"]) for r in others} == {(21, 14, 0)}


@pytest.mark.skipif(not windows.running(), reason="the running totals live in PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_two_writers_on_one_space_at_once_leave_true_running_totals() -> None:
    """A compaction and a pull of the same space, in overlapping transactions: the second
    waits for the first (one advisory lock), so neither refreshes from a stale snapshot and
    neither deadlocks."""
    build(1, 1)
    space = Space.objects.get()
    SpaceDay.objects.bulk_create(
        [SpaceDay(space=space, day=TODAY - timedelta(days=d), succeeded=1) for d in range(7, 200)]
    )
    holding, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def first_writer() -> None:
        try:
            with transaction.atomic():
                SpaceDay.objects.filter(space=space, day=TODAY - timedelta(days=150)).update(
                    succeeded=100
                )
                holding.set()
                assert release.wait(60)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=first_writer)
    thread.start()
    assert holding.wait(60)

    def second_writer() -> None:
        try:
            deployments.store(space.pk, pulled(random.Random(1), "late", 30, 5))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    second = threading.Thread(target=second_writer)
    second.start()
    # The second writer waits on the advisory lock while the first holds its transaction.
    with connection.cursor() as cursor:
        waiting = False
        for _ in range(600):
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            )
            if cursor.fetchone()[0]:
                waiting = True
                break
            threading.Event().wait(0.1)
    release.set()
    thread.join(60)
    second.join(60)
    assert not errors, errors
    assert waiting
    stored_running_totals_are_true()


@pytest.mark.skipif(not windows.running(), reason="the running totals live in PostgreSQL")
def test_the_deployments_report_counts_its_rows_from_the_running_row_counts(
    space_owner: Any, token_for: Any
) -> None:
    """A long window's page count comes from ``run_days`` (no count over the window's rows)
    and equals the number of rows the report lists across its pages."""
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    build(2, 3)
    build(1, 4, start=2, owner=space_owner)
    mine = list(Space.objects.filter(instance__slug="octo-0002"))
    SpaceDay.objects.bulk_create(
        [
            SpaceDay(space=s, day=TODAY - timedelta(days=d), succeeded=1)
            for s in mine[:2]
            for d in range(20, 200, 3)
        ]  # fmt: skip
    )
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(space_owner)}")
    with CaptureQueriesContext(connection) as queries:
        body = api.get("/api/v1/reports/deployments/?tf=90d&page_size=500").json()
    listed = SpaceDay.objects.filter(
        space__in=mine, day__gte=TODAY - timedelta(days=89), day__lte=TODAY
    ).count()
    assert body["count"] == len(body["results"]) == listed == 4 * 7 + 2 * 24
    sql = [q["sql"] for q in queries.captured_queries if "monitoring_spaceday" in q["sql"]]
    assert any("run_days" in q for q in sql), sql
    assert not any("COUNT(" in q.upper() for q in sql), sql
