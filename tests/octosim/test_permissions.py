"""Permissions: ``users/{id}/permissions`` and the third key, a user without permissions."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from octosim.instance import Instance
from octosim.permissions import ALL_PERMISSIONS, SPACE_PERMISSIONS, SYSTEM_PERMISSIONS
from octosim.routing import Route
from octosim.server import build_router
from octosim.testing import SimInstance, _instance
from tests.octosim.conftest import Api

# reads any signed-in user may make: the documented exceptions to "403 without permission"
OPEN_READS = {
    "/api/users/me",
    "/api/serverstatus",
    "/api/licenses/licenses-current-status",
}


@pytest.fixture
def none_api(sim_instance: SimInstance) -> Api:
    return Api(sim_instance, sim_instance.no_permission_api_key)


def _missing(resp: httpx.Response) -> str:
    assert resp.status_code == 403, (resp.request.url, resp.status_code, resp.text[:200])
    body = resp.json()
    assert body["ErrorMessage"].startswith("You do not have permission to perform this action.")
    assert body["Errors"] == [] and body["HelpText"]
    return str(body["ErrorMessage"].rsplit("Missing permission: ", 1)[1])


def test_the_three_keys_are_distinct_and_the_third_is_exposed(sim_instance: SimInstance) -> None:
    keys = [sim_instance.api_key, sim_instance.read_only_api_key]
    assert sim_instance.no_permission_api_key.startswith("API-")
    assert sim_instance.no_permission_api_key not in keys
    assert sim_instance.no_permission_api_key not in repr(sim_instance)


def test_no_permission_key_signs_in_but_reads_nothing(sim_instance: SimInstance) -> None:
    none = Api(sim_instance, sim_instance.no_permission_api_key)
    assert none.get("/api")["Version"] == sim_instance.version
    me = none.get("/api/users/me")
    assert me["Username"] == "no-permissions" and me["IsRequestor"] is True
    assert me["IsService"] is True and me["Id"] not in ("Users-1", "Users-2")
    assert none.get(f"/api/users/{me['Id']}")["Id"] == me["Id"]
    assert [t["Id"] for t in none.get(f"/api/users/{me['Id']}/teams")] == ["teams-everyone"]
    assert _missing(none.request("GET", "/api/spaces")) == "SpaceView"
    assert _missing(none.request("GET", "/api/Spaces-1")) == "SpaceView"
    assert _missing(none.request("GET", "/api/Spaces-1/projects")) == "ProjectView"
    assert _missing(none.request("GET", "/api/projects")) == "ProjectView"
    assert _missing(none.request("GET", "/api/spaces/Spaces-2/machines")) == "MachineView"
    assert _missing(none.request("GET", "/api/Spaces-1/environments/all")) == "EnvironmentView"
    assert _missing(none.request("GET", "/api/tasks")) == "TaskView"
    assert _missing(none.request("GET", "/api/teams")) == "TeamView"
    assert _missing(none.request("GET", "/api/users")) == "UserView"
    assert _missing(none.request("GET", "/api/users/Users-1")) == "UserView"
    assert _missing(none.request("GET", "/api/users/Users-1/permissions")) == "UserView"
    assert _missing(none.request("GET", "/api/Spaces-9/projects")) == "ProjectView"
    created = none.post("/api/Spaces-1/projects", {"Name": "Nope"})
    assert _missing(created) == "ProjectCreate"
    assert _missing(none.post("/api/spaces", {"Name": "Nope"})) == "SpaceCreate"
    # the anonymous routes stay anonymous, and an unknown key is still 401
    assert none.request("GET", "/api/serverstatus/health").status_code == 200
    assert none.request("GET", "/api/octopusservernodes/ping").status_code == 200
    assert Api(sim_instance, "API-UNKNOWN").request("GET", "/api/users/me").status_code == 401


def _fill(route: Route) -> str:
    path = route.path.replace("{spaceId}", "Spaces-1").replace("{version}", "0")
    return path.replace("{id}", "Whatever-1")


def test_every_read_route_is_forbidden_without_permission_except_the_open_ones(
    sim_instance: SimInstance,
) -> None:
    """Walks the route table, so a new route cannot slip past the no-permission rule."""
    none = Api(sim_instance, sim_instance.no_permission_api_key)
    checked = 0
    for route in build_router().routes:
        if route.method != "GET" or not route.auth:
            continue
        resp = none.request("GET", _fill(route))
        if route.path in OPEN_READS:
            assert route.view is None and resp.status_code == 200, route.path
            continue
        assert route.view is not None, f"{route.path} is readable without any permission"
        assert _missing(resp) == route.view, route.path
        assert route.view in ALL_PERMISSIONS
        assert route.view.endswith("View") or route.view == "ConfigureServer", route.path
        checked += 1
    assert checked > 100


def _permissions(api: Api, path: str | None = None) -> dict[str, Any]:
    if path is None:
        me = api.get("/api/users/me")
        path = me["Links"]["Permissions"].split("/api/", 1)[1]
        path = "/api/" + path
    result: dict[str, Any] = api.get(path)
    return result


def test_full_key_holds_every_permission_in_every_space(api: Api) -> None:
    perms = _permissions(api)
    assert perms["Id"] == "Users-1"
    assert perms["SystemPermissions"] == list(SYSTEM_PERMISSIONS)
    assert "AdministerSystem" in perms["SystemPermissions"]
    assert set(perms["SpacePermissions"]) == set(SPACE_PERMISSIONS)
    spaces = sorted(s["Id"] for s in api.get("/api/spaces/all"))
    for entries in perms["SpacePermissions"].values():
        assert sorted(e["SpaceId"] for e in entries) == spaces
        assert all(e["RestrictedToProjectIds"] == [] for e in entries)
    assert {"teams-everyone", "teams-administrators"} <= {t["Id"] for t in perms["Teams"]}
    assert perms["Links"]["Self"].endswith("/api/users/Users-1/permissions")


def test_read_only_key_holds_only_view_permissions(ro_api: Api) -> None:
    perms = _permissions(ro_api)
    assert perms["Id"] == "Users-2"
    granted = set(perms["SystemPermissions"]) | set(perms["SpacePermissions"])
    assert granted and all(p.endswith("View") for p in granted)
    assert {"SpaceView", "TeamView", "UserView", "TaskView"} <= set(perms["SystemPermissions"])
    assert {"ProjectView", "EnvironmentView", "VariableView"} <= set(perms["SpacePermissions"])
    assert "ProjectEdit" not in granted and "AdministerSystem" not in granted


def test_no_permission_key_holds_nothing(none_api: Api) -> None:
    perms = _permissions(none_api)
    assert perms["SystemPermissions"] == [] and perms["SpacePermissions"] == {}
    assert [t["Id"] for t in perms["Teams"]] == ["teams-everyone"]
    assert perms["IsPermissionsComplete"] is True


def test_another_users_permissions_come_from_their_teams_and_scoped_roles(api: Api) -> None:
    name = f"perm-{uuid.uuid4().hex[:6]}"
    user = api.post("/api/users", {"Username": name, "DisplayName": name}).json()
    env = api.get("/api/Spaces-2/environments/all")[0]["Id"]
    team = api.post(
        "/api/Spaces-2/teams",
        {"Name": name, "MemberUserIds": [user["Id"]], "ExternalSecurityGroups": []},
    ).json()
    role = {"TeamId": team["Id"], "UserRoleId": "userroles-projectviewer", "SpaceId": "Spaces-2"}
    resp = api.post("/api/scopeduserroles", {**role, "EnvironmentIds": [env]})
    assert resp.status_code == 201, resp.text
    perms = _permissions(api, f"/api/users/{user['Id']}/permissions")
    assert perms["SystemPermissions"] == []
    viewer_role = api.get("/api/userroles/userroles-projectviewer")
    assert set(perms["SpacePermissions"]) == set(viewer_role["GrantedSpacePermissions"])
    assert perms["SpacePermissions"]["ProjectView"] == [
        {
            "SpaceId": "Spaces-2",
            "RestrictedToProjectIds": [],
            "RestrictedToEnvironmentIds": [env],
            "RestrictedToTenantIds": [],
            "RestrictedToProjectGroupIds": [],
        }
    ]
    teams = {t["Id"]: t["IsDirectlyAssigned"] for t in perms["Teams"]}
    assert teams == {"teams-everyone": False, team["Id"]: True}
    # the space forms keep only that space's permissions
    in_two = _permissions(api, f"/api/Spaces-2/users/{user['Id']}/permissions")
    assert in_two["SpacePermissions"] == perms["SpacePermissions"]
    in_one = _permissions(api, f"/api/spaces/Spaces-1/users/{user['Id']}/permissions")
    assert in_one["SpacePermissions"] == {}
    # a system team's system role gives system permissions
    manager = _permissions(api, "/api/users/Users-3/permissions")  # in Octopus Managers
    system_manager = api.get("/api/userroles/userroles-systemmanager")
    assert set(manager["SystemPermissions"]) == set(system_manager["GrantedSystemPermissions"])
    assert api.request("GET", "/api/users/Users-99/permissions").status_code == 404
    assert api.request("GET", "/api/Spaces-9/users/Users-1/permissions").status_code == 404


def test_state_written_before_the_third_key_still_loads() -> None:
    old = Instance("old", "old", seed=3)
    data = old.to_json()
    data["state"] = old.state.to_json()
    del data["no_permission_api_key"]
    users = data["state"]["system"]["users"]
    for ident in [i for i, u in users.items() if u["Username"] == "no-permissions"]:
        del users[ident]
    loaded = Instance.from_json(data)
    assert loaded.no_permission_api_key.startswith("API-")
    assert loaded.key_access(loaded.no_permission_api_key) == "none"
    user = loaded.state.sys("users")[loaded.no_permission_user_id()]
    assert user["Username"] == "no-permissions"
    # and the test helper parses an octosim answer without the key
    raw = {k: v for k, v in old.describe("http://127.0.0.1:1").items() if "no_perm" not in k}
    assert _instance(raw, "").no_permission_api_key == ""


def test_the_seed_is_unchanged_by_the_new_user() -> None:
    inst = Instance("same", "same", seed=5)
    users = inst.state.sys("users")
    assert list(users)[:7] == [f"Users-{n}" for n in range(1, 8)]
    assert users["Users-8"]["Username"] == "no-permissions"
    assert inst.no_permission_user_id() == "Users-8"


def test_building_the_router_twice_gives_the_same_routes() -> None:
    """Each test server builds its own router; a second build must not add legacy forms."""
    first = [(r.method, r.path) for r in build_router().routes]
    second = [(r.method, r.path) for r in build_router().routes]
    assert second == first
    assert len(set(first)) == len(first)
