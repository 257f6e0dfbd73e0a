"""The release pipeline through the client against octosim over real HTTP: processes,
releases and their frozen snapshots, channels, lifecycles, deployments that run as tasks,
interruptions and server nodes."""

from __future__ import annotations

import asyncio
import copy
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from octopus import (
    AsyncOctopusClient,
    DuplicateVersion,
    ExecutionOptions,
    LifecycleRefused,
    MissingPackage,
    NotFound,
    OctopusClient,
    PollPolicy,
    ValidationFailed,
    VersionConflict,
)

from .conftest import FAST_RETRY, LOOPBACK

SPACE = "Spaces-1"
QUICK_POLL = PollPolicy(initial=0.05, factor=1.5, maximum=0.3, timeout=60)


def client(sim: Any) -> OctopusClient:
    return OctopusClient(sim.url, sim.api_key, policy=LOOPBACK, retry=FAST_RETRY)


@dataclass
class Pipeline:
    """A project of its own: a three-phase lifecycle, a package step and a script step."""

    project: dict[str, Any]
    lifecycle: dict[str, Any]
    package_id: str
    environments: dict[str, str]  # name -> id

    @property
    def name(self) -> str:
        return str(self.project["Name"])


def package_step(package_id: str) -> dict[str, Any]:
    return {
        "Name": "Deploy web",
        "Properties": {"Octopus.Action.TargetRoles": "web-server"},
        "Actions": [
            {
                "Name": "Deploy web",
                "ActionType": "Octopus.TentaclePackage",
                "Properties": {"Octopus.Action.Package.DownloadOnTentacle": "False"},
                "Packages": [{"Name": "", "PackageId": package_id, "FeedId": "feeds-builtin"}],
            }
        ],
    }


def script_step(name: str, **action: Any) -> dict[str, Any]:
    return {
        "Name": name,
        "Actions": [
            {
                "Name": name,
                "ActionType": "Octopus.Script",
                "Properties": {"Octopus.Action.Script.ScriptBody": "echo hi"},
                **action,
            }
        ],
    }


def make_pipeline(
    c: OctopusClient, tmp_path: Path, versions: tuple[str, ...] = ("1.0.0",)
) -> Pipeline:
    suffix = uuid.uuid4().hex[:8]
    envs = {e["Name"]: e["Id"] for e in c.get_all(f"/api/{SPACE}/environments")}
    lifecycle = c.create_lifecycle(
        SPACE,
        {
            "Name": f"Three phases {suffix}",
            "Phases": [
                {"Name": name, "OptionalDeploymentTargets": [envs[name]],
                 "AutomaticDeploymentTargets": [], "MinimumEnvironmentsBeforePromotion": 0,
                 "IsOptionalPhase": False}
                for name in ("Development", "Test", "Production")
            ],
        },
    )  # fmt: skip
    group = c.get(f"/api/{SPACE}/projectgroups/all")[0]
    project = c.post(
        f"/api/{SPACE}/projects",
        {
            "Name": f"Pipeline {suffix}",
            "ProjectGroupId": group["Id"],
            "LifecycleId": lifecycle["Id"],
        },
    )
    package_id = f"Acme.P{suffix}"
    for version in versions:
        path = tmp_path / f"{package_id}.{version}.zip"
        path.write_bytes(f"{package_id} {version}".encode())
        c.upload_package(SPACE, path)
    process = c.project_deployment_process(SPACE, project["Id"])
    process["Steps"] = [package_step(package_id), script_step("Smoke test")]
    c.update_deployment_process(SPACE, process)
    return Pipeline(project, lifecycle, package_id, envs)


@pytest.fixture
def fast_sim(sim_instance: Any) -> Any:
    sim_instance.set_faults(step_ms=50)
    return sim_instance


# -- deployment processes ----------------------------------------------------------------


