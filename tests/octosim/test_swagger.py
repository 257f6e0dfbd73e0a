"""Every route octosim implements answers with what the Octopus 2020.5 Swagger declares.

The response body of each route (under each of its URL forms) is validated against the
response schema the Swagger gives for that path, method and status code, with ``$ref``s
resolved.  The schemas are made stricter than the Swagger itself: an object may only carry
the properties its definition lists, except the newer-Octopus fields in ``NEWER_FIELDS``
(each one listed in docs/octosim.md).  Swagger 2.0 cannot say "nullable", and Octopus
returns ``null`` for unset values, so ``null`` is accepted for any property.
"""

from __future__ import annotations

import copy
import gzip
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from octosim.routing import Route
from octosim.server import build_router
from octosim.testing import SimInstance

# Octopus Server's own Swagger for 2020.5.0-rc.4 (as published by the server), gzipped.
SWAGGER = Path(__file__).parent / "server-2020.5-swagger.json.gz"

# Fields octosim returns that the 2020.5 Swagger does not list: they come from newer
# Octopus versions (docs/octosim.md, "Deliberate deviations").
NEWER_FIELDS: dict[str, set[str]] = {
    "SpaceResource": {"Slug", "IsPrivate"},
    "TeamResource": {"Slug"},
    "EnvironmentResource": {"Slug"},
    "ProjectGroupResource": {"Slug"},
    "LifecycleResource": {"Slug"},
    "FeedResource": {"Slug"},
    "WorkerPoolResource": {"Slug"},
    "MachineResource": {"Slug"},
    "DeploymentTargetResource": {"Slug"},
    "TenantResource": {"Slug", "IsDisabled"},
    "ResourceCollection_of_TaskResource": {"TotalCounts"},
    # the built-in feed lists its PackageFromBuiltInFeedResource subtype
    "PackageResource": {"Hash", "PackageSizeBytes"},
    "OctopusServerNodeResource": {"LastSeen", "Rank", "IsOffline", "Version"},
}
# Polymorphic bases: the Swagger lists only the base class's fields, the wire carries the
# subtype's (NuGetFeedResource, ListeningTentacleEndpointResource, ...), so no strictness.
POLYMORPHIC = {
    "FeedResource", "EndpointResource", "Control", "TriggerFilterResource", "TriggerActionResource",
}  # fmt: skip
# 2020.5 declares no response schema for these (or the body is not JSON): status only.
NO_SCHEMA = {
    ("GET", "/api/serverstatus"): "the Swagger gives no schema ('OK - Default')",
    ("GET", "/api/octopusservernodes/ping"): "the Swagger gives no schema (200 OK / 418)",
    ("GET", "/api/{baseSpaceId}/reporting/deployments/xml"): "XML, not JSON",
    ("GET", "/api/reporting/deployments/xml"): "XML, not JSON",
    ("GET", "/api/smtpconfiguration"): "the Swagger gives no schema (200 only)",
    ("PUT", "/api/smtpconfiguration"): "the Swagger gives no schema (200 only)",
    ("GET", "/api/{baseSpaceId}/tasks/{id}/raw"): "plain text",
    ("GET", "/api/tasks/{id}/raw"): "plain text",
    ("GET", "/api/{baseSpaceId}/packages/{id}/raw"): "the package file",
    ("GET", "/api/octopusservernodes/summary"): "the Swagger gives no schema",
    ("GET", "/api/packages/{id}/raw"): "the package file",
    ("POST", "/api/{baseSpaceId}/packages/raw"): "200 (IgnoreIfExists) has no schema; 201 checked",
    ("POST", "/api/packages/raw"): "200 (IgnoreIfExists) has no schema; 201 checked",
    ("GET", "/api/{baseSpaceId}/libraryvariablesets/{id}/usages"): "no schema in 2020.5",
    ("GET", "/api/libraryvariablesets/{id}/usages"): "no schema in 2020.5",
}
# the Swagger says "OK - Default" without a schema, but the matching resource is known
SCHEMA_OVERRIDES = {
    ("GET", "/api/users/me"): "UserResource",
    ("GET", "/api/actiontemplates/{id}/versions/{version}"): "ActionTemplateResource",
    ("GET", "/api/{baseSpaceId}/actiontemplates/{id}/versions/{version}"): "ActionTemplateResource",
}
# a status octosim answers with that differs from the 2020.5 Swagger (newer servers)
OTHER_STATUS = {
    ("PUT", "/api/spaces/{id}"): "2020.5 declares 201 for PUT; newer Octopus answers 200",
}
# routes octosim serves that the 2020.5 Swagger does not have at all
# (reason, the schema its body is checked against, built from 2020.5 definitions)
_PROCESS = {"$ref": "#/definitions/DeploymentProcessResource"}
_TASKS = {
    "type": "object",
    "properties": {
        "DeploymentServerTasks": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "DeploymentId": {"type": "string"},
                    "ServerTaskId": {"type": "string"},
                },
            },
        }
    },
}
_RUNBOOK = {"$ref": "#/definitions/RunbookResource"}
_RB_PROCESS = {"$ref": "#/definitions/RunbookProcessResource"}
# go-octopusdeploy's GitCredentialResource: the password is a SensitiveValue, never returned
_GIT_CREDENTIAL: dict[str, Any] = {
    "type": "object",
    "required": ["Id", "Name", "Details", "SpaceId"],
    "additionalProperties": False,
    "properties": {
        **{k: {} for k in ("Id", "Name", "Slug", "Description", "SpaceId", "Links")},
        **{k: {} for k in ("LastModifiedOn", "LastModifiedBy")},
        "Details": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "Type": {"enum": ["UsernamePassword"]},
                "Username": {"type": "string"},
                "Password": {
                    "type": "object",
                    "properties": {
                        "HasValue": {"type": "boolean"},
                        "NewValue": {"type": "null"},
                        "Hint": {},
                    },
                },
            },
        },
    },
}
# RetentionDefaultConfigurationResource (Octopus's API reference for newer servers)
_RETENTION_WHY = "the default retention setting is newer than 2020.5"
_RETENTION: dict[str, Any] = {
    "type": "object",
    "required": ["Id", "RetentionDays"],
    "additionalProperties": False,
    "properties": {
        "Id": {"type": "string"},
        "RetentionDays": {"type": "integer"},
        **{k: {} for k in ("LastModifiedOn", "LastModifiedBy", "Links")},
    },
}
_FREEZES_WHY = "deployment freezes with tenant scopes are Octopus 2025.1+"
_FREEZE = {
    "type": "object",
    "required": ["Id", "Name", "Start", "End", "ProjectEnvironmentScope"],
    "properties": {
        "Id": {"type": "string"},
        "Name": {"type": "string"},
        "Start": {"type": "string"},
        "End": {"type": "string"},
        "ProjectEnvironmentScope": {"type": "object"},
        "TenantProjectEnvironmentScope": {"type": "array"},
        **{k: {} for k in ("RecurringSchedule", "Links")},
    },
}
_FREEZES = {
    "type": "object",
    "required": ["DeploymentFreezes", "Count"],
    "properties": {
        "DeploymentFreezes": {"type": "array", "items": _FREEZE},
        "Count": {"type": "integer"},
    },
}
_BY_PROJECT = "project-scoped form the TypeScript client calls (2021+)"
NOT_IN_SWAGGER: dict[tuple[str, str], tuple[str, dict[str, Any] | None]] = {
    # None: no response body (Octopus.Client's Put ignores one).
    ("PUT", "/api/users/{id}/revoke-sessions"): (
        "UserRepository.RevokeSessions, Octopus 2022.1+ (Octopus.Client 11.6)",
        None,
    ),
    ("POST", "/api/{spaceId}/projects/{projectId}/runbooks"): (_BY_PROJECT, _RUNBOOK),
    ("GET", "/api/{spaceId}/projects/{projectId}/runbooks/{id}"): (_BY_PROJECT, _RUNBOOK),
    ("PUT", "/api/{spaceId}/projects/{projectId}/runbooks/{id}"): (_BY_PROJECT, _RUNBOOK),
    ("DELETE", "/api/{spaceId}/projects/{projectId}/runbooks/{id}"): (_BY_PROJECT, {}),
    ("GET", "/api/{spaceId}/projects/{projectId}/runbookProcesses/{id}"): (
        _BY_PROJECT,
        _RB_PROCESS,
    ),
    ("PUT", "/api/{spaceId}/projects/{projectId}/runbookProcesses/{id}"): (
        _BY_PROJECT,
        _RB_PROCESS,
    ),
    ("POST", "/api/{spaceId}/projects/{id}/runbookSnapshots"): (
        _BY_PROJECT,
        {"$ref": "#/definitions/RunbookSnapshotResource"},
    ),
    ("POST", "/api/{spaceId}/runbook-runs/create/v1"): (
        "the executions API (2022+)",
        {
            "type": "object",
            "properties": {
                "RunbookRunServerTasks": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "RunbookRunId": {"type": "string"},
                            "ServerTaskId": {"type": "string"},
                        },
                    },
                }
            },
        },
    ),
    ("GET", "/api/{spaceId}/projects/{id}/deploymentprocesses"): (
        "a project's process by project (2021+, what the TypeScript client calls)",
        _PROCESS,
    ),
    ("PUT", "/api/{spaceId}/projects/{id}/deploymentprocesses"): (
        "a project's process by project (2021+, what the TypeScript client calls)",
        _PROCESS,
    ),
    ("POST", "/api/{spaceId}/releases/create/v1"): (
        "the executions API (2022+)",
        {
            "type": "object",
            "properties": {"ReleaseId": {"type": "string"}, "ReleaseVersion": {"type": "string"}},
        },
    ),
    ("POST", "/api/{spaceId}/deployments/create/untenanted/v1"): (
        "the executions API (2022+)",
        _TASKS,
    ),
    ("POST", "/api/{spaceId}/deployments/create/tenanted/v1"): (
        "the executions API (2022+)",
        _TASKS,
    ),
    ("GET", "/api/{spaceId}/variables"): (
        "GET /variables?ids=… (bulk read) is 2021+",
        {"type": "array", "items": {"$ref": "#/definitions/VariableSetResource"}},
    ),
    ("GET", "/api/configuration/retention-default"): (_RETENTION_WHY, _RETENTION),
    ("GET", "/api/deploymentfreezes"): (_FREEZES_WHY, _FREEZES),
    ("GET", "/api/deploymentfreezes/{id}"): (_FREEZES_WHY, _FREEZE),
    ("POST", "/api/deploymentfreezes"): (_FREEZES_WHY, _FREEZE),
    ("PUT", "/api/deploymentfreezes/{id}"): (_FREEZES_WHY, _FREEZE),
    ("DELETE", "/api/deploymentfreezes/{id}"): (_FREEZES_WHY, {}),
    ("PUT", "/api/configuration/retention-default"): (_RETENTION_WHY, _RETENTION),
    **{
        (method, f"/api/{{spaceId}}/git-credentials{tail}"): ("Git credentials are 2021.3+", shape)
        for method, tail, shape in (
            ("GET", "", {"type": "object", "required": ["Items", "TotalResults"]}),
            ("GET", "/all", {"type": "array", "items": _GIT_CREDENTIAL}),
            ("GET", "/{id}", _GIT_CREDENTIAL),
            ("POST", "", _GIT_CREDENTIAL),
            ("PUT", "/{id}", _GIT_CREDENTIAL),
            ("DELETE", "/{id}", {}),
        )
    },
}


