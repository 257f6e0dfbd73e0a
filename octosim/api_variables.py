"""Variable set documents: optimistic concurrency and sensitive-value semantics."""

from __future__ import annotations

import uuid
from typing import Any

from octosim import resources as R
from octosim.api_core import require_space
from octosim.errors import MSG_CONCURRENCY, ApiError, invalid, not_found
from octosim.paging import csv_param
from octosim.processes import freeze_shared, frozen_doc
from octosim.routing import Ctx, Reply, Router
from octosim.state import Doc, now

VALID_TYPES = {
    "String", "Sensitive", "Certificate", "AmazonWebServicesAccount", "AzureAccount", "WorkerPool",
    "UsernamePasswordAccount", "GoogleCloudAccount", "GenericOidcAccount",
}  # fmt: skip


def mask(var: Doc) -> Doc:
    out = dict(var)
    if out.get("IsSensitive"):
        out["Value"] = None
    return out


def scope_values(ctx: Ctx, vs: Doc) -> Doc:
    space_id = vs["SpaceId"]
    envs = sorted(ctx.st.col(space_id, "environments").values(), key=lambda e: e["SortOrder"])
    machines = ctx.st.col(space_id, "machines").values()
    roles = sorted({r for m in machines for r in m["Roles"]})
    channels = [
        {"Id": c["Id"], "Name": c["Name"]}
        for c in ctx.st.col(space_id, "channels").values()
        if c["ProjectId"] == vs["OwnerId"]
    ]
    return {
        "Environments": [{"Id": e["Id"], "Name": e["Name"]} for e in envs],
        "Machines": [{"Id": m["Id"], "Name": m["Name"]} for m in machines],
        "Actions": [],
        "Roles": [{"Id": r, "Name": r} for r in roles],
        "Channels": channels,
        "TenantTags": [],
        "Processes": [],
    }


def render_set(ctx: Ctx, vs: Doc) -> Doc:
    out = {k: v for k, v in vs.items() if k != "Variables"}
    # Only a sensitive variable is copied (to mask its value); the others go out as stored:
    # the response is serialized at once and nothing on its way changes a variable
    # (server.prefix_links does not walk "Variables").
    out["Variables"] = [mask(v) if v.get("IsSensitive") else v for v in vs["Variables"]]
    out["ScopeValues"] = scope_values(ctx, vs)
    out["Links"] = {"Self": f"/api/{vs['SpaceId']}/variables/{vs['Id']}"}
    return out


def _get_set(ctx: Ctx) -> Doc:
    require_space(ctx)
    vs = ctx.st.variable_sets.get(ctx.params["id"])
    if vs is None or vs["SpaceId"] != ctx.space_id:
        raise not_found(ctx.params["id"])
    return vs


def get_variables(ctx: Ctx) -> Reply:
    require_space(ctx)
    frozen = frozen_doc(ctx.st, ctx.params["id"])
    if frozen is not None and frozen["SpaceId"] == ctx.space_id:
        return 200, render_set(ctx, frozen)  # a release's or runbook snapshot's copy
    return 200, render_set(ctx, _get_set(ctx))


def list_variables(ctx: Ctx) -> Reply:
    require_space(ctx)
    ids = csv_param(ctx.query, "ids")
    sets = [
        vs
        for vs in ctx.st.variable_sets.values()
        if vs["SpaceId"] == ctx.space_id and (not ids or vs["Id"] in ids)
    ]
    return 200, [render_set(ctx, vs) for vs in sets]