def test_process_edit_round_trips_and_a_stale_edit_is_a_version_conflict(
    fast_sim: Any, tmp_path: Path
) -> None:
    with client(fast_sim) as c:
        pipe = make_pipeline(c, tmp_path)
        read = c.project_deployment_process(SPACE, pipe.project["Id"])
        assert read["Id"] == pipe.project["DeploymentProcessId"]
        assert [s["Name"] for s in read["Steps"]] == ["Deploy web", "Smoke test"]
        assert all(s["Id"] and s["Actions"][0]["Id"] for s in read["Steps"])  # ids assigned
        ref = read["Steps"][0]["Actions"][0]["Packages"][0]
        assert (ref["PackageId"], ref["FeedId"]) == (pipe.package_id, "feeds-builtin")

        edited = copy.deepcopy(read)
        edited["Steps"].append(script_step("Notify"))
        saved = c.update_deployment_process(SPACE, edited)
        assert saved["Version"] == read["Version"] + 1
        assert c.deployment_process(SPACE, read["Id"])["Steps"][:2] == read["Steps"]

        stale = copy.deepcopy(read)  # still carries the old Version
        stale["Steps"].pop()
        with pytest.raises(VersionConflict) as conflict:
            c.update_deployment_process(SPACE, stale)
        assert conflict.value.status_code == 400
        assert len(c.deployment_process(SPACE, read["Id"])["Steps"]) == 3

        broken = c.deployment_process(SPACE, read["Id"])
        broken["Steps"].append({"Name": "Empty", "Actions": []})
        with pytest.raises(ValidationFailed, match="at least one action"):
            c.update_deployment_process(SPACE, broken)


# -- releases and snapshots -------------------------------------------------------------------


def test_release_through_the_executions_api_selects_package_versions_and_freezes_snapshots(
    fast_sim: Any, tmp_path: Path
) -> None:
    with client(fast_sim) as c:
        pipe = make_pipeline(c, tmp_path, versions=("1.0.0", "1.1.0"))
        variables = c.variable_set(SPACE, pipe.project["VariableSetId"])
        variables["Variables"].append({"Name": "Greeting", "Value": "hello", "Type": "String"})
        c.update_variable_set(SPACE, variables)

        created = c.create_release_v1(
            SPACE, pipe.name, version="2.0.0", packages=["Deploy web:1.0.0"],
            release_notes="first",
        )  # fmt: skip
        assert created.version == "2.0.0"
        release = c.release(SPACE, created.release_id)
        assert release["ReleaseNotes"] == "first"
        assert [(p["ActionName"], p["Version"]) for p in release["SelectedPackages"]] == [
            ("Deploy web", "1.0.0")
        ]
        before = c.release_snapshots(SPACE, release)
        assert [s["Name"] for s in before.deployment_process["Steps"]] == [
            "Deploy web",
            "Smoke test",
        ]
        assert any(v["Name"] == "Greeting" for v in before.project_variables["Variables"])

        # Change the live process and variables: the release's snapshots stay as they were.
        live = c.project_deployment_process(SPACE, pipe.project["Id"])
        live["Steps"] = [script_step("Only step")]
        c.update_deployment_process(SPACE, live)
        live_vars = c.variable_set(SPACE, pipe.project["VariableSetId"])
        live_vars["Variables"] = []
        c.update_variable_set(SPACE, live_vars)
        after = c.release_snapshots(SPACE, c.release(SPACE, created.release_id))
        assert after == before

        latest = c.create_release_v1(SPACE, pipe.name, version="2.0.1", package_version="1.1.0")
        listed = c.project_releases(SPACE, pipe.project["Id"], search_by_version="2.0")
        assert {r["Id"] for r in listed} == {created.release_id, latest.release_id}


def test_duplicate_release_versions_are_refused_unless_ignored(
    fast_sim: Any, tmp_path: Path
) -> None:
    with client(fast_sim) as c:
        pipe = make_pipeline(c, tmp_path)
        first = c.create_release_v1(SPACE, pipe.name, version="3.0.0", package_version="1.0.0")
        with pytest.raises(DuplicateVersion):
            c.create_release_v1(SPACE, pipe.name, version="3.0.0", package_version="1.0.0")
        again = c.create_release_v1(
            SPACE, pipe.name, version="3.0.0", package_version="1.0.0", ignore_if_exists=True
        )
        assert again.release_id == first.release_id
        with pytest.raises(DuplicateVersion):
            c.create_release(
                SPACE, {"ProjectId": pipe.project["Id"], "Version": "3.0.0", "SelectedPackages": []}
            )


