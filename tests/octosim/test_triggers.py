"""Project triggers: the polymorphic filter and action, references checked, per project."""

from __future__ import annotations

from typing import Any

from tests.octosim.conftest import Api

S = "/api/Spaces-1"


def _project(api: Api, name: str) -> dict[str, Any]:
    group = api.get(f"{S}/projectgroups/all")[0]["Id"]
    lifecycle = api.get(f"{S}/lifecycles/all")[0]["Id"]
    resp = api.post(
        f"{S}/projects", {"Name": name, "ProjectGroupId": group, "LifecycleId": lifecycle}
    )
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def _machine_trigger(project_id: str, name: str = "On new target", **action: Any) -> dict[str, Any]:
    return {
        "Name": name,
        "ProjectId": project_id,
        "Filter": {
            "FilterType": "MachineFilter",
            "EnvironmentIds": [],
            "Roles": ["web"],
            "EventGroups": ["MachineAvailableForDeployment"],
        },
        "Action": {"ActionType": "AutoDeploy", **action},
    }


def test_a_trigger_is_stored_with_its_type_fields_and_listed_per_project(
    api: Api, ro_api: Api
) -> None:
    project = _project(api, "Triggered")
    env = api.get(f"{S}/environments/all")[0]["Id"]
    resp = api.post(
        f"{S}/projecttriggers",
        _machine_trigger(
            project["Id"], ShouldRedeployWhenMachineHasBeenDeployedTo=True, Unknown="dropped"
        ),
    )
    assert resp.status_code == 201, resp.text
    doc = resp.json()
    assert doc["Id"].startswith("ProjectTriggers-") and doc["SpaceId"] == "Spaces-1"
    assert doc["IsDisabled"] is False
    assert doc["Filter"] == {
        "FilterType": "MachineFilter",
        "EnvironmentIds": [],
        "Roles": ["web"],
        "EventGroups": ["MachineAvailableForDeployment"],
        "EventCategories": [],
    }
    assert doc["Action"] == {
        "ActionType": "AutoDeploy",
        "ShouldRedeployWhenMachineHasBeenDeployedTo": True,
    }
    runbook = api.post(f"{S}/runbooks", {"Name": "Nightly", "ProjectId": project["Id"]}).json()
    nightly = api.post(
        f"{S}/projecttriggers",
        {
            "Name": "Nightly",
            "ProjectId": project["Id"],
            "Filter": {"FilterType": "CronExpressionSchedule", "CronExpression": "0 0 2 * * *",
                       "Timezone": "UTC"},
            "Action": {"ActionType": "RunRunbook", "RunbookId": runbook["Id"],
                       "EnvironmentIds": [env]},
        },
    )  # fmt: skip
    assert nightly.status_code == 201, nightly.text
    listed = ro_api.get(f"{S}/projects/{project['Id']}/triggers")
    assert [t["Name"] for t in listed["Items"]] == ["Nightly", "On new target"]
    assert f"{S}/projects/{project['Id']}/triggers" in project["Links"]["Triggers"]
    assert (
        ro_api.post(f"{S}/projecttriggers", _machine_trigger(project["Id"], "x")).status_code == 403
    )
    # the same name in the same project is refused; in another project it is fine
    again = api.post(f"{S}/projecttriggers", _machine_trigger(project["Id"], "ON NEW TARGET"))
    assert again.status_code == 400 and "already exists" in again.text
    other = _project(api, "Other")
    assert api.post(f"{S}/projecttriggers", _machine_trigger(other["Id"])).status_code == 201
    # an update keeps the project; deleting the project deletes its triggers
    doc["IsDisabled"] = True
    doc["ProjectId"] = other["Id"]
    updated = api.put(f"{S}/projecttriggers/{doc['Id']}", doc)
    assert updated.status_code == 200 and updated.json()["ProjectId"] == project["Id"]
    assert updated.json()["IsDisabled"] is True
    assert api.delete(f"{S}/projects/{project['Id']}").status_code == 200
    assert [t["ProjectId"] for t in api.get(f"{S}/projecttriggers")["Items"]] == [other["Id"]]


def test_a_bad_trigger_is_refused_whole_with_every_reason(api: Api) -> None:
    project = _project(api, "Strict")
    other = _project(api, "Elsewhere")
    runbook = api.post(f"{S}/runbooks", {"Name": "Theirs", "ProjectId": other["Id"]}).json()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"Filter": {"FilterType": "Hourly"}}, "FilterType is one of"),
        (
            {"Action": {"ActionType": "RunRunbook", "RunbookId": runbook["Id"]}},
            "cannot run RunRunbook",
        ),
        (
            {
                "Filter": {"FilterType": "OnceDailySchedule", "DaysOfWeek": ["Monday"]},
                "Action": {"ActionType": "RunRunbook", "RunbookId": runbook["Id"],
                           "EnvironmentIds": ["Environments-999"], "TenantIds": ["Tenants-999"],
                           "TenantTags": ["Nope/Nothing"]},
            },
            "does not exist in this project",
        ),
        ({"Filter": {"FilterType": "CronExpressionSchedule"},
          "Action": {"ActionType": "DeployNewRelease"}}, "CronExpression field is required"),
        ({"ProjectId": "Projects-999"}, "ProjectId field is required"),
        ({"Filter": {"FilterType": "MachineFilter", "Roles": "web"}}, "must be a list"),
    ]  # fmt: skip
    for change, message in cases:
        body = {**_machine_trigger(project["Id"]), **change}
        resp = api.post(f"{S}/projecttriggers", body)
        assert resp.status_code == 400, (change, resp.text)
        assert message in resp.text, (message, resp.text)
    errors = api.post(
        f"{S}/projecttriggers", {**_machine_trigger(project["Id"]), **cases[2][0]}
    ).json()["Errors"]
    text = " ".join(errors)
    for part in ("Environments-999", "Tenants-999", "Nope/Nothing", runbook["Id"]):
        assert part in text
    assert api.get(f"{S}/projecttriggers")["TotalResults"] == 0
