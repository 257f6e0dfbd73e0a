"""Deployment freezes (``/api/deploymentfreezes``, Octopus 2025.1's resource): a window
(``Start``, ``End``) during which the deployments it scopes are refused — per project and
environments (``ProjectEnvironmentScope``: project id -> environment ids) and per tenant,
project and environment (``TenantProjectEnvironmentScope``). The list answers
``{DeploymentFreezes, Count}`` as Octopus does, not the usual collection envelope.

Recurring schedules are not simulated (``RecurringSchedule`` is kept and returned, and a
freeze with one is active between ``Start`` and ``End`` only)."""

from __future__ import annotations

from typing import Any

from octosim.errors import invalid, not_found
from octosim.freezes import COLLECTION
from octosim.paging import csv_param, int_param
from octosim.pipeline import scheduled_time
from octosim.resources import iso
from octosim.routing import Ctx, Reply, Router
from octosim.state import Doc

# Octopus's own permission for freezes is newer than the permissions octosim knows.
PERMISSION = "AdministerSystem"


def _render(doc: Doc) -> Doc:
    return {
        "Id": doc["Id"],
        "Name": doc["Name"],
        "Start": iso(doc["Start"]),
        "End": iso(doc["End"]),
        "ProjectEnvironmentScope": {k: list(v) for k, v in doc["ProjectEnvironmentScope"].items()},
        "TenantProjectEnvironmentScope": [dict(t) for t in doc["TenantProjectEnvironmentScope"]],
        "RecurringSchedule": doc.get("RecurringSchedule"),
        "Links": {"Self": f"/api/{COLLECTION}/{doc['Id']}"},
    }


def _ids(value: Any, where: str, errors: list[str]) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        errors.append(f"The {where} field must be a list of ids.")
        return []
    return list(value)


def _checked(ctx: Ctx, body: dict[str, Any], ident: str) -> Doc:
    errors: list[str] = []
    name = str(body.get("Name") or "").strip()
    if not name:
        errors.append("The Name field is required.")
    start = scheduled_time(body.get("Start")) if body.get("Start") else None
    end = scheduled_time(body.get("End")) if body.get("End") else None
    if start is None or end is None:
        errors.append("The Start and End fields are required.")
    elif end <= start:
        errors.append("The End of a deployment freeze must be after its Start.")
    projects = body.get("ProjectEnvironmentScope") or {}
    if not isinstance(projects, dict):
        errors.append("The ProjectEnvironmentScope field must map project ids to environment ids.")
        projects = {}
    scope = {str(k): _ids(v, f"ProjectEnvironmentScope.{k}", errors) for k, v in projects.items()}
    tenants = body.get("TenantProjectEnvironmentScope") or []
    entries: list[dict[str, str]] = []
    if not isinstance(tenants, list):
        errors.append("The TenantProjectEnvironmentScope field must be a list.")
        tenants = []
    for raw in tenants:
        keys = ("TenantId", "ProjectId", "EnvironmentId")
        if not isinstance(raw, dict) or not all(isinstance(raw.get(k), str) for k in keys):
            errors.append("Each tenant scope needs a TenantId, a ProjectId and an EnvironmentId.")
            continue
        entries.append({k: str(raw[k]) for k in keys})
    if errors:
        raise invalid(*errors)
    return {
        "Id": ident,
        "Name": name,
        "Start": start,
        "End": end,
        "ProjectEnvironmentScope": scope,
        "TenantProjectEnvironmentScope": entries,
        "RecurringSchedule": body.get("RecurringSchedule"),
    }


def list_freezes(ctx: Ctx) -> Reply:
    items = sorted(ctx.st.sys(COLLECTION).values(), key=lambda d: (d["Start"], d["Id"]))
    for key, field in (("projectIds", "project"), ("tenantIds", "tenant")):
        wanted = set(csv_param(ctx.query, key))
        if wanted and field == "project":
            items = [
                d
                for d in items
                if wanted & set(d["ProjectEnvironmentScope"])
                or any(t["ProjectId"] in wanted for t in d["TenantProjectEnvironmentScope"])
            ]
        elif wanted:
            items = [
                d
                for d in items
                if any(t["TenantId"] in wanted for t in d["TenantProjectEnvironmentScope"])
            ]
    skip = max(0, int_param(ctx.query, "skip", 0))
    take = int_param(ctx.query, "take", 30)
    page = items[skip : skip + take] if take >= 0 else items[skip:]
    return 200, {"DeploymentFreezes": [_render(d) for d in page], "Count": len(items)}


def _get(ctx: Ctx) -> Doc:
    doc = ctx.st.sys(COLLECTION).get(ctx.params["id"])
    if doc is None:
        raise not_found(ctx.params["id"])
    return doc


def get_freeze(ctx: Ctx) -> Reply:
    return 200, _render(_get(ctx))


def create_freeze(ctx: Ctx) -> Reply:
    doc = _checked(ctx, ctx.json_body(), ctx.st.next_id("DeploymentFreezes"))
    ctx.st.sys(COLLECTION)[doc["Id"]] = doc
    return 201, _render(doc)


def update_freeze(ctx: Ctx) -> Reply:
    current = _get(ctx)
    doc = _checked(ctx, ctx.json_body(), current["Id"])
    ctx.st.sys(COLLECTION)[doc["Id"]] = doc
    return 200, _render(doc)


def delete_freeze(ctx: Ctx) -> Reply:
    doc = _get(ctx)
    del ctx.st.sys(COLLECTION)[doc["Id"]]
    return 200, {}


def register(router: Router) -> None:
    kw: dict[str, Any] = {"swagger": None}  # not in the 2020.5 Swagger
    router.system("GET", f"/{COLLECTION}", list_freezes, **kw)
    router.system("GET", f"/{COLLECTION}/{{id}}", get_freeze, **kw)
    router.system("POST", f"/{COLLECTION}", create_freeze, permission=PERMISSION, **kw)
    router.system("PUT", f"/{COLLECTION}/{{id}}", update_freeze, permission=PERMISSION, **kw)
    router.system("DELETE", f"/{COLLECTION}/{{id}}", delete_freeze, permission=PERMISSION, **kw)
