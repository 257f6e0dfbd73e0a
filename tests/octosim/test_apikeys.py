"""Users' own API keys (``/api/users/{id}/apikeys``): shown once, hashed, acting as the
user with what its teams grant, down to a tenant-scoped ``DeploymentCreate``."""

from __future__ import annotations

import uuid
from typing import Any

from octosim.testing import SimInstance
from tests.octosim.conftest import Api
from tests.octosim.pipeline_helpers import (
    S,
    create_release,
    envs,
    new_project,
    script_step,
    set_process,
)


def _service_user(api: Api) -> dict[str, Any]:
    name = f"svc-{uuid.uuid4().hex[:6]}"
    resp = api.post("/api/users", {"Username": name, "DisplayName": name, "IsService": True})
    assert resp.status_code == 201, resp.text
    user: dict[str, Any] = resp.json()
    assert user["IsService"] is True
    return user


def _key(api: Api, user: dict[str, Any]) -> dict[str, Any]:
    resp = api.post(f"/api/users/{user['Id']}/apikeys", {"Purpose": "tests"})
    assert resp.status_code == 200, resp.text
    doc: dict[str, Any] = resp.json()
    return doc


def test_a_key_is_shown_once_and_acts_as_its_user(api: Api, sim_instance: SimInstance) -> None:
    user = _service_user(api)
    created = _key(api, user)
    assert created["ApiKey"].startswith("API-") and created["UserId"] == user["Id"]
    listed = api.get(f"/api/users/{user['Id']}/apikeys")["Items"]
    assert [k["Id"] for k in listed] == [created["Id"]]
    assert all("ApiKey" not in k for k in listed)
    assert "ApiKey" not in api.get(f"/api/users/{user['Id']}/apikeys/{created['Id']}")
    assert created["ApiKey"] not in api.request("GET", f"/api/users/{user['Id']}/apikeys").text
    own = Api(sim_instance, created["ApiKey"])
    assert own.get("/api/users/me")["Id"] == user["Id"]
    # in no team: signed in, but no permission to read a space
    assert own.request("GET", f"{S}/projects").status_code == 403
    assert api.post(f"/api/users/{user['Id']}/apikeys", {}).status_code == 400
    assert api.delete(f"/api/users/{user['Id']}/apikeys/{created['Id']}").status_code == 200
    assert own.request("GET", "/api/users/me").status_code == 401
    assert api.request("GET", f"/api/users/{user['Id']}/apikeys/{created['Id']}").status_code == 404
    other = _key(api, _service_user(api))
    mixed = f"/api/users/{user['Id']}/apikeys/{other['Id']}"
    assert api.request("GET", mixed).status_code == 400


def test_keys_of_another_user_need_user_edit(api: Api, sim_instance: SimInstance) -> None:
    user = _service_user(api)
    ro = Api(sim_instance, sim_instance.read_only_api_key)
    assert ro.post(f"/api/users/{user['Id']}/apikeys", {"Purpose": "x"}).status_code == 403
    other = Api(sim_instance, _key(api, _service_user(api))["ApiKey"])
    assert other.request("GET", f"/api/users/{user['Id']}/apikeys").status_code == 403


def test_deleting_the_user_ends_its_keys(api: Api, sim_instance: SimInstance) -> None:
    user = _service_user(api)
    own = Api(sim_instance, _key(api, user)["ApiKey"])
    assert api.delete(f"/api/users/{user['Id']}").status_code == 200
    assert own.request("GET", "/api/users/me").status_code == 401


def test_a_tenant_scoped_deployment_creator_deploys_only_for_its_tenant(
    api: Api, sim_instance: SimInstance
) -> None:
    project = new_project(api, TenantedDeploymentMode="Tenanted")
    set_process(api, project, [script_step("Hello")])
    first = envs(api)[0]
    connected = {project["Id"]: [first["Id"]]}
    ours = api.post(f"{S}/tenants", {"Name": f"Ours {project['Id']}",
                                     "ProjectEnvironments": connected}).json()  # fmt: skip
    theirs = api.post(f"{S}/tenants", {"Name": f"Theirs {project['Id']}",
                                       "ProjectEnvironments": connected}).json()  # fmt: skip
    assert create_release(api, project, "1.0.0").status_code == 200
    user = _service_user(api)
    body = {"Name": f"Deployers {user['Id']}", "MemberUserIds": [user["Id"]],
            "ExternalSecurityGroups": []}  # fmt: skip
    team = api.post(f"{S}/teams", body).json()
    scoped = api.post(
        f"{S}/scopeduserroles",
        {"TeamId": team["Id"], "UserRoleId": "userroles-deploymentcreator",
         "SpaceId": "Spaces-1", "TenantIds": [ours["Id"]]},
    )  # fmt: skip
    assert scoped.status_code == 201, scoped.text
    own = Api(sim_instance, _key(api, user)["ApiKey"])
    body = {"ProjectName": project["Name"], "ReleaseVersion": "1.0.0",
            "EnvironmentName": first["Name"]}  # fmt: skip
    ok = own.post(f"{S}/deployments/create/tenanted/v1", {**body, "Tenants": [ours["Name"]]})
    assert ok.status_code == 200, ok.text
    refused = own.post(f"{S}/deployments/create/tenanted/v1", {**body, "Tenants": [theirs["Name"]]})
    assert refused.status_code == 403
    assert refused.json()["ErrorMessage"].endswith("Missing permission: DeploymentCreate")
    # the role grants no other write
    assert own.post(f"{S}/environments", {"Name": "Nope"}).status_code == 403
    assert own.get(f"{S}/projects/{project['Id']}/releases")["Items"][0]["Version"] == "1.0.0"
