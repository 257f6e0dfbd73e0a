"""Runbooks over HTTP: CRUD, the runbook process, snapshots published and run."""

from __future__ import annotations

from octosim.testing import SimInstance
from tests.octosim.conftest import Api
from tests.octosim.pipeline_helpers import S, envs, new_project, script_step, wait_task


def test_runbook_is_edited_published_and_run(api: Api, sim_instance: SimInstance) -> None:
    sim_instance.set_faults(step_ms=50)
    project = new_project(api)
    base = f"{S}/projects/{project['Id']}"
    created = api.post(f"{base}/runbooks", {"Name": "Restart", "ProjectId": project["Id"]})
    assert created.status_code == 201, created.text
    runbook = created.json()
    listed = api.get(f"{base}/runbooks")
    assert [r["Name"] for r in listed["Items"]] == ["Restart"]
    process_path = f"{base}/runbookProcesses/{runbook['RunbookProcessId']}"
    process = api.get(process_path)
    process["Steps"] = [script_step("Stop"), script_step("Start")]
    saved = api.put(process_path, process)
    assert saved.status_code == 200 and saved.json()["Version"] == process["Version"] + 1
    assert api.put(process_path, process).status_code == 400  # stale Version
    no_snapshot = api.post(
        f"{S}/runbook-runs/create/v1",
        {"ProjectName": project["Name"], "RunbookName": "Restart",
         "EnvironmentNames": [envs(api)[0]["Name"]]},
    )  # fmt: skip
    assert no_snapshot.status_code == 400 and "published" in no_snapshot.json()["Errors"][0]
    snap = api.client.post(
        f"{base}/runbookSnapshots", params={"publish": "true"},
        json={"Name": "v1", "ProjectId": project["Id"], "RunbookId": runbook["Id"]},
    )  # fmt: skip
    assert snap.status_code == 201, snap.text
    snapshot = snap.json()
    assert api.get(f"{S}/runbooks/{runbook['Id']}")["PublishedRunbookSnapshotId"] == snapshot["Id"]
    edited = api.get(process_path)
    edited["Steps"] = [script_step("Something else")]
    assert api.put(process_path, edited).status_code == 200
    frozen = api.get(f"{S}/runbookProcesses/{snapshot['FrozenRunbookProcessId']}")
    assert [s["Name"] for s in frozen["Steps"]] == ["Stop", "Start"]
    started = api.post(
        f"{S}/runbook-runs/create/v1",
        {"ProjectName": project["Name"], "RunbookName": "Restart",
         "EnvironmentNames": [envs(api)[0]["Name"]]},
    )  # fmt: skip
    assert started.status_code == 200, started.text
    (ran,) = started.json()["RunbookRunServerTasks"]
    task = wait_task(api, ran["ServerTaskId"])
    assert task["State"] == "Success" and task["Arguments"] == {"RunbookRunId": ran["RunbookRunId"]}
    steps = api.get(f"/api/tasks/{task['Id']}/details")["ActivityLogs"][0]["Children"]
    assert [c["Name"] for c in steps] == ["Step 1: Stop", "Step 2: Start"]
    runs = api.get(f"{S}/runbookSnapshots/{snapshot['Id']}/runbookRuns")
    assert [r["Id"] for r in runs["Items"]] == [ran["RunbookRunId"]]
    assert api.delete(f"{base}/runbooks/{runbook['Id']}").status_code == 200
    assert api.request("GET", f"{S}/runbooks/{runbook['Id']}").status_code == 404


def test_runbook_snapshots_select_package_versions(api: Api) -> None:
    from tests.octosim.pipeline_helpers import package_step, push

    project = new_project(api)
    package_id = f"Rb.{project['Id'].replace('-', '')}"
    push(api, f"{package_id}.1.0.0.zip")
    push(api, f"{package_id}.1.2.0.zip")
    runbook = api.post(f"{S}/runbooks", {"Name": "Ship", "ProjectId": project["Id"]}).json()
    path = f"{S}/runbookProcesses/{runbook['RunbookProcessId']}"
    process = api.get(path)
    process["Steps"] = [package_step("Install", package_id)]
    assert api.put(path, process).status_code == 200
    latest = api.post(f"{S}/runbookSnapshots", {"RunbookId": runbook["Id"], "Name": "a"}).json()
    assert [p["Version"] for p in latest["SelectedPackages"]] == ["1.2.0"]
    pinned = api.post(
        f"{S}/runbookSnapshots",
        {"RunbookId": runbook["Id"], "Name": "b",
         "SelectedPackages": [{"ActionName": "Install", "Version": "1.0.0"}]},
    ).json()  # fmt: skip
    assert [p["Version"] for p in pinned["SelectedPackages"]] == ["1.0.0"]
    missing = api.post(
        f"{S}/runbookSnapshots",
        {"RunbookId": runbook["Id"], "Name": "c",
         "SelectedPackages": [{"ActionName": "Install", "Version": "9.0.0"}]},
    )  # fmt: skip
    assert missing.status_code == 400 and "9.0.0" in missing.json()["Errors"][0]


def test_runbook_processes_are_read_together_by_ids(api: Api) -> None:
    """``GET /runbookProcesses?ids=`` (the root link's template): several in one request."""
    project = new_project(api)
    base = f"{S}/projects/{project['Id']}"
    made = [
        api.post(f"{base}/runbooks", {"Name": n, "ProjectId": project["Id"]}).json()
        for n in ("One", "Two", "Three")
    ]
    wanted = [made[0]["RunbookProcessId"], made[2]["RunbookProcessId"]]
    page = api.client.get(f"{S}/runbookProcesses", params={"ids": ",".join(wanted)}).json()
    assert page["ItemType"] == "RunbookProcess" and page["TotalResults"] == 2
    assert sorted(p["Id"] for p in page["Items"]) == sorted(wanted)
    assert {p["RunbookId"] for p in page["Items"]} == {made[0]["Id"], made[2]["Id"]}
    everything = api.get(f"{S}/runbookProcesses")
    assert everything["TotalResults"] >= 3
