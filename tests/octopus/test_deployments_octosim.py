"""Deployments and runbook runs through the client against octosim over real HTTP: tasks,
lifecycles, interruptions, the node cap, tenants."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

from octopus import (
    AsyncOctopusClient,
    ExecutionOptions,
    LifecycleRefused,
    ValidationFailed,
    VersionConflict,
)

from .conftest import FAST_RETRY, LOOPBACK
from .pipeline_helpers import QUICK_POLL, SPACE, client, make_pipeline, script_step

# -- deployments ---------------------------------------------------------------------------------


def test_a_deployment_runs_its_steps_to_success_with_a_task_log(
    fast_sim: Any, tmp_path: Path
) -> None:
    with client(fast_sim) as c:
        pipe = make_pipeline(c, tmp_path)
        release = c.create_release_v1(SPACE, pipe.name, version="1.0.0", package_version="1.0.0")
        started = c.deploy_release_v1(SPACE, pipe.name, "1.0.0", ["Development"])
        assert len(started) == 1
        deployment = c.deployment(SPACE, started[0].id)
        assert deployment["ReleaseId"] == release.release_id
        assert deployment["TaskId"] == started[0].task_id

        done = c.wait_for_tasks([started[0].task_id], SPACE, policy=QUICK_POLL)
        status = done[started[0].task_id]
        assert status.state == "Success" and status.finished_successfully
        log = c.task_raw(started[0].task_id, SPACE)
        assert "Deploy web" in log and "Smoke test" in log
        details = c.task_details(started[0].task_id)
        assert details["Task"]["State"] == "Success"
        assert [d["Id"] for d in c.release_deployments(SPACE, release.release_id)] == [
            started[0].id
        ]
        progression = c.release_progression(SPACE, release.release_id)
        assert progression  # the release has progressed past its first phase


def test_the_lifecycle_refuses_production_before_the_earlier_phases(
    fast_sim: Any, tmp_path: Path
) -> None:
    with client(fast_sim) as c:
        pipe = make_pipeline(c, tmp_path)
        release = c.create_release_v1(SPACE, pipe.name, version="1.0.0", package_version="1.0.0")
        with pytest.raises(LifecycleRefused) as refused:
            c.deploy_release_v1(SPACE, pipe.name, "1.0.0", ["Production"])
        assert "Production" in str(refused.value)
        with pytest.raises(LifecycleRefused):
            prod = pipe.environments["Production"]
            c.create_deployment(SPACE, {"ReleaseId": release.release_id, "EnvironmentId": prod})
        assert c.release_deployments(SPACE, release.release_id) == []


def test_skipped_and_failing_steps_shape_the_outcome(fast_sim: Any, tmp_path: Path) -> None:
    with client(fast_sim) as c:
        pipe = make_pipeline(c, tmp_path)
        c.create_release_v1(SPACE, pipe.name, version="1.0.0", package_version="1.0.0")
        fast_sim.set_faults(step_ms=50, failing_steps={pipe.name: "Smoke test"})
        failed = c.deploy_release_v1(SPACE, pipe.name, "1.0.0", ["Development"])
        skipping = c.deploy_release_v1(
            SPACE, pipe.name, "1.0.0", ["Development"],
            options=ExecutionOptions(skip_steps=["Smoke test"]),
        )  # fmt: skip
        ids = [failed[0].task_id, skipping[0].task_id]
        done = c.wait_for_tasks(ids, SPACE, policy=QUICK_POLL)
    assert done[failed[0].task_id].state == "Failed"
    assert done[failed[0].task_id].error_message
    assert done[skipping[0].task_id].state == "Success"


def test_a_manual_intervention_waits_for_someone_to_take_it_and_proceed(
    fast_sim: Any, tmp_path: Path
) -> None:
    with client(fast_sim) as c:
        pipe = make_pipeline(c, tmp_path)
        fast_sim.set_faults(step_ms=50, interventions=[pipe.name])
        c.create_release_v1(SPACE, pipe.name, version="1.0.0", package_version="1.0.0")
        task_id = c.deploy_release_v1(SPACE, pipe.name, "1.0.0", ["Development"])[0].task_id
        waiting = c.wait_for_tasks([task_id], SPACE, policy=QUICK_POLL, until_interrupted=True)
        assert waiting[task_id].has_pending_interruptions and not waiting[task_id].is_completed

        pending = c.interruptions(SPACE, regarding=task_id)
        assert len(pending) == 1
        with pytest.raises(ValidationFailed, match="responsibility"):
            c.submit_interruption(SPACE, pending[0]["Id"], {"Result": "Proceed"})
        c.take_responsibility(SPACE, pending[0]["Id"])
        c.submit_interruption(SPACE, pending[0]["Id"], {"Result": "Proceed", "Notes": "ok"})
        done = c.wait_for_tasks([task_id], SPACE, policy=QUICK_POLL)
        assert done[task_id].state == "Success"
        assert c.interruptions(SPACE, regarding=task_id) == []
        assert c.interruption(SPACE, pending[0]["Id"])["IsPending"] is False


def test_the_node_cap_queues_tasks_and_cancelling_frees_them(
    sim_instance: Any, tmp_path: Path
) -> None:
    sim_instance.set_faults(step_ms=600_000)  # nothing finishes during the test
    with client(sim_instance) as c:
        pipe = make_pipeline(c, tmp_path)
        c.create_release_v1(SPACE, pipe.name, version="1.0.0", package_version="1.0.0")
        # The seeded history may hold a slot already (a deployment waiting on someone).
        busy = c.server_nodes_summary()["Nodes"][0]["RunningTaskCount"]
        tasks = [
            c.deploy_release_v1(SPACE, pipe.name, "1.0.0", ["Development"])[0].task_id
            for _ in range(7)
        ]
        states = [s.state for s in c.tasks_by_ids(tasks, SPACE).values()]
        assert sorted(states) == ["Executing"] * (5 - busy) + ["Queued"] * (2 + busy)
        nodes = c.server_nodes()
        assert [n["MaxConcurrentTasks"] for n in nodes] == [5]
        summary = c.server_nodes_summary()
        assert [(n["Id"], n["RunningTaskCount"]) for n in summary["Nodes"]] == [(nodes[0]["Id"], 5)]
        assert c.server_node_details(nodes[0]["Id"])["RunningTasks"] == 5

        canceled = c.cancel_task(tasks[0], SPACE)
        assert canceled.state in ("Canceled", "Cancelling")
        for task_id in tasks[1:]:
            c.cancel_task(task_id)
        done = c.wait_for_tasks(tasks, SPACE, policy=QUICK_POLL)
    assert {s.state for s in done.values()} == {"Canceled"}


def test_the_async_client_drives_the_same_pipeline(fast_sim: Any, tmp_path: Path) -> None:
    with client(fast_sim) as c:
        pipe = make_pipeline(c, tmp_path)

    async def main() -> tuple[Any, Any]:
        async with AsyncOctopusClient(
            fast_sim.url, fast_sim.api_key, policy=LOOPBACK, retry=FAST_RETRY
        ) as a:
            created = await a.create_release_v1(
                SPACE, pipe.name, version="1.0.0", packages=["Deploy web:1.0.0"]
            )
            runs = await a.deploy_release_v1(SPACE, pipe.name, created.version, ["Development"])
            done = await a.wait_for_tasks([r.task_id for r in runs], SPACE, policy=QUICK_POLL)
            return created, done

    created, done = asyncio.run(main())
    assert created.release_id.startswith("Releases-")
    assert [s.state for s in done.values()] == ["Success"]


# -- runbooks --------------------------------------------------------------------------------


def test_a_runbook_is_edited_published_and_run_from_its_frozen_snapshot(
    fast_sim: Any, tmp_path: Path
) -> None:
    with client(fast_sim) as c:
        pipe = make_pipeline(c, tmp_path)
        runbook = c.create_runbook(
            SPACE, {"Name": "Restart", "ProjectId": pipe.project["Id"], "Description": "v1"}
        )
        runbook["Description"] = "restarts the web tier"
        assert c.update_runbook(SPACE, runbook)["Description"] == "restarts the web tier"
        assert [r["Id"] for r in c.runbooks(SPACE, pipe.project["Id"])] == [runbook["Id"]]

        process = c.runbook_process(SPACE, runbook["RunbookProcessId"])
        process["Steps"] = [script_step("Stop site"), script_step("Start site")]
        saved = c.update_runbook_process(SPACE, process)
        assert [s["Name"] for s in saved["Steps"]] == ["Stop site", "Start site"]
        with pytest.raises(VersionConflict):
            c.update_runbook_process(SPACE, process)  # the Version read is now stale

        snapshot = c.create_runbook_snapshot(
            SPACE, pipe.project["Id"], runbook["Id"], name="Snapshot A", notes="first"
        )
        assert c.runbook(SPACE, runbook["Id"])["PublishedRunbookSnapshotId"] == snapshot["Id"]
        assert c.runbook_snapshot(SPACE, snapshot["Id"])["Name"] == "Snapshot A"

        live = c.runbook_process(SPACE, runbook["RunbookProcessId"])
        live["Steps"].append(script_step("Added after publishing"))
        c.update_runbook_process(SPACE, live)

        runs = c.run_runbook_v1(SPACE, pipe.name, "Restart", ["Development"])
        classic = c.run_runbook(
            SPACE,
            {"RunbookId": runbook["Id"], "RunbookSnapshotId": snapshot["Id"],
             "EnvironmentId": pipe.environments["Test"]},
        )  # fmt: skip
        task_ids = [runs[0].task_id, classic["TaskId"]]
        done = c.wait_for_tasks(task_ids, SPACE, policy=QUICK_POLL)
        assert [done[t].state for t in task_ids] == ["Success", "Success"]
        assert c.runbook_run(SPACE, runs[0].id)["RunbookSnapshotId"] == snapshot["Id"]
        log = c.task_raw(runs[0].task_id)
        assert "Stop site" in log and "Start site" in log
        assert "Added after publishing" not in log

        c.delete_runbook(SPACE, runbook["Id"])
        assert c.runbooks(SPACE, pipe.project["Id"]) == []


def test_a_tenanted_deployment_needs_the_tenant_connected_to_the_project(
    fast_sim: Any, tmp_path: Path
) -> None:
    with client(fast_sim) as c:
        pipe = make_pipeline(c, tmp_path)
        project = c.get(f"/api/{SPACE}/projects/{pipe.project['Id']}")
        project["TenantedDeploymentMode"] = "TenantedOrUntenanted"
        c.put(f"/api/{SPACE}/projects/{project['Id']}", project)
        dev = pipe.environments["Development"]
        tenant = c.post(
            f"/api/{SPACE}/tenants",
            {"Name": f"Tenant {uuid.uuid4().hex[:6]}", "TenantTags": [],
             "ProjectEnvironments": {project["Id"]: [dev]}},
        )  # fmt: skip
        loner = c.post(
            f"/api/{SPACE}/tenants",
            {"Name": f"Loner {uuid.uuid4().hex[:6]}", "TenantTags": [], "ProjectEnvironments": {}},
        )
        c.create_release_v1(SPACE, pipe.name, version="1.0.0", package_version="1.0.0")
        runs = c.deploy_release_tenanted_v1(
            SPACE, pipe.name, "1.0.0", "Development", tenants=[tenant["Name"]]
        )
        assert len(runs) == 1
        assert c.deployment(SPACE, runs[0].id)["TenantId"] == tenant["Id"]
        done = c.wait_for_tasks([runs[0].task_id], SPACE, policy=QUICK_POLL)
        assert done[runs[0].task_id].state == "Success"
        with pytest.raises(ValidationFailed, match="not connected"):
            c.deploy_release_tenanted_v1(
                SPACE, pipe.name, "1.0.0", "Development", tenants=[loner["Name"]]
            )

        variables = c.tenant_variables(SPACE, tenant["Id"])
        assert variables["TenantId"] == tenant["Id"]
        assert c.update_tenant_variables(SPACE, variables)["TenantId"] == tenant["Id"]