def _merge_variables(raw_vars: list[Any], stored: dict[str, Doc], errors: list[str]) -> list[Doc]:
    """Each variable of a PUT body as Octopus stores it (``resources.variable``'s fields, in its
    order); problems are added to ``errors``. One loop, not a function call per variable: a
    variable set of hundreds of variables is saved on every delivery of a fan-out."""
    merged: list[Doc] = []
    for raw in raw_vars:
        if not isinstance(raw, dict):
            errors.append("Each variable must be an object.")
            continue
        get = raw.get
        name = get("Name")
        if not isinstance(name, str) or not name.strip():
            errors.append("Variable names are required.")
            continue
        ident = get("Id")
        raw_type = get("Type")
        sensitive = bool(get("IsSensitive")) or raw_type == "Sensitive"
        var_type = raw_type or ("Sensitive" if sensitive else "String")
        if var_type not in VALID_TYPES:
            errors.append(f"The variable type '{var_type}' is not valid.")
        value = get("Value")
        previous = stored.get(ident) if ident else None
        if (
            sensitive
            and value in (None, "")
            and previous is not None
            and previous.get("IsSensitive")
        ):
            # Octopus keeps the stored secret when a sensitive variable comes back with its
            # Id and no value (it was read back as null); without an Id the value is wiped.
            value = previous["Value"]
        scope = get("Scope") or {}
        if not isinstance(scope, dict):
            errors.append(f"The scope of variable '{name}' must be an object.")
            scope = {}
        prompt = get("Prompt")
        if prompt and any(k != "Environment" and v for k, v in scope.items()):
            errors.append("Prompted variables cannot be scoped to anything except an environment.")
        merged.append(
            {
                "Id": ident or str(uuid.uuid4()),
                "Name": name,
                "Value": None if value is None else str(value),
                "Description": get("Description") or "",
                "Scope": {k: list(v) for k, v in scope.items() if v} if scope else {},
                "IsEditable": get("IsEditable", True),
                "Prompt": prompt,
                "Type": "Sensitive" if sensitive else var_type,
                "IsSensitive": sensitive,
            }
        )
    return merged


def put_variables(ctx: Ctx) -> Reply:
    vs = _get_set(ctx)
    body = ctx.json_body()
    if body.get("Version") != vs["Version"]:
        raise ApiError(400, MSG_CONCURRENCY, [MSG_CONCURRENCY])
    raw_vars = body.get("Variables")
    if not isinstance(raw_vars, list):
        raise invalid("The Variables field is required.")
    stored = {v["Id"]: v for v in vs["Variables"]}
    errors: list[str] = []
    merged = _merge_variables(raw_vars, stored, errors)
    ids = [v["Id"] for v in merged]
    if len(ids) != len(set(ids)):
        errors.append("Variable ids must be unique.")
    env_ids = set(ctx.st.col(vs["SpaceId"], "environments"))
    for var in merged:
        for env in var["Scope"].get("Environment", []):
            if env not in env_ids:
                errors.append(
                    f"The environment '{env}' in the scope of '{var['Name']}' does not exist."
                )
    if errors:
        raise invalid(*errors)
    freeze_shared(ctx.st, vs["OwnerId"])
    vs["Variables"] = merged
    vs["Version"] = int(vs["Version"]) + 1
    R.stamp(vs, ctx.username, now())
    return 200, render_set(ctx, vs)


def lvs_usages(ctx: Ctx) -> Reply:
    require_space(ctx)
    lvs = ctx.col("libraryvariablesets").get(ctx.params["id"])
    if lvs is None:
        raise not_found(ctx.params["id"])
    projects = [
        {
            "ProjectId": p["Id"],
            "ProjectName": p["Name"],
            "ProjectSlug": p["Slug"],
            "Releases": [],
            "RunbookSnapshots": [],
            "IsCurrentlyBeingUsedInProject": True,
        }
        for p in ctx.col("projects").values()
        if lvs["Id"] in p["IncludedLibraryVariableSetIds"]
    ]
    return 200, {
        "Projects": projects,
        "CountOfProjectsUserCannotSee": 0,
        "CountOfReleasesUserCannotSee": 0,
        "CountOfRunbookSnapshotsUserCannotSee": 0,
    }


def register(router: Router) -> None:
    router.space("GET", "/variables", list_variables, swagger=None, legacy_swagger=None)
    router.space("GET", "/variables/{id}", get_variables)
    router.space("PUT", "/variables/{id}", put_variables, permission="VariableEdit")
    router.space("GET", "/libraryvariablesets/{id}/usages", lvs_usages)
