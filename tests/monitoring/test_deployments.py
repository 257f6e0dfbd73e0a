"""Deployment rollups and inventory against octosim's ground truth."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from django.db import connection

from monitoring.models import DeploymentCursor, DeploymentTask
from monitoring.services import dashboard, deployments, inventory
from monitoring.services.dashboard import Filters, Period
from octosim.testing import SimInstance
from spaces.models import Instance, Space


def truth_figures(truth: dict[str, Any], period: Period) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for octopus_id, space in truth["spaces"].items():
        ok = bad = 0
        for row in space["deployments"]:
            if not period.first <= date.fromisoformat(row["date"]) <= period.last:
                continue
            if row["state"] == "Success":
                ok += row["count"]
            elif row["state"] in ("Failed", "TimedOut"):
                bad += row["count"]
        out[octopus_id] = (ok, bad)
    return out


def periods() -> list[Period]:
    found = [dashboard.parse_period({"tf": key}) for key in dashboard.TIMEFRAMES]
    today = dashboard.today()
    found.append(
        dashboard.parse_period(
            {
                "tf": "custom",
                "from": str(today - timedelta(days=40)),
                "to": str(today - timedelta(days=10)),
            }
        )
    )
    return found


def pull_with_stable_truth(sim: SimInstance, pull: Callable[[], object]) -> dict[str, Any]:
    """Pull, and return octosim's truth if no deployment finished meanwhile (seeded
    deployments near "now" finish a few minutes after the instance is created)."""
    for _ in range(10):
        before = sim.truth()
        pull()
        after = sim.truth()
        if before["spaces"] == after["spaces"]:
            return after
    raise AssertionError("octosim's truth never held still")


def assert_matches_truth(sim: SimInstance, user: Any, truth: dict[str, Any]) -> None:
    for period in periods():
        table = dashboard.space_table(user, period, Filters(instance=sim.slug))
        seen = {row["octopus_id"]: (row["succeeded"], row["failed"]) for row in table.rows}
        assert seen == truth_figures(truth, period), period
        expected_total = sum(ok for ok, _ in truth_figures(truth, period).values())
        assert table.totals["succeeded"] == expected_total


@pytest.mark.django_db
def test_pulled_figures_equal_octosim_truth_for_every_timeframe_even_when_pulled_again(
    sim_instance: SimInstance, enlist: Callable[..., Instance], admin_user: Any
) -> None:
    instance = enlist(sim_instance)
    spaces = list(Space.objects.filter(instance=instance).select_related("instance"))
    outcomes: list[dict[str, int]] = []
    truth = pull_with_stable_truth(sim_instance, lambda: outcomes.append(deployments.pull(spaces)))
    assert outcomes[0]["errors"] == 0 and outcomes[0]["new"] > 0
    assert all(c.watermark is not None for c in DeploymentCursor.objects.all())
    assert_matches_truth(sim_instance, admin_user, truth)
    # again from the watermark (minus the overlap), then a full 90-day repeat
    truth = pull_with_stable_truth(sim_instance, lambda: deployments.pull(spaces))
    assert_matches_truth(sim_instance, admin_user, truth)
    truth = pull_with_stable_truth(sim_instance, lambda: deployments.backfill(spaces, 90))
    assert_matches_truth(sim_instance, admin_user, truth)
    finished = sum(
        n
        for space in truth["spaces"].values()
        for state, n in space["deployments_by_state"].items()
        if state in ("Success", "Failed", "Canceled", "TimedOut")
    )
    assert DeploymentTask.objects.count() == finished


@pytest.mark.django_db(transaction=True)
def test_overlapping_pulls_never_double_count(
    sim_instance: SimInstance, enlist: Callable[..., Instance], admin_user: Any
) -> None:
    instance = enlist(sim_instance)
    spaces = list(Space.objects.filter(instance=instance).select_related("instance"))
    errors: list[BaseException] = []

    def run() -> None:
        try:
            deployments.backfill(spaces, 90)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    def overlapping() -> None:
        threads = [threading.Thread(target=run) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    truth = pull_with_stable_truth(sim_instance, overlapping)
    assert errors == []
    stored = {
        s.octopus_id: DeploymentTask.objects.filter(space=s, state="Success").count()
        for s in spaces
    }
    assert stored == {
        k: v["deployments_by_state"].get("Success", 0) for k, v in truth["spaces"].items()
    }
    assert_matches_truth(sim_instance, admin_user, truth)


@pytest.mark.django_db
def test_inventory_counts_equal_octosim_truth(
    sim_instance: SimInstance, enlist: Callable[..., Instance]
) -> None:
    instance = enlist(sim_instance)
    stats_before = sim_instance.stats()["total"]
    summary = inventory.sweep_inventory(force=True)
    assert summary == {"spaces": 3, "updated": 3, "errors": 0}
    # One cheap GET per count, and the projects with their groups' names (two GETs).
    assert sim_instance.stats()["total"] - stats_before == 3 * 6
    truth = sim_instance.truth()["spaces"]
    for space in Space.objects.filter(instance=instance):
        expected = truth[space.octopus_id]
        assert (
            space.project_count,
            space.target_count,
            space.unhealthy_target_count,
            space.environment_count,
            space.tenant_count,
        ) == (
            expected["projects"],
            expected["machines"],
            expected["unhealthy_machines"],
            expected["environments"],
            expected["tenants"],
        )
        assert space.counts_updated_at is not None


@pytest.mark.django_db
def test_status_sweep_makes_five_cheap_gets_per_instance_whatever_its_spaces(
    sim_instance: SimInstance, enlist: Callable[..., Instance]
) -> None:
    """Three for the status, two for the task queue (nodes, and every space's active tasks
    in one list): none per space."""
    from monitoring.services.status import sweep_status

    enlist(sim_instance)
    sim_instance.reset_stats()
    sweep_status(force=True)
    stats = sim_instance.stats()
    assert stats["total"] == 5
    assert set(stats["by_method"]) == {"GET"}


@pytest.mark.django_db
def test_the_portable_store_used_on_sqlite_counts_each_task_once(
    sim_instance: SimInstance, enlist: Callable[..., Instance], admin_user: Any
) -> None:
    from monitoring.services.checks import pull_spaces
    from monitoring.services.deployments import _store_portable, start_of_day

    instance = enlist(sim_instance)
    spaces = list(Space.objects.filter(instance=instance).select_related("instance"))
    DeploymentCursor.objects.bulk_create([DeploymentCursor(space=s) for s in spaces])
    since = start_of_day(90)

    def pull_portably() -> None:
        work = [(s.instance, s.pk, s.octopus_id, since) for s in spaces]
        for result in pull_spaces(work):
            _store_portable(result.space_id, result.tasks)
            _store_portable(result.space_id, result.tasks)  # a repeat adds nothing

    truth = pull_with_stable_truth(sim_instance, pull_portably)
    assert_matches_truth(sim_instance, admin_user, truth)