@cache
def swagger() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(gzip.decompress(SWAGGER.read_bytes()))
    return data


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if "type" in schema:
        out = dict(schema)
        out["type"] = [schema["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
        return out
    return {"anyOf": [{"type": "null"}, schema]}


def _strict(schema: Any, extra: set[str], strict: bool = True) -> Any:
    """Null allowed everywhere; objects with listed properties allow nothing else."""
    if not isinstance(schema, dict):
        return schema
    if schema == {"type": "object"}:
        return {}  # the generator's rendering of C# ``object``: any JSON value
    if schema == {"$ref": "#/definitions/PropertyValueResource"}:
        # serialised as a plain string, or a SensitiveValue object for sensitive properties
        return {"anyOf": [{"type": "string"}, {"$ref": "#/definitions/SensitiveValue"}]}
    out = dict(schema)
    if "properties" in out:
        out["properties"] = {
            key: _nullable(_strict(v, set())) for key, v in out["properties"].items()
        }
        if "additionalProperties" not in out and strict:
            for name in extra:
                out["properties"][name] = {}
            out["additionalProperties"] = False
    if "items" in out:
        out["items"] = _strict(out["items"], set())
    if isinstance(out.get("additionalProperties"), dict):
        out["additionalProperties"] = _strict(out["additionalProperties"], set())
    return out


@cache
def definitions() -> dict[str, Any]:
    defs = copy.deepcopy(swagger()["definitions"])
    return {
        name: _strict(schema, NEWER_FIELDS.get(name, set()), name not in POLYMORPHIC)
        for name, schema in defs.items()
    }


def validate(schema: dict[str, Any], body: Any) -> None:
    root = {"definitions": definitions(), **_strict(schema, set())}
    errors = []
    pending = list(jsonschema.Draft4Validator(root).iter_errors(body))
    while pending:
        error = pending.pop()
        if error.context:
            pending.extend(e for e in error.context if e.validator != "type")
            continue
        where = "/".join(str(p) for p in error.absolute_path)
        errors.append(f"{where}: {error.message[:200]}")
    assert not errors, "\n".join(sorted(set(errors))[:20])


def response_schema(route: Route, status: int) -> dict[str, Any] | None:
    override = SCHEMA_OVERRIDES.get((route.method, route.swagger or ""))
    if override:
        return {"$ref": f"#/definitions/{override}"}
    op = swagger()["paths"][route.swagger][route.method.lower()]
    response = op["responses"].get(str(status))
    if response is None and (route.method, route.swagger) in OTHER_STATUS:
        response = next(v for k, v in op["responses"].items() if k.startswith("2"))
    assert response is not None, f"Swagger has no {status} for {route.method} {route.swagger}"
    schema: dict[str, Any] | None = response.get("schema")
    return schema


# ---------------------------------------------------------------- cases


@dataclass
class Ids:
    """Ids of seeded resources in the instance under test."""

    values: dict[str, str]

    def __getitem__(self, key: str) -> str:
        return self.values[key]


def _first(client: httpx.Client, path: str) -> dict[str, Any]:
    resp = client.get(path)
    assert resp.status_code == 200, (path, resp.text[:200])
    items = resp.json()
    items = items["Items"] if isinstance(items, dict) else items
    assert items, path
    first: dict[str, Any] = items[0]
    return first


def _tenant(client: httpx.Client) -> str:
    tenants = client.get("/api/Spaces-1/tenants/all").json()
    if tenants:
        return str(tenants[0]["Id"])
    created = client.post("/api/Spaces-1/tenants", json={"Name": _unique("Tenant")})
    assert created.status_code == 201, created.text
    return str(created.json()["Id"])


def pipeline_ids(client: httpx.Client) -> dict[str, str]:
    """A project with a real process, a release, a tenant connected to it, a channel and a
    deployment waiting on a manual intervention (the instance has step_ms and the
    interventions fault for projects named "Swagger pipeline …")."""
    s = "/api/Spaces-1"
    # room for every deployment the cases start (each waits on its intervention)
    node = {"MaxConcurrentTasks": 500, "IsInMaintenanceMode": False}
    assert client.put("/api/octopusservernodes/OctopusServerNodes-1", json=node).status_code == 200
    package = push_package(client)
    package_id = package[len("packages-") : -len(".1.0.0")]
    env = sorted(client.get(f"{s}/environments/all").json(), key=lambda e: e["SortOrder"])[0]
    group = client.get(f"{s}/projectgroups/all").json()[0]["Id"]
    lifecycle = client.get(f"{s}/lifecycles/all").json()[0]["Id"]
    project = client.post(
        f"{s}/projects",
        json={"Name": "Swagger pipeline", "ProjectGroupId": group, "LifecycleId": lifecycle,
         "TenantedDeploymentMode": "TenantedOrUntenanted"},
    ).json()  # fmt: skip
    path = f"{s}/projects/{project['Id']}/deploymentprocesses"
    process = client.get(path).json()
    process["Steps"] = [
        {"Name": "Deploy", "Actions": [{"Name": "Deploy", "ActionType": "Octopus.TentaclePackage",
         "Packages": [{"Name": "", "PackageId": package_id, "FeedId": "feeds-builtin"}]}]}
    ]  # fmt: skip
    assert client.put(path, json=process).status_code == 200
    release = client.post(f"{s}/releases", json={"ProjectId": project["Id"], "Version": "1.0.0"})
    assert release.status_code == 201, release.text
    tenant = client.post(
        f"{s}/tenants", json={"Name": _unique("Tenant"),
                              "ProjectEnvironments": {project["Id"]: [env["Id"]]}},
    ).json()  # fmt: skip
    channel = client.post(f"{s}/channels", json={"Name": "Extra", "ProjectId": project["Id"]})
    taken = fresh_interruption(client, project["Name"], env["Name"])
    assert client.put(f"{s}/interruptions/{taken}/responsible").status_code == 200
    assert channel.status_code == 201, channel.text
    return {
        **runbook_ids(client, project["Id"], env["Id"]),
        "pipeline_project": project["Name"],
        "pipeline_project_id": project["Id"],
        "pipeline_env": env["Name"],
        "pipeline_tenant": tenant["Name"],
        "channels": channel.json()["Id"],
        "deploymentprocesses": project["DeploymentProcessId"],
        "pipeline_release": release.json()["Id"],
        "interruptions": taken,
        "octopusservernodes": "OctopusServerNodes-1",
    }


def runbook_ids(client: httpx.Client, project_id: str, env_id: str) -> dict[str, str]:
    s = "/api/Spaces-1"
    runbook = client.post(f"{s}/runbooks", json={"Name": "Swagger rb", "ProjectId": project_id})
    assert runbook.status_code == 201, runbook.text
    rb = runbook.json()
    path = f"{s}/runbookProcesses/{rb['RunbookProcessId']}"
    process = client.get(path).json()
    process["Steps"] = [{"Name": "Go", "Actions": [{"ActionType": "Octopus.Script"}]}]
    assert client.put(path, json=process).status_code == 200
    snap = client.post(
        f"{s}/runbookSnapshots?publish=true", json={"RunbookId": rb["Id"], "Name": "s1"}
    ).json()
    run = client.post(
        f"{s}/runbookRuns", json={"RunbookSnapshotId": snap["Id"], "EnvironmentId": env_id}
    )
    assert run.status_code == 201, run.text
    return {
        "runbooks": rb["Id"],
        "runbook_name": rb["Name"],
        "runbookProcesses": rb["RunbookProcessId"],
        "runbookSnapshots": snap["Id"],
        "runbookRuns": run.json()["Id"],
        "pipeline_env_id": env_id,
    }


def fresh_interruption(client: httpx.Client, project: str, env: str) -> str:
    started = client.post(
        "/api/Spaces-1/deployments/create/untenanted/v1",
        json={"ProjectName": project, "ReleaseVersion": "1.0.0", "EnvironmentNames": [env]},
    )
    assert started.status_code == 200, started.text
    task = started.json()["DeploymentServerTasks"][0]["ServerTaskId"]
    found = client.get("/api/Spaces-1/interruptions", params={"regarding": task}).json()
    return str(found["Items"][0]["Id"])


def gather_ids(client: httpx.Client) -> Ids:
    s = "/api/Spaces-1"
    group = next(g["ProjectGroupId"] for g in client.get(f"{s}/projects/all").json())
    lvs = _first(client, f"{s}/libraryvariablesets/all")
    template = _first(client, f"{s}/actiontemplates/all")
    running = _first(client, "/api/tasks?states=Executing,Queued&spaces=Spaces-1")
    dep = _first(client, f"{s}/deployments")
    team = next(t for t in client.get("/api/teams/all").json() if t["SpaceId"] == "Spaces-1")
    return Ids(
        {
            "projects": _first(client, f"{s}/projects/all")["Id"],
            "projectgroups": group,
            "environments": _first(client, f"{s}/environments/all")["Id"],
            "machines": _first(client, f"{s}/machines/all")["Id"],
            "lifecycles": _first(client, f"{s}/lifecycles/all")["Id"],
            "feeds": _first(client, f"{s}/feeds/all")["Id"],
            "tenants": _tenant(client),
            "libraryvariablesets": lvs["Id"],
            "variables": lvs["VariableSetId"],
            "actiontemplates": template["Id"],
            "template_version": str(template["Version"]),
            "tasks": dep["TaskId"],
            "running_task": running["Id"],
            "deployments": dep["Id"],
            "releases": dep["ReleaseId"],
            "teams": team["Id"],
            "scopeduserroles": _first(client, "/api/scopeduserroles")["Id"],
            "userroles": "userroles-projectviewer",
            "users": "Users-3",
            "communityactiontemplates": "CommunityActionTemplates-2",
            "packages": push_package(client),
            "workerpools": _first(client, f"{s}/workerpools/all")["Id"],
            "tagsets": _created(client, f"{s}/tagsets", "tagsets"),
            "git-credentials": _created(client, f"{s}/git-credentials", "git-credentials"),
            "subscriptions": _created(client, f"{s}/subscriptions", "subscriptions"),
            "projecttriggers": _trigger(client),
            **pipeline_ids(client),
        }
    )


def _created(client: httpx.Client, path: str, kind: str) -> str:
    ids = Ids({"projectgroups": "", "lifecycles": "", "environments": "", "teams": ""})
    resp = client.post(path, json=create_body(kind, client, ids))
    assert resp.status_code == 201, resp.text[:300]
    return str(resp.json()["Id"])


_BLANK = {"projectgroups": "", "lifecycles": "", "environments": "", "teams": ""}


def _trigger(client: httpx.Client) -> str:
    project = _first(client, "/api/Spaces-1/projects/all")["Id"]
    body = create_body("projecttriggers", client, Ids({"projects": project, **_BLANK}))
    resp = client.post("/api/Spaces-1/projecttriggers", json=body)
    assert resp.status_code == 201, resp.text[:300]
    return str(resp.json()["Id"])


def key_of(route: Route) -> tuple[str, str]:
    """The space form of a route (``/api/{spaceId}/x``) for its three URL forms."""
    if route.form == "spaces":
        return route.method, route.path.replace("/api/spaces/{spaceId}", "/api/{spaceId}", 1)
    if route.form == "default":
        return route.method, "/api/{spaceId}" + route.path[len("/api") :]
    return route.method, route.path


def _unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


def create_body(kind: str, client: httpx.Client, ids: Ids) -> dict[str, Any]:
    name = _unique(kind)
    bodies: dict[str, dict[str, Any]] = {
        "projects": {
            "Name": name,
            "ProjectGroupId": ids["projectgroups"],
            "LifecycleId": ids["lifecycles"],
        },
        "machines": {
            "Name": name,
            "EnvironmentIds": [ids["environments"]],
            "Roles": ["web-server"],
            "Endpoint": {"CommunicationStyle": "None"},
        },
        "feeds": {"Name": name, "FeedType": "NuGet", "FeedUri": "https://example.com/nuget"},
        "libraryvariablesets": {"Name": name, "ContentType": "Variables"},
        "actiontemplates": {
            "Name": name,
            "ActionType": "Octopus.Script",
            "Properties": {"Octopus.Action.Script.ScriptBody": "echo hi"},
        },
        "spaces": {
            "Name": name[:40],
            "SpaceManagersTeams": [],
            "SpaceManagersTeamMembers": ["Users-1"],
        },
        "teams": {"Name": name, "MemberUserIds": [], "ExternalSecurityGroups": []},
        "scopeduserroles": {
            "TeamId": ids["teams"],
            "UserRoleId": "userroles-projectviewer",
            "SpaceId": "Spaces-1",
            "EnvironmentIds": [],
        },
        "userroles": {"Name": name, "GrantedSpacePermissions": ["ProjectView"]},
        "users": {"Username": name.replace(" ", "."), "DisplayName": name},
        "tagsets": {"Name": name, "Tags": [{"Name": "Gold", "Color": "#FFD700"}]},
        "subscriptions": {
            "Name": name,
            "Type": "Event",
            "EventNotificationSubscription": {
                "Filter": {"EventGroups": ["DeploymentFailed"]},
                "WebhookURI": "https://hooks.example/octopus",
                "WebhookHeaderKey": "X-Token",
                "WebhookHeaderValue": "abc",
            },
        },
        "projecttriggers": {
            "Name": name,
            "ProjectId": ids.values.get("projects", ""),
            "Filter": {"FilterType": "MachineFilter", "Roles": ["web"]},
            "Action": {"ActionType": "AutoDeploy"},
        },
        "git-credentials": {
            "Name": name,
            "Details": {
                "Type": "UsernamePassword",
                "Username": "git",
                "Password": {"HasValue": True, "NewValue": "hunter2"},
            },
        },
    }
    return bodies.get(kind, {"Name": name})


@dataclass
class Upload:
    """A multipart file body (package push)."""

    name: str
    data: bytes


def push_package(client: httpx.Client) -> str:
    name = f"Swagger.Pkg{uuid.uuid4().hex[:8]}.1.0.0.zip"
    resp = client.post("/api/Spaces-1/packages/raw", files={"fileToUpload": (name, b"zip")})
    assert resp.status_code == 201, resp.text
    return str(resp.json()["Id"])


Case = Callable[[httpx.Client, Ids, Route], tuple[dict[str, str], Any, int]]


def _kind_of(key: str) -> str:
    parts = [p for p in key.split("/") if p and p not in ("api", "{spaceId}")]
    return parts[0] if parts else ""


def _collection_path(route: Route, kind: str) -> str:
    """The collection URL in the same form as ``route`` (for setting up a delete)."""
    path = route.path.split("/{id}")[0]
    return path.replace("{spaceId}", "Spaces-1")


def case_for(key: tuple[str, str]) -> Case | None:
    method, path = key
    kind = _kind_of(path)
    special = PIPELINE_CASES.get(key)
    if special is not None:
        return special
    if method == "GET":
        return _get_case(path, kind)
    if method == "POST" and path.endswith("/cancel"):
        return lambda c, ids, r: ({"id": ids["running_task"]}, None, 200)
    if method == "POST" and "/installation" in path:
        return _install_case
    if method == "PUT" and "/installation" in path:
        return _update_install_case
    if method == "POST" and path.endswith("/deployments"):
        return lambda c, ids, r: (
            {},
            {"ReleaseId": ids["pipeline_release"], "EnvironmentId": ids["pipeline_env_id"]},
            201,
        )
    if method == "POST" and path.count("{") <= 1:
        return lambda c, ids, r: ({}, create_body(kind, c, ids), 201)
    if method == "PUT" and path.endswith("/maintenanceconfiguration"):
        return lambda c, ids, r: ({}, {"IsInMaintenanceMode": False}, 200)
    if method == "PUT" and path.endswith("/configuration/retention-default"):
        return lambda c, ids, r: ({}, {"RetentionDays": 30}, 200)
    if method == "PUT" and path.endswith("/smtpconfiguration"):
        return lambda c, ids, r: ({}, {"SmtpHost": "smtp.example", "SmtpPort": 25}, 200)
    if method == "PUT" and path.endswith("/variables/{id}"):
        return _put_variables_case
    if method == "PUT" and path.endswith("/{id}"):
        return _put_case(kind)
    if method == "DELETE" and path.endswith("/{id}"):
        return _delete_case(kind)
    return None


def _get_case(path: str, kind: str) -> Case | None:
    params: dict[str, str] = {}

    def build(c: httpx.Client, ids: Ids, r: Route) -> tuple[dict[str, str], Any, int]:
        values = dict(params)
        if "{id}" in path:
            if kind == "tasks":
                values["id"] = ids["tasks"]
            elif kind == "communityactiontemplates":
                values["id"] = "CommunityActionTemplates-1"
                _ensure_installed(c, r)
            elif kind == "spaces":
                values["id"] = "Spaces-1"
            elif kind == "variables":
                values["id"] = ids["variables"]
            else:
                values["id"] = ids[kind]
        if "{version}" in path:
            values["version"] = ids["template_version"]
        return values, None, 200

    return build


def _ensure_installed(client: httpx.Client, route: Route) -> None:
    space = "/Spaces-1" if "{spaceId}" in route.path else ""
    client.post(f"/api/communityactiontemplates/CommunityActionTemplates-1/installation{space}")


def _install_case(c: httpx.Client, ids: Ids, r: Route) -> tuple[dict[str, str], Any, int]:
    # each install goes to a template not yet installed in that space
    cat = f"CommunityActionTemplates-{3 if '{spaceId}' in r.path else 4}"
    return {"id": cat, "spaceId": "Spaces-2"}, None, 201


def _update_install_case(c: httpx.Client, ids: Ids, r: Route) -> tuple[dict[str, str], Any, int]:
    _ensure_installed(c, r)
    return {"id": "CommunityActionTemplates-1", "spaceId": "Spaces-1"}, None, 200


def _put_variables_case(c: httpx.Client, ids: Ids, r: Route) -> tuple[dict[str, str], Any, int]:
    doc = c.get(f"/api/Spaces-1/variables/{ids['variables']}").json()
    doc["Variables"].append({"Name": _unique("New.Var").replace(" ", "."), "Value": "x"})
    return {"id": ids["variables"]}, doc, 200


def _put_case(kind: str) -> Case:
    def build(c: httpx.Client, ids: Ids, r: Route) -> tuple[dict[str, str], Any, int]:
        ident = "Spaces-2" if kind == "spaces" else ids[kind]
        base = r.path.replace("{spaceId}", "Spaces-1").replace("{id}", ident)
        doc = c.get(base).json()
        doc["Description"] = _unique("changed")
        return {"id": ident}, doc, 200

    return build


def _delete_case(kind: str) -> Case:
    def build(c: httpx.Client, ids: Ids, r: Route) -> tuple[dict[str, str], Any, int]:
        created = c.post(_collection_path(r, kind), json=create_body(kind, c, ids))
        assert created.status_code == 201, created.text[:300]
        doc = created.json()
        if kind == "spaces":
            doc["TaskQueueStopped"] = True
            assert c.put(f"/api/spaces/{doc['Id']}", json=doc).status_code == 200
        return {"id": doc["Id"]}, None, 200

    return build


def _version(prefix: str) -> str:
    return f"{prefix}.{uuid.uuid4().int % 10**9}"


def _responsible(c: httpx.Client, ids: Ids, r: Route) -> tuple[dict[str, str], Any, int]:
    ident = fresh_interruption(c, ids["pipeline_project"], ids["pipeline_env"])
    return {"id": ident}, None, 200


def _submit(c: httpx.Client, ids: Ids, r: Route) -> tuple[dict[str, str], Any, int]:
    ident = fresh_interruption(c, ids["pipeline_project"], ids["pipeline_env"])
    assert c.put(f"/api/Spaces-1/interruptions/{ident}/responsible").status_code == 200
    return {"id": ident}, {"Result": "Proceed", "Notes": "ok"}, 200


def _new_release(c: httpx.Client, ids: Ids, r: Route) -> tuple[dict[str, str], Any, int]:
    body = {"ProjectId": ids["pipeline_project_id"], "Version": _version("2.0")}
    return {}, body, 201


def _delete_release(c: httpx.Client, ids: Ids, r: Route) -> tuple[dict[str, str], Any, int]:
    created = c.post("/api/Spaces-1/releases", json=_new_release(c, ids, r)[1])
    assert created.status_code == 201, created.text
    return {"id": created.json()["Id"]}, None, 200


def _delete_channel(c: httpx.Client, ids: Ids, r: Route) -> tuple[dict[str, str], Any, int]:
    body = {"Name": _unique("Channel"), "ProjectId": ids["pipeline_project_id"]}
    created = c.post("/api/Spaces-1/channels", json=body)
    assert created.status_code == 201, created.text
    return {"id": created.json()["Id"]}, None, 200


def _put_project_process(c: httpx.Client, ids: Ids, r: Route) -> tuple[dict[str, str], Any, int]:
    path = f"/api/Spaces-1/projects/{ids['pipeline_project_id']}/deploymentprocesses"
    return {"id": ids["pipeline_project_id"]}, c.get(path).json(), 200


def _new_runbook(c: httpx.Client, ids: Ids, project: bool = False) -> str:
    body = {"Name": _unique("Runbook"), "ProjectId": ids["pipeline_project_id"]}
    created = c.post("/api/Spaces-1/runbooks", json=body)
    assert created.status_code == 201, created.text
    return str(created.json()["Id"])


def _in_project(ident: str) -> Case:
    """A route under projects/{projectId}/…/{id}: the pipeline project and ``ids[ident]``."""

    def build(c: httpx.Client, ids: Ids, r: Route) -> tuple[dict[str, str], Any, int]:
        values = {"projectId": ids["pipeline_project_id"], "id": ids[ident]}
        if r.method == "PUT":
            path = f"/api/Spaces-1/projects/{values['projectId']}/{r.path.split('/')[-2]}"
            return values, c.get(f"{path}/{values['id']}").json(), 200
        return values, None, 200

    return build


def _post_tenant_variables(c: httpx.Client, ids: Ids, r: Route) -> tuple[dict[str, str], Any, int]:
    doc = c.get(f"/api/Spaces-1/tenants/{ids['tenants']}/variables").json()
    return {"id": ids["tenants"]}, doc, 200


def _delete_deployment(c: httpx.Client, ids: Ids, r: Route) -> tuple[dict[str, str], Any, int]:
    body = {"ReleaseId": ids["pipeline_release"], "EnvironmentId": ids["pipeline_env_id"]}
    dep = c.post("/api/Spaces-1/deployments", json=body).json()
    assert c.post(f"/api/tasks/{dep['TaskId']}/cancel").status_code == 200
    return {"id": dep["Id"]}, None, 200


def _freeze_body() -> dict[str, Any]:
    """A freeze that starts tomorrow: it refuses none of the other cases' deployments."""
    start = datetime.now(UTC) + timedelta(days=1)
    return {"Name": _unique("Freeze"), "Start": start.isoformat(),
            "End": (start + timedelta(days=1)).isoformat()}  # fmt: skip


def _freeze(c: httpx.Client) -> str:
    resp = c.post("/api/deploymentfreezes", json=_freeze_body())
    assert resp.status_code == 201, resp.text[:300]
    return str(resp.json()["Id"])


def _api_key(c: httpx.Client, ids: Ids, r: Route) -> tuple[dict[str, str], Any, int]:
    created = c.post("/api/users/Users-3/apikeys", json={"Purpose": "swagger"}).json()
    return {"id": "Users-3", "keyId": created["Id"]}, None, 200


PIPELINE_CASES: dict[tuple[str, str], Case] = {
    ("GET", "/api/deploymentfreezes"): lambda c, ids, r: ({}, None, 200),
    ("GET", "/api/deploymentfreezes/{id}"): lambda c, ids, r: ({"id": _freeze(c)}, None, 200),
    ("POST", "/api/deploymentfreezes"): lambda c, ids, r: ({}, _freeze_body(), 201),
    ("PUT", "/api/deploymentfreezes/{id}"): lambda c, ids, r: (
        {"id": _freeze(c)}, _freeze_body(), 200
    ),
    ("DELETE", "/api/deploymentfreezes/{id}"): lambda c, ids, r: ({"id": _freeze(c)}, None, 200),
    ("GET", "/api/users/{id}/apikeys"): lambda c, ids, r: ({"id": "Users-3"}, None, 200),
    ("POST", "/api/users/{id}/apikeys"): lambda c, ids, r: (
        {"id": "Users-3"}, {"Purpose": "swagger"}, 200
    ),
    ("GET", "/api/users/{id}/apikeys/{keyId}"): _api_key,
    ("DELETE", "/api/users/{id}/apikeys/{keyId}"): _api_key,
    ("PUT", "/api/users/{id}/revoke-sessions"): lambda c, ids, r: ({"id": "Users-3"}, None, 200),
    # the sign-in provider's configuration section (octosim/signin.py)
    ("GET", "/api/configuration/{id}/values"): lambda c, ids, r: (
        {"id": "authentication-od"}, None, 200
    ),
    ("PUT", "/api/configuration/{id}/values"): lambda c, ids, r: (
        {"id": "authentication-od"}, {"IsEnabled": False, "RoleClaimType": "groups"}, 200
    ),
    ("DELETE", "/api/{spaceId}/deployments/{id}"): _delete_deployment,
    ("GET", "/api/{spaceId}/projects/{id}/releases/{version}"): lambda c, ids, r: (
        {"id": ids["pipeline_project_id"], "version": "1.0.0"}, None, 200
    ),
    ("POST", "/api/{spaceId}/tenants/{id}/variables"): _post_tenant_variables,
    ("PUT", "/api/{spaceId}/tenants/{id}/variables"): _post_tenant_variables,
    ("POST", "/api/{spaceId}/runbooks"): lambda c, ids, r: (
        {}, {"Name": _unique("Runbook"), "ProjectId": ids["pipeline_project_id"]}, 201
    ),
    ("POST", "/api/{spaceId}/projects/{projectId}/runbooks"): lambda c, ids, r: (
        {"projectId": ids["pipeline_project_id"]}, {"Name": _unique("Runbook")}, 201
    ),
    ("DELETE", "/api/{spaceId}/runbooks/{id}"): lambda c, ids, r: (
        {"id": _new_runbook(c, ids)}, None, 200
    ),
    ("DELETE", "/api/{spaceId}/projects/{projectId}/runbooks/{id}"): lambda c, ids, r: (
        {"projectId": ids["pipeline_project_id"], "id": _new_runbook(c, ids)}, None, 200
    ),
    ("GET", "/api/{spaceId}/projects/{projectId}/runbooks/{id}"): _in_project("runbooks"),
    ("PUT", "/api/{spaceId}/projects/{projectId}/runbooks/{id}"): _in_project("runbooks"),
    ("GET", "/api/{spaceId}/projects/{projectId}/runbookProcesses/{id}"): _in_project(
        "runbookProcesses"
    ),
    ("PUT", "/api/{spaceId}/projects/{projectId}/runbookProcesses/{id}"): _in_project(
        "runbookProcesses"
    ),
    ("POST", "/api/{spaceId}/runbookSnapshots"): lambda c, ids, r: (
        {}, {"RunbookId": ids["runbooks"], "Name": _unique("snap")}, 201
    ),
    ("POST", "/api/{spaceId}/projects/{id}/runbookSnapshots"): lambda c, ids, r: (
        {"id": ids["pipeline_project_id"]},
        {"RunbookId": ids["runbooks"], "Name": _unique("snap")},
        201,
    ),
    ("POST", "/api/{spaceId}/runbookRuns"): lambda c, ids, r: (
        {}, {"RunbookSnapshotId": ids["runbookSnapshots"], "EnvironmentId": ids["pipeline_env_id"]},
        201,
    ),
    ("POST", "/api/{spaceId}/runbook-runs/create/v1"): lambda c, ids, r: (
        {}, {"ProjectName": ids["pipeline_project"], "RunbookName": ids["runbook_name"],
             "EnvironmentNames": [ids["pipeline_env"]]}, 200
    ),
    ("PUT", "/api/{spaceId}/projects/{id}/deploymentprocesses"): _put_project_process,
    ("PUT", "/api/{spaceId}/interruptions/{id}/responsible"): _responsible,
    ("POST", "/api/{spaceId}/interruptions/{id}/submit"): _submit,
    ("POST", "/api/{spaceId}/releases"): _new_release,
    ("DELETE", "/api/{spaceId}/releases/{id}"): _delete_release,
    ("DELETE", "/api/{spaceId}/channels/{id}"): _delete_channel,
    ("POST", "/api/{spaceId}/channels"): lambda c, ids, r: (
        {}, {"Name": _unique("Channel"), "ProjectId": ids["pipeline_project_id"]}, 201
    ),
    ("POST", "/api/{spaceId}/releases/create/v1"): lambda c, ids, r: (
        {},
        {"ProjectName": ids["pipeline_project"], "ReleaseVersion": _version("3.0")},
        200,
    ),
    ("POST", "/api/{spaceId}/deployments/create/untenanted/v1"): lambda c, ids, r: (
        {}, {"ProjectName": ids["pipeline_project"], "ReleaseVersion": "1.0.0",
             "EnvironmentNames": [ids["pipeline_env"]]}, 200
    ),
    ("POST", "/api/{spaceId}/deployments/create/tenanted/v1"): lambda c, ids, r: (
        {}, {"ProjectName": ids["pipeline_project"], "ReleaseVersion": "1.0.0",
             "EnvironmentName": ids["pipeline_env"], "Tenants": [ids["pipeline_tenant"]],
             "TenantTags": []}, 200
    ),
    ("POST", "/api/{spaceId}/releases/{id}/snapshot-variables"): lambda c, ids, r: (
        {"id": ids["pipeline_release"]}, None, 200
    ),
    ("PUT", "/api/octopusservernodes/{id}"): lambda c, ids, r: (
        {"id": "OctopusServerNodes-1"},
        {"MaxConcurrentTasks": 500, "IsInMaintenanceMode": False},
        200,
    ),
    ("POST", "/api/{spaceId}/packages/raw"): lambda c, ids, r: (
        {}, Upload(f"Swagger.Up{uuid.uuid4().hex[:8]}.1.0.0.zip", b"data"), 201
    ),
    ("DELETE", "/api/{spaceId}/packages/{id}"): lambda c, ids, r: (
        {"id": push_package(c)}, None, 200
    ),
    ("GET", "/api/{spaceId}/feeds/{id}/packages/versions"): lambda c, ids, r: (
        {"id": "feeds-builtin", "_query": f"packageId={ids['packages'][9:-6]}"}, None, 200
    ),
}  # fmt: skip


# ---------------------------------------------------------------- tests


ROUTES = build_router().routes


def route_id(route: Route) -> str:
    return f"{route.method} {route.path}"


def test_every_implemented_route_has_a_swagger_check() -> None:
    """The meta-check: no route escapes the conformance test below."""
    paths = swagger()["paths"]
    missing = []
    for route in ROUTES:
        key = key_of(route)
        if case_for(key) is None:
            missing.append(f"no request case for {route_id(route)}")
        if route.swagger is None:
            if key not in NOT_IN_SWAGGER:
                missing.append(f"{route_id(route)} has no Swagger path and no documented reason")
            continue
        if route.method.lower() not in paths.get(route.swagger, {}):
            missing.append(f"{route_id(route)} claims Swagger path {route.swagger} (absent)")
    assert not missing, "\n".join(missing)


def test_the_validator_rejects_wrong_types_and_unknown_fields() -> None:
    space = {"$ref": "#/definitions/SpaceResource"}
    validate(space, {"Id": "Spaces-1", "Name": "Default", "Description": None})
    with pytest.raises(AssertionError, match="Name"):
        validate(space, {"Id": "Spaces-1", "Name": 5})
    with pytest.raises(AssertionError, match="Nmae"):
        validate(space, {"Id": "Spaces-1", "Nmae": "typo"})


@pytest.fixture(scope="module")
def conformance_instance(octosim_server: Any) -> Any:
    inst: SimInstance = octosim_server.create_instance(_unique("swagger").replace(" ", "-"))
    inst.set_faults(step_ms=50, interventions=["Swagger pipeline"])
    client = httpx.Client(
        base_url=inst.url, headers={"X-Octopus-ApiKey": inst.api_key}, trust_env=False, timeout=20
    )
    yield client, gather_ids(client)
    client.close()
    octosim_server.delete_instance(inst.slug)


@pytest.mark.parametrize("route", ROUTES, ids=route_id)
def test_response_matches_the_2020_5_swagger(route: Route, conformance_instance: Any) -> None:
    client, ids = conformance_instance
    case = case_for(key_of(route))
    assert case is not None
    params, body, expected = case(client, ids, route)
    path = route.path
    params.setdefault("spaceId", "Spaces-1")
    query = params.pop("_query", None)
    for name, value in params.items():
        path = path.replace("{" + name + "}", value)
    if query:
        path += "?" + query
    if isinstance(body, Upload):
        resp = client.request(route.method, path, files={"fileToUpload": (body.name, body.data)})
    elif body is not None:
        resp = client.request(route.method, path, json=body)
    else:
        resp = client.request(route.method, path)
    assert resp.status_code == expected, (path, resp.text[:500])
    if (route.method, route.swagger) in NO_SCHEMA and resp.status_code != 201:
        return
    if route.swagger is None:
        expected_body = NOT_IN_SWAGGER[key_of(route)][1]
        if expected_body is None:
            assert resp.content == b"", resp.text[:200]
        elif route.method != "DELETE":
            validate(expected_body, resp.json())
        return
    schema = response_schema(route, resp.status_code)
    if schema is None:
        assert route.method == "DELETE", f"no schema for {route.method} {route.swagger}"
        return
    validate(schema, resp.json())
