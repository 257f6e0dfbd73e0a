"""Tenant variables: values for the project templates (per connected environment) and the
library variable set templates of the projects a tenant is connected to."""

from __future__ import annotations

from typing import Any

from octosim.api_core import require_space
from octosim.errors import invalid, not_found
from octosim.routing import Ctx, Reply, Router
from octosim.state import Doc


def _sensitive(template: Doc) -> bool:
    settings = template.get("DisplaySettings") or {}
    return settings.get("Octopus.ControlType") == "Sensitive"


def _out(template: Doc, value: Any) -> Any:
    if _sensitive(template):
        return {"HasValue": value not in (None, ""), "NewValue": None}
    return value


def _in(template: Doc, raw: Any, previous: Any) -> Any:
    """A sensitive value sent back as {HasValue: true, NewValue: null} keeps what is stored."""
    if isinstance(raw, dict):
        if raw.get("NewValue") is not None:
            return str(raw["NewValue"])
        return previous if raw.get("HasValue") else None
    return None if raw is None else str(raw)


def _tenant(ctx: Ctx) -> Doc:
    require_space(ctx)
    tenant = ctx.col("tenants").get(ctx.params["id"])
    if tenant is None:
        raise not_found(ctx.params["id"])
    return tenant


def _libraries(ctx: Ctx, tenant: Doc) -> dict[str, Doc]:
    out: dict[str, Doc] = {}
    for project_id in tenant["ProjectEnvironments"]:
        project = ctx.col("projects").get(project_id)
        for lvs_id in project["IncludedLibraryVariableSetIds"] if project else []:
            lvs = ctx.col("libraryvariablesets").get(lvs_id)
            if lvs is not None:
                out[lvs_id] = lvs
    return out


def render(ctx: Ctx, tenant: Doc) -> Doc:
    stored = ctx.st.tenant_variables.get(tenant["Id"], {})
    projects: dict[str, Doc] = {}
    for project_id, env_ids in tenant["ProjectEnvironments"].items():
        project = ctx.col("projects").get(project_id)
        if project is None:
            continue
        values = stored.get("ProjectVariables", {}).get(project_id, {})
        templates = project.get("Templates") or []
        projects[project_id] = {
            "ProjectId": project_id,
            "ProjectName": project["Name"],
            "Templates": templates,
            "Variables": {
                env: {
                    t["Id"]: _out(t, values.get(env, {}).get(t["Id"]))
                    for t in templates
                    if t["Id"] in values.get(env, {})
                }
                for env in env_ids
            },
            "Links": {"Project": f"/api/{ctx.space_id}/projects/{project_id}"},
        }
    libraries: dict[str, Doc] = {}
    for lvs_id, lvs in _libraries(ctx, tenant).items():
        values = stored.get("LibraryVariables", {}).get(lvs_id, {})
        templates = lvs.get("Templates") or []
        libraries[lvs_id] = {
            "LibraryVariableSetId": lvs_id,
            "LibraryVariableSetName": lvs["Name"],
            "Templates": templates,
            "Variables": {
                t["Id"]: _out(t, values[t["Id"]]) for t in templates if t["Id"] in values
            },
            "Links": {"LibraryVariableSet": f"/api/{ctx.space_id}/libraryvariablesets/{lvs_id}"},
        }
    return {
        "Id": f"TenantVariables-{tenant['Id']}",
        "TenantId": tenant["Id"],
        "TenantName": tenant["Name"],
        "SpaceId": tenant["SpaceId"],
        "ProjectVariables": projects,
        "LibraryVariables": libraries,
        "LastModifiedOn": tenant.get("LastModifiedOn"),
        "LastModifiedBy": tenant.get("LastModifiedBy"),
        "Links": {"Self": f"/api/{ctx.space_id}/tenants/{tenant['Id']}/variables"},
    }


def get_variables(ctx: Ctx) -> Reply:
    return 200, render(ctx, _tenant(ctx))


def put_variables(ctx: Ctx) -> Reply:
    tenant = _tenant(ctx)
    body = ctx.json_body()
    stored = ctx.st.tenant_variables.get(tenant["Id"], {})
    errors: list[str] = []
    projects: dict[str, Doc] = {}
    for project_id, entry in (body.get("ProjectVariables") or {}).items():
        project = ctx.col("projects").get(project_id)
        if project is None or project_id not in tenant["ProjectEnvironments"]:
            errors.append(f"The tenant is not connected to the project '{project_id}'.")
            continue
        templates = {t["Id"]: t for t in project.get("Templates") or []}
        old = stored.get("ProjectVariables", {}).get(project_id, {})
        per_env: dict[str, Doc] = {}
        for env, values in (entry.get("Variables") or {}).items():
            if env not in tenant["ProjectEnvironments"][project_id]:
                errors.append(f"The tenant is not connected to '{env}' for '{project['Name']}'.")
                continue
            per_env[env] = {}
            for tpl_id, raw in (values or {}).items():
                if tpl_id not in templates:
                    errors.append(f"The template '{tpl_id}' is not a template of the project.")
                    continue
                per_env[env][tpl_id] = _in(templates[tpl_id], raw, old.get(env, {}).get(tpl_id))
        projects[project_id] = per_env
    libraries: dict[str, Doc] = {}
    known = _libraries(ctx, tenant)
    for lvs_id, entry in (body.get("LibraryVariables") or {}).items():
        if lvs_id not in known:
            errors.append(f"The library variable set '{lvs_id}' is not used by the tenant.")
            continue
        templates = {t["Id"]: t for t in known[lvs_id].get("Templates") or []}
        old = stored.get("LibraryVariables", {}).get(lvs_id, {})
        libraries[lvs_id] = {
            tpl_id: _in(templates[tpl_id], raw, old.get(tpl_id))
            for tpl_id, raw in (entry.get("Variables") or {}).items()
            if tpl_id in templates
        }
    if errors:
        raise invalid(*errors)
    ctx.st.tenant_variables[tenant["Id"]] = {
        "ProjectVariables": projects,
        "LibraryVariables": libraries,
    }
    return 200, render(ctx, tenant)


def register(router: Router) -> None:
    router.space("GET", "/tenants/{id}/variables", get_variables)
    router.space("PUT", "/tenants/{id}/variables", put_variables, permission="TenantEdit")
    router.space("POST", "/tenants/{id}/variables", put_variables, permission="TenantEdit")
