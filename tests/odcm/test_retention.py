"""Retention with real rows: what is old goes, what is recent or still in flight stays, daily
rollups fold into monthly rows that the dashboard reads with the same figures, and running it
twice, or twice at once, changes nothing more."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from audit.models import AuditEntry
from audit.services import record
from monitoring.models import (
    Alert,
    DeploymentDay,
    DeploymentTask,
    Notification,
    SpaceDay,
    SpaceTotal,
    StatusFlip,
    VersionChange,
)
from monitoring.services.checks import PulledTask
from monitoring.services.deployments import store
from monitoring.services.retention import compact_rollups, month_start, next_month
from odcm.retention import prune_all
from sharing.models import Delivery, SharedItem, Subscription
from spaces.models import Instance, Space
from tests.conftest import make_user
from tests.fixtures.processes import ROOT
from tests.fixtures.processes import test_env as child_env

NOW = timezone.now()
TODAY = NOW.astimezone(UTC).date()


def ago(days: int) -> datetime:
    return NOW - timedelta(days=days)


def a_space(slug: str = "octo") -> Space:
    instance = Instance.objects.create(
        name=slug, slug=slug, base_url=f"http://127.0.0.1:9/{slug}", status="online"
    )
    return Space.objects.create(
        instance=instance, octopus_id="Spaces-1", name="Default", slug=f"{slug}-s1"
    )


def history(space: Space, days: int) -> None:
    """Through the real store: per day three tasks in two environments, states varying."""
    states = ["Success", "Failed", "Canceled", "TimedOut", "Success"]
    tasks = []
    for n in range(days):
        day = TODAY - timedelta(days=n)
        done = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
        for k in range(3):
            env = f"Environments-{1 + k % 2}"
            tasks.append(PulledTask(f"T-{n}-{k}", day, env, states[(n + k) % 5], 10 + k, done))
    store(space.pk, tasks)


def dated(model: Any, rows: Any, **fields: Any) -> None:
    model.objects.filter(pk__in=[r.pk for r in rows]).update(**fields)


@pytest.fixture
def retention(settings: Any) -> Any:
    settings.ODCM_RETENTION_AUDIT_DAYS = 365
    settings.ODCM_RETENTION_STATUS_DAYS = 200
    settings.ODCM_RETENTION_NOTIFICATION_DAYS = 90
    settings.ODCM_RETENTION_DELIVERY_DAYS = 90
    settings.ODCM_RETENTION_DEPLOYMENT_TASK_DAYS = 150
    settings.ODCM_RETENTION_DAILY_ROLLUP_DAYS = 100
    return settings


@pytest.mark.django_db
def test_old_history_goes_while_recent_rows_and_work_in_flight_stay(retention: Any) -> None:
    old_audit = [record("x.old", message="old"), record("x.old", message="old too")]
    dated(AuditEntry, old_audit, at=ago(400))
    recent_audit = record("x.recent")

    space = a_space()
    inst = space.instance
    flips = [
        StatusFlip.objects.create(instance=inst, from_status="online", to_status=to, at=ago(d))
        for to, d in (("offline", 300), ("online", 299), ("offline", 250), ("online", 240))
    ]
    waiting_flip = flips[2]  # its alert still has an email to send
    changes = [
        VersionChange.objects.create(instance=inst, from_version="1", to_version="2", at=ago(300)),
        VersionChange.objects.create(instance=inst, from_version="2", to_version="3", at=ago(5)),
    ]
    done_alert = Alert.objects.create(
        instance=inst, kind="offline", flip=flips[0], status="offline", since=ago(300),
        state=Alert.State.PLANNED,
    )  # fmt: skip
    waiting_alert = Alert.objects.create(
        instance=inst, kind="offline", flip=waiting_flip, status="offline", since=ago(250),
        state=Alert.State.PLANNED,
    )  # fmt: skip
    user = make_user("rita")
    sent = Notification.objects.create(
        alert=done_alert, user=user, email="r@example.com", state="sent", next_attempt_at=NOW,
        message_id="<a@odcm>",
    )  # fmt: skip
    pending = Notification.objects.create(
        alert=waiting_alert, user=user, email="r@example.com", state="pending",
        next_attempt_at=NOW, message_id="<b@odcm>",
    )  # fmt: skip
    dated(Notification, [sent, pending], created_at=ago(300))
    dated(Alert, [done_alert, waiting_alert], created_at=ago(300))

    item = SharedItem.objects.create(kind="variable_set", publisher=space, name="DC Common")
    other = Space.objects.create(instance=inst, octopus_id="Spaces-2", name="B", slug="octo-s2")
    sub = Subscription.objects.create(item=item, space=other)
    deliveries = [
        Delivery.objects.create(subscription=sub, revision=1, outcome=outcome)
        for outcome in ("written", "failed", "running", "unchanged")
    ]
    for delivery, days in zip(deliveries, (200, 190, 180, 170), strict=True):
        dated(Delivery, [delivery], started_at=ago(days))

    history(space, 200)
    tasks_before = DeploymentTask.objects.count()

    summary = prune_all(now=NOW)
    assert summary is not None

    assert set(AuditEntry.objects.values_list("action", flat=True)) == {"x.recent", "audit.pruned"}
    assert AuditEntry.objects.filter(pk=recent_audit.pk).exists()
    assert summary["audit.audit_entries"] == 2
    # Flips: the waiting one and the newest stay; version change: only the recent one.
    assert set(StatusFlip.objects.values_list("pk", flat=True)) == {waiting_flip.pk, flips[3].pk}
    assert list(VersionChange.objects.values_list("pk", flat=True)) == [changes[1].pk]
    assert list(Notification.objects.values_list("pk", flat=True)) == [pending.pk]
    assert list(Alert.objects.values_list("pk", flat=True)) == [waiting_alert.pk]
    # Deliveries: the running one and the subscription's newest stay.
    assert set(Delivery.objects.values_list("outcome", flat=True)) == {"running", "unchanged"}
    # Task records: only those of the last 150 days.
    oldest = DeploymentTask.objects.order_by("day").values_list("day", flat=True).first()
    assert oldest is not None and oldest >= TODAY - timedelta(days=150)
    assert DeploymentTask.objects.count() == tasks_before - summary["monitoring.deployment_tasks"]
    assert summary["monitoring.deployment_tasks"] > 0


def report_totals(api: Any, first: date, last: date) -> dict[str, Any]:
    response = api.get(f"/api/v1/reports/spaces/?tf=custom&from={first}&to={last}")
    assert response.status_code == 200, response.content
    return dict(response.json()["totals"])


def rollup_rows() -> tuple[list[Any], list[Any]]:
    return (
        sorted(SpaceDay.objects.values_list("space_id", "day", "succeeded", "failed", "canceled")),
        sorted(
            DeploymentDay.objects.values_list(
                "space_id", "day", "environment_id", "succeeded", "failed", "timed_out"
            )
        ),
    )


@pytest.mark.django_db
def test_old_daily_rollups_fold_into_months_that_the_reports_read_with_the_same_figures(
    retention: Any, admin_user: Any, api_client: Any
) -> None:
    spaces = [a_space("octo"), a_space("other")]
    for space in spaces:
        history(space, 300)
    api_client.force_authenticate(admin_user)
    boundary = month_start(TODAY - timedelta(days=100))
    first_month = next_month(month_start(TODAY - timedelta(days=299)))  # first whole month
    windows = {
        "compacted only": (first_month, boundary - timedelta(days=1)),
        "compacted and daily": (next_month(first_month), TODAY - timedelta(days=10)),
        "daily only": (boundary, TODAY),
        "one compacted month": (first_month, next_month(first_month) - timedelta(days=1)),
    }
    before = {name: report_totals(api_client, *w) for name, w in windows.items()}
    preset = api_client.get("/api/v1/reports/spaces/?tf=90d").json()["totals"]
    totals = sorted(SpaceTotal.objects.values_list("space_id", "succeeded", "failed"))
    daily_rows = SpaceDay.objects.count()

    summary = prune_all(now=NOW)

    assert summary is not None and summary["monitoring.rollup_rows_compacted"] > 0
    assert not SpaceDay.objects.filter(day__lt=boundary).exclude(day__day=1).exists()
    assert not DeploymentDay.objects.filter(day__lt=boundary).exclude(day__day=1).exists()
    assert SpaceDay.objects.filter(day__gte=boundary).count() == 2 * (TODAY - boundary).days + 2
    assert SpaceDay.objects.count() < daily_rows
    assert {name: report_totals(api_client, *w) for name, w in windows.items()} == before
    assert api_client.get("/api/v1/reports/spaces/?tf=90d").json()["totals"] == preset
    assert sorted(SpaceTotal.objects.values_list("space_id", "succeeded", "failed")) == totals

    # Idempotent: a second run finds nothing to fold and changes no row.
    rows = rollup_rows()
    again = prune_all(now=NOW)
    assert again is not None and again["monitoring.rollup_rows_compacted"] == 0
    assert rollup_rows() == rows


@pytest.mark.django_db(transaction=True)
def test_two_compactions_at_once_fold_every_day_exactly_once(retention: Any) -> None:
    space = a_space()
    history(space, 300)
    sums = SpaceDay.objects.filter(space=space).values_list("succeeded", "failed", "canceled")
    expected = tuple(sum(column) for column in zip(*sums, strict=True))
    env_sums = DeploymentDay.objects.values_list("succeeded", "failed", "timed_out")
    expected_env = tuple(sum(column) for column in zip(*env_sums, strict=True))
    start = threading.Barrier(2)
    folded: list[int] = []

    def run() -> None:
        try:
            start.wait()
            folded.append(compact_rollups(TODAY - timedelta(days=100)))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(folded) == 2 and sum(folded) > 0
    sums = SpaceDay.objects.filter(space=space).values_list("succeeded", "failed", "canceled")
    assert tuple(sum(column) for column in zip(*sums, strict=True)) == expected
    env_sums = DeploymentDay.objects.values_list("succeeded", "failed", "timed_out")
    assert tuple(sum(column) for column in zip(*env_sums, strict=True)) == expected_env


@pytest.mark.django_db(transaction=True)
def test_a_second_beat_pruning_at_the_same_time_steps_aside() -> None:
    a_space()
    gate = threading.Barrier(2)
    results: list[Any] = []

    def hold_the_lock() -> None:
        from odcm import retention

        try:
            with retention._run_lock() as got:
                results.append(got)
                gate.wait()
                gate.wait()
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    gate.wait()
    try:
        results.append(prune_all(now=NOW))
    finally:
        gate.wait()
        holder.join()
    assert results == [True, None]
    assert prune_all(now=NOW) is not None


def test_a_task_record_age_inside_the_backfill_window_is_refused() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=child_env(ODCM_RETENTION_DEPLOYMENT_TASK_DAYS="60"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "ODCM_RETENTION_DEPLOYMENT_TASK_DAYS must exceed" in result.stderr


def test_beat_runs_the_pruning(settings: Any) -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["retention"]
    assert entry["task"] == "odcm.tasks.prune_history"
    from odcm.tasks import prune_history

    assert prune_history.name == "odcm.tasks.prune_history"


@pytest.mark.slow
def test_the_demo_database_sqlite_compacts_with_the_same_result(tmp_path: Any) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "odcm.settings",
        "ODCM_DEBUG": "true",
        "ODCM_VAR_DIR": str(tmp_path),
        "ODCM_RETENTION_DAILY_ROLLUP_DAYS": "100",
    }
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "odcm" / "sqlite_retention.py")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert "sqlite retention ok" in result.stdout


@pytest.mark.django_db
def test_an_operator_can_prune_now_and_read_what_went(retention: Any) -> None:
    from io import StringIO

    from django.core.management import call_command

    dated(AuditEntry, [record("x.old")], at=ago(400))
    out = StringIO()
    call_command("prune_history", stdout=out)
    assert "audit.audit_entries: 1" in out.getvalue().splitlines()
