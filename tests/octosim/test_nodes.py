"""Server nodes and the task queue: an HA cluster, a node draining or unhealthy, and the
pipeline's state (packages included) across a restart with --state-dir."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from octosim.testing import SimInstance, SimServer
from tests.octosim.conftest import Api
from tests.octosim.pipeline_helpers import (
    S,
    create_release,
    deploy,
    envs,
    free_all_slots,
    pipeline_project,
    push,
    wait_task,
)  # fmt: skip


def _start_many(api: Api, count: int) -> list[str]:
    project, _ = pipeline_project(api)
    create_release(api, project, "1.0.0")
    env = envs(api)[0]["Name"]
    return [
        deploy(api, project, "1.0.0", env).json()["DeploymentServerTasks"][0]["ServerTaskId"]
        for _ in range(count)
    ]


def test_a_cluster_runs_five_tasks_per_node_and_a_draining_node_takes_none(
    make_sim_instance: Callable[..., SimInstance],
) -> None:
    inst = make_sim_instance(nodes=2)
    inst.set_faults(step_ms=60_000)
    api = Api(inst)
    free_all_slots(api)
    nodes = api.get("/api/octopusservernodes")["Items"]
    assert [(n["Name"], n["MaxConcurrentTasks"]) for n in nodes] == [
        (f"octopus-{inst.slug}-node1", 5),
        (f"octopus-{inst.slug}-node2", 5),
    ]
    inst.set_node("OctopusServerNodes-2", draining=True)
    tasks = _start_many(api, 7)
    assert api.get(f"{S}/tasks", params={"states": "Executing", "take": 0})["TotalResults"] >= 5
    states = [api.get(f"/api/tasks/{t}") for t in tasks]
    assert [t["State"] for t in states] == ["Executing"] * 5 + ["Queued"] * 2
    assert {t["ServerNode"] for t in states[:5]} == {"OctopusServerNodes-1"}
    assert api.get("/api/octopusservernodes/OctopusServerNodes-2")["IsInMaintenanceMode"]
    inst.set_node("OctopusServerNodes-2", draining=False)
    assert [api.get(f"/api/tasks/{t}")["State"] for t in tasks[5:]] == ["Executing"] * 2
    summary = api.get("/api/octopusservernodes/summary")
    assert summary["IsInHighAvailabilityMode"] and summary["RunningTaskCount"] == 7
    assert [n["running"] for n in inst.truth()["nodes"]] == [5, 2]
    inst.set_node("OctopusServerNodes-1", offline=True)
    assert api.get("/api/octopusservernodes/OctopusServerNodes-1")["IsOffline"]
    assert api.get("/api/octopusservernodes/summary")["MaxConcurrentTasks"] == 5


def test_state_dir_keeps_packages_releases_and_tasks_across_a_restart(tmp_path: Path) -> None:
    data = b"x" * 300_000
    with SimServer(instances=1, state_dir=str(tmp_path)) as server:
        inst = server.instances[0]
        inst.set_faults(step_ms=50)
        api = Api(inst)
        digest = push(api, "Keep.Me.1.0.0.zip", data)["Hash"]
        project, _ = pipeline_project(api)
        release = create_release(api, project, "4.0.0").json()["ReleaseId"]
        task = deploy(api, project, "4.0.0", envs(api)[0]["Name"]).json()
        task_id = task["DeploymentServerTasks"][0]["ServerTaskId"]
        assert wait_task(api, task_id)["State"] == "Success"
    assert (tmp_path / "state.json").exists()
    with SimServer(instances=1, state_dir=str(tmp_path)) as server:
        api = Api(server.instances[0])
        assert api.get(f"{S}/packages/packages-Keep.Me.1.0.0")["Hash"] == digest
        raw = api.client.get(f"{S}/packages/packages-Keep.Me.1.0.0/raw")
        assert hashlib.sha1(raw.content).hexdigest() == digest
        assert api.get(f"{S}/releases/{release}")["Version"] == "4.0.0"
        details = api.get(f"/api/tasks/{task_id}/details")
        assert details["Task"]["State"] == "Success"
        assert [c["Status"] for c in details["ActivityLogs"][0]["Children"]] == ["Success"] * 2


def test_a_draining_cluster_starts_nothing_until_it_is_back(
    api: Api, sim_instance: SimInstance
) -> None:
    sim_instance.set_faults(step_ms=50)
    project, _ = pipeline_project(api)
    create_release(api, project, "1.0.0")
    sim_instance.set_faults(draining=True)
    started = deploy(api, project, "1.0.0", envs(api)[0]["Name"]).json()
    task_id = started["DeploymentServerTasks"][0]["ServerTaskId"]
    assert api.get(f"/api/tasks/{task_id}")["State"] == "Queued"
    sim_instance.set_faults(draining=False)
    assert wait_task(api, task_id)["State"] == "Success"


def test_a_state_file_alone_keeps_package_files_beside_it(tmp_path: Path) -> None:
    state = tmp_path / "sim.json"
    with SimServer(instances=1, state_file=str(state)) as server:
        digest = push(Api(server.instances[0]), "Beside.1.0.0.zip", b"beside")["Hash"]
    assert (tmp_path / "sim.json.files").is_dir()
    with SimServer(instances=1, state_file=str(state)) as server:
        raw = Api(server.instances[0]).client.get(f"{S}/packages/packages-Beside.1.0.0/raw")
        assert raw.status_code == 200 and hashlib.sha1(raw.content).hexdigest() == digest
