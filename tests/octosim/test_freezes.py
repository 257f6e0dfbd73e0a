"""Deployment freezes (Octopus 2025.1's ``/api/deploymentfreezes``): CRUD with Octopus's
``{DeploymentFreezes, Count}`` list, validation, and the deployments an active freeze refuses
— by project and environment, or only for one tenant — while the rest go ahead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.octosim.conftest import Api
from tests.octosim.pipeline_helpers import S, create_release, envs, pipeline_project

FREEZES = "/api/deploymentfreezes"


def window(hours_from: float = -1, hours_to: float = 1) -> dict[str, str]:
    now = datetime.now(UTC)
    return {
        "Start": (now + timedelta(hours=hours_from)).isoformat(),
        "End": (now + timedelta(hours=hours_to)).isoformat(),
    }


def test_freezes_are_listed_read_changed_and_deleted(api: Api, ro_api: Api) -> None:
    project, _ = pipeline_project(api)
    first = envs(api)[0]
    made = api.post(
        FREEZES,
        {
            "Name": "Summer break",
            **window(),
            "ProjectEnvironmentScope": {project["Id"]: [first["Id"]]},
        },
    )
    assert made.status_code == 201, made.text
    freeze = made.json()
    assert freeze["Id"].startswith("DeploymentFreezes-")
    assert freeze["TenantProjectEnvironmentScope"] == []
    listed = api.get(FREEZES, params={"projectIds": project["Id"]})
    assert listed["Count"] == 1 and listed["DeploymentFreezes"][0]["Name"] == "Summer break"
    assert api.get(FREEZES, params={"projectIds": "Projects-999999"})["Count"] == 0
    assert ro_api.get(f"{FREEZES}/{freeze['Id']}")["Name"] == "Summer break"
    assert ro_api.post(FREEZES, {"Name": "x", **window()}).status_code == 403
    freeze["Name"] = "Winter break"
    assert api.put(f"{FREEZES}/{freeze['Id']}", freeze).json()["Name"] == "Winter break"
    assert api.delete(f"{FREEZES}/{freeze['Id']}").status_code == 200
    assert api.request("GET", f"{FREEZES}/{freeze['Id']}").status_code == 404


def test_a_freeze_without_a_name_or_with_its_end_first_is_refused(api: Api) -> None:
    refused = api.post(FREEZES, {"Name": " ", **window(1, -1)})
    assert refused.status_code == 400
    assert refused.json()["Errors"] == [
        "The Name field is required.",
        "The End of a deployment freeze must be after its Start.",
    ]
    bad_scope = api.post(
        FREEZES, {"Name": "x", **window(), "TenantProjectEnvironmentScope": [{"TenantId": 1}]}
    )
    assert bad_scope.status_code == 400
    assert "TenantId, a ProjectId and an EnvironmentId" in bad_scope.json()["Errors"][0]


def test_an_active_freeze_refuses_the_deployments_it_scopes_and_no_others(api: Api) -> None:
    project, _ = pipeline_project(api)
    project["TenantedDeploymentMode"] = "TenantedOrUntenanted"
    api.put(f"{S}/projects/{project['Id']}", project)
    first = envs(api)[0]
    held = api.post(
        f"{S}/tenants",
        {"Name": f"Held {project['Id']}", "ProjectEnvironments": {project["Id"]: [first["Id"]]}},
    ).json()
    other = api.post(
        f"{S}/tenants",
        {"Name": f"Other {project['Id']}", "ProjectEnvironments": {project["Id"]: [first["Id"]]}},
    ).json()
    release = create_release(api, project, "1.0.0").json()["ReleaseId"]
    freeze = api.post(
        FREEZES,
        {
            "Name": "Values missing",
            **window(),
            "TenantProjectEnvironmentScope": [
                {"TenantId": held["Id"], "ProjectId": project["Id"], "EnvironmentId": first["Id"]}
            ],
        },
    ).json()

    def deploy(tenant: dict[str, Any] | None) -> httpx.Response:
        body = {"ReleaseId": release, "EnvironmentId": first["Id"]}
        if tenant is not None:
            body["TenantId"] = tenant["Id"]
        return api.post(f"{S}/deployments", body)

    refused = deploy(held)
    assert refused.status_code == 400
    assert refused.json()["Errors"] == [
        f"Deployments of '{project['Name']}' to '{first['Name']}' for the tenant "
        f"'{held['Name']}' are blocked by the deployment freeze 'Values missing'."
    ]
    assert deploy(other).status_code == 201
    assert deploy(None).status_code == 201

    # A freeze of the project in that environment holds every deployment there.
    freeze["TenantProjectEnvironmentScope"] = []
    freeze["ProjectEnvironmentScope"] = {project["Id"]: [first["Id"]]}
    api.put(f"{FREEZES}/{freeze['Id']}", freeze)
    assert deploy(other).status_code == 400
    assert deploy(None).status_code == 400
    # A freeze that has not started, or has ended, holds nothing.
    api.put(f"{FREEZES}/{freeze['Id']}", {**freeze, **window(1, 2)})
    assert deploy(None).status_code == 201
    api.put(f"{FREEZES}/{freeze['Id']}", {**freeze, **window(-2, -1)})
    assert deploy(held).status_code == 201
