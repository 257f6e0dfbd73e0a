"""Deployments orchestrated across 40 spaces on 4 octosim instances, with a real worker."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings

from octosim.testing import SimInstance
from odcm.clients import client_for
from rollouts.models import DeploymentRun, RunDeployment
from rollouts.services import orchestration
from spaces.models import Instance, Space
from tests.sharing.conftest import enlist_sim, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PROJECT = "Orchestrated"
STEP = "Deploy web"


def prepare(inst: Instance) -> list[Space]:
    """Give every space of ``inst`` the project, a one-step process and release 1.0.0."""
    spaces = list(inst.spaces.order_by("octopus_id"))
    with client_for(inst) as client:
        for space in spaces:
            sid = space.octopus_id
            group = client.get_all(f"/api/{sid}/projectgroups")[0]["Id"]
            lifecycle = client.get_all(f"/api/{sid}/lifecycles")[0]["Id"]
            project = client.post(
                f"/api/{sid}/projects",
                {"Name": PROJECT, "ProjectGroupId": group, "LifecycleId": lifecycle},
            )
            process = client.project_deployment_process(sid, project["Id"])
            process["Steps"] = [
                {
                    "Name": STEP,
                    "Properties": {},
                    "Actions": [
                        {
                            "Name": STEP,
                            "ActionType": "Octopus.Script",
                            "Properties": {"Octopus.Action.Script.ScriptBody": "echo hi"},
                        }
                    ],
                }
            ]
            client.update_deployment_process(sid, process)
            client.create_release_v1(sid, PROJECT, version="1.0.0")
    return spaces


@pytest.fixture
def four(make_sim_instance: Callable[..., SimInstance]) -> dict[str, Any]:
    sims, spaces = {}, {}
    for n, name in enumerate("abcd"):
        sims[name] = make_sim_instance(f"orch-{name}", spaces=10, seed=50 + n)
        sims[name].set_faults(step_ms=300)
        spaces[name] = prepare(enlist_sim(sims[name]))
    return {"sims": sims, "spaces": spaces}


def _api(api_client: Any, token_for: Any, user: Any) -> Any:
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(user)}")
    return api_client


def test_forty_spaces_in_three_waves_stop_on_failures_with_interventions_answered_from_odcm(
    four, start_celery_worker, api_client, token_for, admin_user, member
):
    start_celery_worker(concurrency=2, ODCM_RUNS_POLL_SECONDS="1")
    sims, spaces = four["sims"], four["spaces"]
    sims["b"].set_faults(step_ms=300, failing_steps={PROJECT: STEP})
    sims["d"].set_faults(step_ms=300, interventions=[PROJECT])
    d = spaces["d"]
    waves = [
        [s.pk for s in spaces["a"] + d[:3]],
        [s.pk for s in spaces["b"] + d[3:6]],
        [s.pk for s in spaces["c"] + d[6:]],
    ]
    assert sum(len(w) for w in waves) == 40
    api = _api(api_client, token_for, member)  # no Deployer grant anywhere
    body = {
        "project": PROJECT,
        "environment": "Development",
        "waves": [[str(p) for p in w] for w in waves],
        "max_failures": 2,
    }
    refused = api.post("/api/v1/rollouts/runs/", body, format="json")
    assert refused.status_code in (400, 403) and DeploymentRun.objects.count() == 0
    api = _api(api_client, token_for, admin_user)
    started = api.post("/api/v1/rollouts/runs/", body, format="json")
    assert started.status_code == 201, started.json()
    run_id = started.json()["id"]
    seen_queued = set()
    answered = set()

    def settled() -> bool:
        doc = api.get(f"/api/v1/rollouts/runs/{run_id}/").json()
        for row in doc["deployments"]:
            if row["state"] == "queued" and row["task_id"]:
                seen_queued.add(row["id"])
            if row["interruption_id"] and row["id"] not in answered:
                answer = api.post(
                    f"/api/v1/rollouts/runs/{run_id}/intervention/",
                    {"deployment": row["id"], "proceed": True, "notes": "looks fine"},
                    format="json",
                )
                assert answer.status_code == 200, answer.json()
                answered.add(row["id"])
        return doc["state"] != "running"

    wait_for(settled, timeout=180, every=0.5)
    run = DeploymentRun.objects.get(pk=run_id)
    assert run.state == DeploymentRun.State.STOPPED, run.reason
    by_wave: dict[int, set[str]] = {}
    for position, state in run.deployments.values_list("wave__position", "state"):
        by_wave.setdefault(position, set()).add(state)
    assert by_wave[1] == {"success"}
    assert "failed" in by_wave[2]
    assert by_wave[3] == {"not_started"}
    assert not run.deployments.filter(wave__position=3).exclude(task_id="").exists()
    assert len(answered) == 6  # d's spaces of waves 1 and 2, each answered through ODCM
    assert seen_queued, "ten tasks on a node capped at five: some were shown queued"


def test_a_run_is_cancelled_in_octopus(
    four, start_celery_worker, api_client, token_for, admin_user
):
    start_celery_worker(concurrency=2, ODCM_RUNS_POLL_SECONDS="1")
    four["sims"]["c"].set_faults(step_ms=20000)
    api = _api(api_client, token_for, admin_user)
    body = {
        "project": PROJECT,
        "environment": "Development",
        "waves": [
            [str(s.pk) for s in four["spaces"]["c"]],
            [str(s.pk) for s in four["spaces"]["a"]],
        ],
    }
    run_id = api.post("/api/v1/rollouts/runs/", body, format="json").json()["id"]
    rows = RunDeployment.objects.filter(run_id=run_id)
    wait_for(lambda: rows.filter(state="executing").exists(), timeout=60)
    assert api.post(f"/api/v1/rollouts/runs/{run_id}/cancel/").status_code == 200
    wait_for(lambda: DeploymentRun.objects.get(pk=run_id).finished_at is not None, timeout=90)
    first = rows.filter(wave__position=1)
    assert set(first.values_list("state", flat=True)) <= {"cancelled", "success"}
    cancelled = first.filter(state="cancelled")
    assert cancelled.exists()
    assert set(rows.filter(wave__position=2).values_list("state", flat=True)) == {"not_started"}
    with client_for(Instance.objects.get(slug=four["sims"]["c"].slug)) as client:
        tasks = client.tasks_by_ids(cancelled.values_list("task_id", flat=True))
    assert {t.state for t in tasks.values()} == {"Canceled"}
    assert DeploymentRun.objects.get(pk=run_id).state == DeploymentRun.State.CANCELLED


def _row_updates(queries: CaptureQueriesContext) -> int:
    return sum(
        1
        for q in queries.captured_queries
        if q["sql"].startswith('UPDATE "rollouts_rundeployment"')
    )


def test_a_polling_round_writes_only_what_changed_one_statement_per_kind_of_change(
    make_sim_instance: Callable[..., SimInstance], admin_user
):
    # A round wrote every task's row, changed or not: 500 UPDATEs a round for 500
    # deployments, which made a round of bench/orchestrate.py take seconds.
    sims = [make_sim_instance(f"rounds-{n}", spaces=5, seed=80 + n) for n in range(2)]
    spaces = []
    for sim in sims:
        sim.set_faults(step_ms=120_000)  # nothing finishes during the test
        spaces += prepare(enlist_sim(sim))
    run = orchestration.start_run(
        user=admin_user,
        project=PROJECT,
        release="1.0.0",
        environment="Development",
        waves=[[s.pk for s in spaces]],
    )
    with CaptureQueriesContext(connection) as starting:
        assert orchestration.follow(run.pk) == "running"
    # The wave's ten rows recorded in one statement.
    assert _row_updates(starting) == 1
    rows = RunDeployment.objects.filter(run=run)
    assert set(rows.values_list("state", flat=True)) == {"queued"}
    assert rows.exclude(task_id="").count() == 10

    with CaptureQueriesContext(connection) as first:
        assert orchestration.follow(run.pk) == "running"
    executing = rows.filter(state="executing").count()
    assert executing, "each instance's node runs some of its five at once"
    assert rows.filter(state="executing").exclude(task_state="Executing").count() == 0
    # queued -> executing on both instances: one UPDATE, whatever the number of rows.
    assert _row_updates(first) == 1

    with CaptureQueriesContext(connection) as second:
        assert orchestration.follow(run.pk) == "running"
    assert rows.filter(state="executing").count() == executing
    assert _row_updates(second) == 0  # nothing moved in Octopus: nothing written


@override_settings(ODCM_RUNS_POLL_SECONDS=2)
def test_rounds_begin_a_poll_interval_apart_and_at_once_after_a_round_that_overran_it():
    assert orchestration.next_round_in(0.5) == 1.5
    assert orchestration.next_round_in(2.0) == 0
    assert orchestration.next_round_in(7.5) == 0
