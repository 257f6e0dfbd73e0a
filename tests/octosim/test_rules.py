"""Octopus's rules as octosim enforces them: spaces, variable sets, step templates, teams."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from octosim.errors import MSG_CONCURRENCY
from octosim.testing import SimInstance
from tests.octosim.conftest import Api


def _name(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:6]}"


def new_space(api: Api, **extra: Any) -> Any:
    body = {
        "Name": _name("Space"),
        "SpaceManagersTeams": [],
        "SpaceManagersTeamMembers": ["Users-1"],
        **extra,
    }
    return api.post("/api/spaces", body)


# ---------------------------------------------------------------- spaces


def test_space_cannot_be_created_with_its_task_queue_stopped(api: Api) -> None:
    resp = new_space(api, TaskQueueStopped=True)
    assert resp.status_code == 400
    assert "task queue" in resp.json()["Errors"][0]


def test_space_needs_a_manager_and_a_unique_name(api: Api) -> None:
    resp = api.post(
        "/api/spaces",
        {"Name": _name("S"), "SpaceManagersTeams": [], "SpaceManagersTeamMembers": []},
    )
    assert resp.status_code == 400
    assert api.post("/api/spaces", {"Name": "x"}).status_code == 400
    dup = new_space(api, Name="default")
    assert dup.status_code == 400 and "already in use" in dup.json()["Errors"][0]


def test_new_space_gets_its_space_managers_team_and_defaults(api: Api) -> None:
    resp = new_space(api)
    assert resp.status_code == 201
    space = resp.json()
    team_id = f"teams-spacemanagers-{space['Id']}"
    assert space["SpaceManagersTeams"] == [team_id]
    team = api.get(f"/api/teams/{team_id}")
    assert team["SpaceId"] == space["Id"] and team["MemberUserIds"] == ["Users-1"]
    assert team["CanBeDeleted"] is False
    home = api.get(f"/api/{space['Id']}")
    assert home["Links"]["Projects"].endswith(
        f"/api/{space['Id']}/projects{{/id}}{{?name,skip,ids,clone,take,partialName,clonedFromProjectId}}"
    )
    lifecycles = api.get(f"/api/{space['Id']}/lifecycles/all")
    assert [lc["Name"] for lc in lifecycles] == ["Default Lifecycle"]
    feeds = api.get(f"/api/{space['Id']}/feeds/all")
    assert [f["Id"] for f in feeds] == ["feeds-builtin"]


def test_space_is_deleted_only_after_its_task_queue_is_stopped(api: Api) -> None:
    space = new_space(api).json()
    refused = api.delete(f"/api/spaces/{space['Id']}")
    assert refused.status_code == 400
    assert "task queue" in refused.json()["Errors"][0]
    space["TaskQueueStopped"] = True
    assert api.put(f"/api/spaces/{space['Id']}", space).status_code == 200
    assert api.delete(f"/api/spaces/{space['Id']}").status_code == 200
    assert api.request("GET", f"/api/spaces/{space['Id']}").status_code == 404
    assert api.request("GET", f"/api/{space['Id']}/projects").status_code == 404
    gone = api.request("GET", f"/api/teams/teams-spacemanagers-{space['Id']}")
    assert gone.status_code == 404


def test_last_space_and_default_space_cannot_be_deleted(
    make_sim_instance: Callable[..., SimInstance],
) -> None:
    api = Api(make_sim_instance(spaces=2))
    second = api.get("/api/spaces/Spaces-2")
    second["TaskQueueStopped"] = True
    api.put("/api/spaces/Spaces-2", second)
    default = api.get("/api/spaces/Spaces-1")
    default["TaskQueueStopped"] = True
    api.put("/api/spaces/Spaces-1", default)
    refused = api.delete("/api/spaces/Spaces-1")
    assert refused.status_code == 400 and "default space" in refused.json()["Errors"][0]
    assert api.delete("/api/spaces/Spaces-2").status_code == 200
    last = api.delete("/api/spaces/Spaces-1")
    assert last.status_code == 400 and "last space" in last.json()["Errors"][0]


def test_making_another_space_default_moves_the_legacy_routes(api: Api) -> None:
    second = api.get("/api/spaces/Spaces-2")
    second["IsDefault"] = True
    assert api.put("/api/spaces/Spaces-2", second).json()["IsDefault"] is True
    assert api.get("/api/spaces/Spaces-1")["IsDefault"] is False
    assert api.get("/api/projects/all") == api.get("/api/Spaces-2/projects/all")
    assert api.get("/api")["Links"]["Projects"].split("/api/")[1].startswith("Spaces-2/")
    second["IsDefault"] = False
    api.put("/api/spaces/Spaces-2", second)
    resp = api.request("GET", "/api/projects")
    assert resp.status_code == 400 and "default space" in resp.json()["ErrorMessage"]


# ---------------------------------------------------------------- variable sets


def _lvs(api: Api) -> tuple[str, dict[str, Any]]:
    lvs = api.get("/api/Spaces-1/libraryvariablesets/all")[0]
    path = f"/api/Spaces-1/variables/{lvs['VariableSetId']}"
    return path, api.get(path)


def test_sensitive_values_read_back_as_null(api: Api, sim_instance: SimInstance) -> None:
    path, doc = _lvs(api)
    secrets = [v for v in doc["Variables"] if v["IsSensitive"]]
    assert secrets and all(v["Value"] is None and v["Type"] == "Sensitive" for v in secrets)
    stored = sim_instance.stored_variable_set(doc["Id"])
    assert all(v["Value"] for v in stored["Variables"] if v["IsSensitive"])
    plain = [v for v in doc["Variables"] if not v["IsSensitive"]]
    assert plain and all(v["Value"] is not None for v in plain)
    scoped = [v for v in doc["Variables"] if v["Scope"].get("Environment")]
    assert scoped and doc["ScopeValues"]["Environments"]


def test_stale_version_gets_the_concurrency_error(api: Api) -> None:
    path, doc = _lvs(api)
    ok = api.put(path, doc)
    assert ok.status_code == 200 and ok.json()["Version"] == doc["Version"] + 1
    stale = api.put(path, doc)
    assert stale.status_code == 400
    body = stale.json()
    assert body["ErrorMessage"] == MSG_CONCURRENCY and body["Errors"] == [MSG_CONCURRENCY]


def test_a_person_editing_the_set_makes_our_copy_stale(api: Api, sim_instance: SimInstance) -> None:
    path, doc = _lvs(api)
    new_version = sim_instance.edit_variable_set(doc["Id"], set={"Edited.By.Hand": "yes"})
    assert new_version == doc["Version"] + 1
    assert api.put(path, doc).status_code == 400
    fresh = api.get(path)
    assert any(v["Name"] == "Edited.By.Hand" for v in fresh["Variables"])
    assert api.put(path, fresh).status_code == 200


def test_sensitive_with_id_and_no_value_keeps_the_secret(
    api: Api, sim_instance: SimInstance
) -> None:
    path, doc = _lvs(api)
    before = {v["Id"]: v["Value"] for v in sim_instance.stored_variable_set(doc["Id"])["Variables"]}
    secret = next(v for v in doc["Variables"] if v["IsSensitive"])
    assert secret["Value"] is None  # as read back
    assert api.put(path, doc).status_code == 200
    after = {v["Id"]: v["Value"] for v in sim_instance.stored_variable_set(doc["Id"])["Variables"]}
    assert after[secret["Id"]] == before[secret["Id"]] and after[secret["Id"]]
    doc = api.get(path)
    for var in doc["Variables"]:
        if var["Id"] == secret["Id"]:
            var["Value"] = ""  # empty string keeps it too
    assert api.put(path, doc).status_code == 200
    stored = sim_instance.stored_variable_set(doc["Id"])["Variables"]
    assert {v["Id"]: v["Value"] for v in stored}[secret["Id"]] == before[secret["Id"]]


def test_sensitive_without_id_and_no_value_is_wiped_and_new_value_replaces(
    api: Api, sim_instance: SimInstance
) -> None:
    path, doc = _lvs(api)
    secret = next(v for v in doc["Variables"] if v["IsSensitive"])
    others = [v for v in doc["Variables"] if v["Id"] != secret["Id"]]
    resent = {k: v for k, v in secret.items() if k != "Id"}
    replaced = {**secret, "Value": "n3w-s3cret"}
    doc["Variables"] = [*others, resent]
    assert api.put(path, doc).status_code == 200
    stored = sim_instance.stored_variable_set(doc["Id"])["Variables"]
    wiped = next(v for v in stored if v["Name"] == secret["Name"])
    assert wiped["Id"] != secret["Id"] and wiped["Value"] is None
    doc = api.get(path)
    doc["Variables"] = [v for v in doc["Variables"] if v["Name"] != secret["Name"]]
    doc["Variables"].append(replaced)
    put = api.put(path, doc)
    assert put.status_code == 200
    back = next(v for v in put.json()["Variables"] if v["Id"] == secret["Id"])
    assert back["Value"] is None and back["IsSensitive"] is True
    stored = sim_instance.stored_variable_set(doc["Id"])["Variables"]
    assert next(v for v in stored if v["Id"] == secret["Id"])["Value"] == "n3w-s3cret"


def test_truth_shows_whether_each_secret_holds_a_value_but_never_the_value(
    api: Api, sim_instance: SimInstance
) -> None:
    path, doc = _lvs(api)
    extra = {"Name": "Extra.Secret", "Value": "s3cr3t-extra-value", "IsSensitive": True}
    sim_instance.edit_variable_set(doc["Id"], add=[extra])
    doc = api.get(path)
    stored = sim_instance.stored_variable_set(doc["Id"])["Variables"]
    secrets = {v["Id"]: v["Value"] for v in stored if v["IsSensitive"]}
    assert len(secrets) >= 2 and all(secrets.values())
    truth = sim_instance.truth()
    entry = truth["spaces"]["Spaces-1"]["variable_sets"][doc["Id"]]
    assert entry["owner_id"] == doc["OwnerId"] and entry["version"] == doc["Version"]
    assert {v["id"] for v in entry["sensitive"]} == set(secrets)
    assert all(v["has_value"] is True for v in entry["sensitive"])
    text = json.dumps(truth)
    assert not any(value in text for value in secrets.values())
    assert sim_instance.sensitive_has_value(doc["Id"]) == dict.fromkeys(secrets, True)
    # the keep-by-Id / wipe-without-Id rule, seen from outside
    keep, wipe = list(secrets)[:2]
    wiped = next(v for v in doc["Variables"] if v["Id"] == wipe)
    doc["Variables"] = [v for v in doc["Variables"] if v["Id"] != wipe]
    doc["Variables"].append({k: v for k, v in wiped.items() if k != "Id"})
    assert api.put(path, doc).status_code == 200
    after = sim_instance.sensitive_has_value(doc["Id"])
    assert after[keep] is True and wipe not in after
    entry = sim_instance.truth()["spaces"]["Spaces-1"]["variable_sets"][doc["Id"]]
    fresh = [v for v in entry["sensitive"] if v["name"] == wiped["Name"] and v["id"] != keep]
    assert [v["has_value"] for v in fresh] == [False]
    # project variable sets are there too, under their space
    project = api.get("/api/Spaces-1/projects/all")[0]
    assert project["VariableSetId"] in truth["spaces"]["Spaces-1"]["variable_sets"]
    with pytest.raises(KeyError):
        sim_instance.sensitive_has_value("variableset-Nope")


def test_variable_ids_must_be_unique_and_read_only_key_cannot_edit(api: Api, ro_api: Api) -> None:
    path, doc = _lvs(api)
    doc["Variables"].append(dict(doc["Variables"][0]))
    resp = api.put(path, doc)
    assert resp.status_code == 400 and "Variable ids must be unique." in resp.json()["Errors"]
    denied = ro_api.put(path, api.get(path))
    assert denied.status_code == 403
    assert denied.json()["ErrorMessage"].endswith("Missing permission: VariableEdit")


def test_library_variable_set_crud_creates_its_variable_set(api: Api) -> None:
    created = api.post("/api/Spaces-1/libraryvariablesets", {"Name": _name("LVS")}).json()
    assert created["VariableSetId"] == f"variableset-{created['Id']}"
    doc = api.get(f"/api/Spaces-1/variables/{created['VariableSetId']}")
    assert doc["OwnerId"] == created["Id"] and doc["Variables"] == [] and doc["Version"] == 0
    created["Description"] = "changed"
    assert api.put(f"/api/Spaces-1/libraryvariablesets/{created['Id']}", created).status_code == 200
    assert api.delete(f"/api/Spaces-1/libraryvariablesets/{created['Id']}").status_code == 200
    gone = api.request("GET", f"/api/Spaces-1/variables/{created['VariableSetId']}")
    assert gone.status_code == 404


# ---------------------------------------------------------------- step templates


def test_step_template_version_is_bumped_on_every_save(api: Api) -> None:
    body = {"Name": _name("Tpl"), "ActionType": "Octopus.Script", "Properties": {"A": "1"}}
    tpl = api.post("/api/Spaces-1/actiontemplates", body).json()
    assert tpl["Version"] == 0
    path = f"/api/Spaces-1/actiontemplates/{tpl['Id']}"
    tpl["Properties"] = {"A": "2"}
    tpl = api.put(path, tpl).json()
    assert tpl["Version"] == 1
    tpl["Version"] = 0  # the client's Version is ignored: the server owns it
    assert api.put(path, tpl).json()["Version"] == 2
    old = api.get(f"{path}/versions/0")
    assert old["Version"] == 0 and old["Properties"] == {"A": "1"}
    assert api.get(f"{path}/versions/1")["Properties"] == {"A": "2"}


def test_community_template_installs_once_per_space(api: Api) -> None:
    cats = api.get("/api/communityactiontemplates")
    assert cats["ItemType"] == "CommunityActionTemplate" and cats["TotalResults"] >= 5
    cat = cats["Items"][0]["Id"]
    base = f"/api/communityactiontemplates/{cat}"
    assert api.request("GET", f"{base}/actiontemplate/Spaces-2").status_code == 404
    not_yet = api.put(f"{base}/installation/Spaces-2", None)
    assert not_yet.status_code == 400 and not_yet.json()["Errors"] == [
        "Action template not yet installed."
    ]
    installed = api.post(f"{base}/installation/Spaces-2", None)
    assert installed.status_code == 201
    tpl = installed.json()
    assert tpl["CommunityActionTemplateId"] == cat and tpl["SpaceId"] == "Spaces-2"
    again = api.post(f"{base}/installation/Spaces-2", None)
    assert again.status_code == 400
    assert again.json()["Errors"] == ["Action Template already installed."]
    assert api.get(f"{base}/actiontemplate/Spaces-2")["Id"] == tpl["Id"]
    listed = api.get("/api/Spaces-2/actiontemplates", params={"isCommunityActionTemplate": "true"})
    assert [t["Id"] for t in listed["Items"]] == [tpl["Id"]]


# ---------------------------------------------------------------- teams and roles


def test_team_crud_and_builtin_teams_are_protected(api: Api, sim_instance: SimInstance) -> None:
    missing = api.post("/api/teams", {"Name": _name("Team")})
    assert missing.status_code == 400
    assert "The MemberUserIds field is required." in missing.json()["Errors"]
    body = {"Name": _name("Team"), "MemberUserIds": ["Users-3"], "ExternalSecurityGroups": []}
    team = api.post("/api/Spaces-1/teams", body).json()
    assert team["SpaceId"] == "Spaces-1"
    role = api.post(
        "/api/scopeduserroles",
        {"TeamId": team["Id"], "UserRoleId": "userroles-projectdeployer", "SpaceId": "Spaces-1"},
    )
    assert role.status_code == 201
    assert api.get(f"/api/teams/{team['Id']}/scopeduserroles")["TotalResults"] == 1
    sim_instance.edit_team(team["Id"], add_members=["Users-4"])
    assert api.get(f"/api/teams/{team['Id']}")["MemberUserIds"] == ["Users-3", "Users-4"]
    assert api.delete(f"/api/teams/{team['Id']}").status_code == 200
    assert api.request("GET", f"/api/scopeduserroles/{role.json()['Id']}").status_code == 404
    builtin = api.delete("/api/teams/teams-administrators")
    assert builtin.status_code == 400
    bad = api.post("/api/scopeduserroles", {"TeamId": "Teams-999", "UserRoleId": "nope"})
    assert bad.status_code == 400 and len(bad.json()["Errors"]) == 2


def test_teams_filter_by_space_and_system(api: Api) -> None:
    everything = api.get("/api/teams/all")
    space_only = api.get("/api/Spaces-2/teams", params={"includeSystem": "false"})
    assert space_only["Items"] and all(t["SpaceId"] == "Spaces-2" for t in space_only["Items"])
    system = api.get("/api/teams", params={"spaces": "Spaces-1", "includeSystem": "true"})
    assert {t["SpaceId"] for t in system["Items"]} == {None, "Spaces-1"}
    assert len(everything) > system["TotalResults"]


def test_users_and_roles(api: Api) -> None:
    roles = api.get("/api/userroles/all")
    assert {"userroles-systemadministrator", "userroles-spacemanager"} <= {r["Id"] for r in roles}
    users = api.get("/api/users")
    assert users["ItemType"] == "User" and users["TotalResults"] >= 3
    created = api.post("/api/users", {"Username": _name("u").replace(" ", ""), "DisplayName": "U"})
    assert created.status_code == 201
    assert api.delete("/api/users/Users-1").status_code == 400  # yourself


# ---------------------------------------------------------------- administration


def test_maintenance_mode_and_licence_status(
    api: Api, ro_api: Api, sim_instance: SimInstance
) -> None:
    assert api.get("/api/maintenanceconfiguration")["IsInMaintenanceMode"] is False
    denied = ro_api.put("/api/maintenanceconfiguration", {"IsInMaintenanceMode": True})
    assert denied.status_code == 403
    on = api.put("/api/maintenanceconfiguration", {"IsInMaintenanceMode": True})
    assert on.status_code == 200 and on.json()["IsInMaintenanceMode"] is True
    assert api.get("/api/serverstatus")["IsInMaintenanceMode"] is True
    assert api.put("/api/maintenanceconfiguration", {}).status_code == 400
    status = api.get("/api/licenses/licenses-current-status")
    usage = {limit["Name"]: limit["CurrentUsage"] for limit in status["Limits"]}
    truth = sim_instance.truth()["spaces"].values()
    assert usage["Projects"] == sum(s["projects"] for s in truth)
    assert usage["Machines"] == sum(s["machines"] for s in truth)
    assert status["IsCompliant"] is True


def test_every_project_has_its_default_channel(api: Api) -> None:
    project = api.get("/api/Spaces-1/projects/all")[0]
    channels = api.get(f"/api/Spaces-1/projects/{project['Id']}/channels")
    assert channels["ItemType"] == "Channel"
    assert [(c["Name"], c["IsDefault"]) for c in channels["Items"]] == [("Default", True)]
    release = api.get(f"/api/Spaces-1/projects/{project['Id']}/releases")["Items"]
    assert release and release[0]["ChannelId"] == channels["Items"][0]["Id"]
