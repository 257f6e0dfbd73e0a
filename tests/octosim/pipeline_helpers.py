"""Helpers for the release-pipeline tests: a project with a real process, pushed packages,
and polling a task until it is done."""

from __future__ import annotations

import time
import uuid
from typing import Any

from tests.octosim.conftest import Api

S = "/api/Spaces-1"


def envs(api: Api) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.get(f"{S}/environments/all")
    return sorted(items, key=lambda e: e["SortOrder"])


def push(api: Api, name: str, data: bytes = b"package") -> dict[str, Any]:
    resp = api.client.post(
        f"{S}/packages/raw",
        params={"overwriteMode": "OverwriteExisting"},
        files={"fileToUpload": (name, data)},
    )
    assert resp.status_code == 201, resp.text
    doc: dict[str, Any] = resp.json()
    return doc


def new_project(api: Api, name: str | None = None, **extra: Any) -> dict[str, Any]:
    group = api.get(f"{S}/projectgroups/all")[0]["Id"]
    lifecycle = api.get(f"{S}/lifecycles/all", params={"name": "Default Lifecycle"})[0]["Id"]
    body = {
        "Name": name or f"Pipeline {uuid.uuid4().hex[:6]}",
        "ProjectGroupId": group,
        "LifecycleId": lifecycle,
        **extra,
    }
    resp = api.post(f"{S}/projects", body)
    assert resp.status_code == 201, resp.text
    doc: dict[str, Any] = resp.json()
    return doc


def script_step(name: str, **action: Any) -> dict[str, Any]:
    return {
        "Name": name,
        "Actions": [
            {
                "Name": name,
                "ActionType": "Octopus.Script",
                "Properties": {"Octopus.Action.Script.ScriptBody": f"echo {name}"},
                **action,
            }
        ],
    }


def package_step(name: str, package_id: str, feed: str = "feeds-builtin") -> dict[str, Any]:
    return {
        "Name": name,
        "Properties": {"Octopus.Action.TargetRoles": "web-server"},
        "Actions": [
            {
                "Name": name,
                "ActionType": "Octopus.TentaclePackage",
                "Packages": [{"Name": "", "PackageId": package_id, "FeedId": feed}],
            }
        ],
    }


def set_process(api: Api, project: dict[str, Any], steps: list[dict[str, Any]]) -> dict[str, Any]:
    path = f"{S}/projects/{project['Id']}/deploymentprocesses"
    doc = api.get(path)
    doc["Steps"] = steps
    resp = api.put(path, doc)
    assert resp.status_code == 200, resp.text
    out: dict[str, Any] = resp.json()
    return out


def pipeline_project(api: Api) -> tuple[dict[str, Any], str]:
    """A project deploying package ``<Pkg>`` (version 1.0.0 pushed) then a script."""
    package_id = f"Acme.P{uuid.uuid4().hex[:6]}"
    push(api, f"{package_id}.1.0.0.zip", b"one")
    project = new_project(api)
    set_process(api, project, [package_step("Deploy", package_id), script_step("Smoke test")])
    return project, package_id


def create_release(api: Api, project: dict[str, Any], version: str, **extra: Any) -> Any:
    return api.post(
        f"{S}/releases/create/v1",
        {"spaceIdOrName": "Spaces-1", "ProjectName": project["Name"], "ReleaseVersion": version,
         **extra},
    )  # fmt: skip


def deploy(api: Api, project: dict[str, Any], version: str, *envs: str, **extra: Any) -> Any:
    return api.post(
        f"{S}/deployments/create/untenanted/v1",
        {"ProjectName": project["Name"], "ReleaseVersion": version,
         "EnvironmentNames": list(envs), **extra},
    )  # fmt: skip


def wait_task(api: Api, task_id: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        task: dict[str, Any] = api.get(f"/api/tasks/{task_id}")
        if task["IsCompleted"] or time.monotonic() > deadline:
            return task
        time.sleep(0.1)


def free_all_slots(api: Api) -> None:
    """Cancel the seeded deployment that waits on a manual intervention (it holds a node
    slot, as in Octopus), so a test can count the cap from zero."""
    waiting = api.get("/api/tasks", params={"hasPendingInterruptions": "true", "take": 100})
    for task in waiting["Items"]:
        assert api.client.post(f"/api/tasks/{task['Id']}/cancel").status_code == 200