def test_a_package_version_missing_from_the_feed_is_refused(fast_sim: Any, tmp_path: Path) -> None:
    with client(fast_sim) as c:
        pipe = make_pipeline(c, tmp_path)
        with pytest.raises(MissingPackage) as missing:
            c.create_release_v1(SPACE, pipe.name, version="4.0.0", packages=["Deploy web:9.9.9"])
        assert pipe.package_id in str(missing.value)
        assert c.project_releases(SPACE, pipe.project["Id"]) == []


def test_a_release_in_a_new_channel_follows_the_channel(fast_sim: Any, tmp_path: Path) -> None:
    with client(fast_sim) as c:
        pipe = make_pipeline(c, tmp_path)
        default = [ch for ch in c.channels(SPACE, pipe.project["Id"]) if ch["IsDefault"]]
        assert len(default) == 1
        hotfix = c.create_channel(
            SPACE,
            {"Name": "Hotfix", "ProjectId": pipe.project["Id"], "LifecycleId": None,
             "Description": "urgent fixes", "IsDefault": False, "Rules": []},
        )  # fmt: skip
        assert c.channel(SPACE, hotfix["Id"])["Name"] == "Hotfix"
        hotfix["Description"] = "still urgent"
        assert c.update_channel(SPACE, hotfix)["Description"] == "still urgent"
        created = c.create_release_v1(
            SPACE, pipe.name, channel="Hotfix", version="5.0.0-hotfix", package_version="1.0.0"
        )
        assert c.release(SPACE, created.release_id)["ChannelId"] == hotfix["Id"]
        names = {ch["Name"] for ch in c.channels(SPACE, pipe.project["Id"])}
        assert names == {"Default", "Hotfix"}


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


def test_variables_can_be_snapshotted_again_and_a_release_deleted(
    fast_sim: Any, tmp_path: Path
) -> None:
    with client(fast_sim) as c:
        pipe = make_pipeline(c, tmp_path)
        created = c.create_release_v1(SPACE, pipe.name, version="1.0.0", package_version="1.0.0")
        first = c.release(SPACE, created.release_id)
        variables = c.variable_set(SPACE, pipe.project["VariableSetId"])
        variables["Variables"].append({"Name": "Later", "Value": "x", "Type": "String"})
        c.update_variable_set(SPACE, variables)
        assert "Later" not in {
            v["Name"] for v in c.release_snapshots(SPACE, first).project_variables["Variables"]
        }
        again = c.snapshot_release_variables(SPACE, created.release_id)
        assert again["ProjectVariableSetSnapshotId"] != first["ProjectVariableSetSnapshotId"]
        assert (
            again["ProjectDeploymentProcessSnapshotId"]
            == first["ProjectDeploymentProcessSnapshotId"]
        )
        fresh = c.release_snapshots(SPACE, c.release(SPACE, created.release_id))
        assert "Later" in {v["Name"] for v in fresh.project_variables["Variables"]}

        c.delete_release(SPACE, created.release_id)
        with pytest.raises(NotFound):
            c.release(SPACE, created.release_id)


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


def test_the_classic_release_and_deployment_calls_work_by_id(fast_sim: Any, tmp_path: Path) -> None:
    with client(fast_sim) as c:
        pipe = make_pipeline(c, tmp_path)
        channel = next(ch for ch in c.channels(SPACE, pipe.project["Id"]) if ch["IsDefault"])
        release = c.create_release(
            SPACE,
            {"ProjectId": pipe.project["Id"], "ChannelId": channel["Id"], "Version": "7.0.0",
             "SelectedPackages": [{"ActionName": "Deploy web", "Version": "1.0.0"}]},
        )  # fmt: skip
        assert [(p["ActionName"], p["Version"]) for p in release["SelectedPackages"]] == [
            ("Deploy web", "1.0.0")
        ]
        deployment = c.create_deployment(
            SPACE,
            {"ReleaseId": release["Id"], "EnvironmentId": pipe.environments["Development"],
             "SkipActions": []},
        )  # fmt: skip
        done = c.wait_for_tasks([deployment["TaskId"]], SPACE, policy=QUICK_POLL)
        assert done[deployment["TaskId"]].state == "Success"
        assert c.task(deployment["TaskId"]).finished_successfully
