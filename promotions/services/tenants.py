"""Values an imported release needs from the tenants of the target space.

The bundle carries the source project's variable templates (project templates: one value per
tenant and environment). Import writes them into the remote project; every tenant of the
target space connected to that project then needs a value for each required template (one
without a default) in each environment it is connected for. Tenants never cross: they are
the target's, and so are their values, which ODCM writes straight into Octopus's tenant
variables (never stored here; a sensitive one is sent as Octopus's ``NewValue``).

While a value is missing, import writes the project, process and variables but holds the
release back (state "values still needed"): no release, no deployment. Importing again once
the values are filled creates it.

A tenant connected to the remote project after its release exists is caught by
:func:`hold_deployments` (run by the periodic check of imported projects, on the review page
and after a value is filled): an Octopus deployment freeze "ODCM: values needed for
<project>" scoped to each (tenant, project, environment) still missing a value, so Octopus
refuses those deployments — of any release of the project — and nothing else; it is
narrowed as values are filled and deleted when none is missing."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.utils import timezone

from audit.services import record
from octopus import OctopusClient
from octopus.errors import OctopusError
from odcm.clients import client_for

from ..errors import PromotionError
from ..models import InboundBundle

logger = logging.getLogger("promotions.tenants")

MISSING = "missing"
SET = "set in Octopus"
FREEZES = "/api/deploymentfreezes"
HOLD_PREFIX = "ODCM: values needed for "
# A hold lasts until the values are filled (then it is deleted); Octopus wants an end.
HOLD_YEARS = 10


def remote_project_name(payload: dict[str, Any]) -> str:
    return f"{payload['source']['space']}: {payload['project']['name']}"


def _sensitive(template: dict[str, Any]) -> bool:
    return (template.get("DisplaySettings") or {}).get("Octopus.ControlType") == "Sensitive"


def required(templates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The templates a tenant must fill: those without a default value."""
    return [t for t in templates if t.get("DefaultValue") in (None, "")]


def sync_templates(
    client: OctopusClient, sid: str, project: dict[str, Any], payload: dict[str, Any]
) -> dict[str, Any]:
    """Give the remote project the bundle's templates (matched by name: a template already
    there keeps its id, so the tenants' values stay attached to it)."""
    have = {str(t.get("Name")): t for t in project.get("Templates") or []}
    wanted = []
    for t in payload.get("templates") or []:
        entry = {k: v for k, v in t.items() if k != "Id"}
        entry["Id"] = have[t["Name"]]["Id"] if t["Name"] in have else t.get("Id")
        wanted.append(entry)
    if wanted == list(have.values()):
        return project
    project = dict(project)
    project["Templates"] = wanted
    return dict(client.put(f"/api/{sid}/projects/{project['Id']}", project))


def _find_project(client: OctopusClient, sid: str, bundle: InboundBundle) -> dict[str, Any] | None:
    if bundle.imported_project_id:
        try:
            return dict(client.get(f"/api/{sid}/projects/{bundle.imported_project_id}"))
        except OctopusError:
            return None
    name = remote_project_name(bundle.payload)
    return next((p for p in client.get_all(f"/api/{sid}/projects") if p["Name"] == name), None)


def _has(value: Any) -> bool:
    if isinstance(value, dict):
        return bool(value.get("HasValue"))
    return value not in (None, "")


def tenant_needs(
    client: OctopusClient, sid: str, project: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """One row per (required template, tenant, environment) of the tenants connected to
    ``project``: whether Octopus holds a value."""
    if project is None:
        return []
    wanted = {t["Id"]: t for t in required(project.get("Templates") or [])}
    if not wanted:
        return []
    env_names = {e["Id"]: e["Name"] for e in client.get_all(f"/api/{sid}/environments")}
    rows = []
    for tenant in client.get_all(f"/api/{sid}/tenants"):
        env_ids = (tenant.get("ProjectEnvironments") or {}).get(project["Id"])
        if not env_ids:
            continue
        doc = client.tenant_variables(sid, tenant["Id"])
        values = ((doc.get("ProjectVariables") or {}).get(project["Id"]) or {}).get(
            "Variables"
        ) or {}
        for env_id in env_ids:
            for tpl_id, tpl in wanted.items():
                rows.append(
                    {
                        "name": tpl["Name"],
                        "environment": env_names.get(env_id, env_id),
                        "environment_id": env_id,
                        "tenant": tenant["Name"],
                        "tenant_id": tenant["Id"],
                        "sensitive": _sensitive(tpl),
                        "state": SET if _has((values.get(env_id) or {}).get(tpl_id)) else MISSING,
                    }
                )
    return sorted(rows, key=lambda r: (r["tenant"], r["environment"], r["name"]))


def needs_for(bundle: InboundBundle, client: OctopusClient) -> list[dict[str, Any]]:
    """The tenant rows of ``bundle``'s remote project (none before it exists)."""
    sid = bundle.space.octopus_id
    return tenant_needs(client, sid, _find_project(client, sid, bundle))


def missing_message(rows: list[dict[str, Any]]) -> str:
    missing = [r for r in rows if r["state"] == MISSING]
    listed = ", ".join(f"{r['name']} ({r['environment']}, {r['tenant']})" for r in missing[:20])
    more = f" and {len(missing) - 20} more" if len(missing) > 20 else ""
    return (
        f"Values still needed per tenant before this release can be deployed: {listed}{more}. "
        "Fill them, then import again to create the release."
    )


def supply(
    bundle: InboundBundle,
    tenant: str,
    environment: str,
    name: str,
    value: str,
    *,
    actor: Any = None,
) -> None:
    """Write a tenant's value for template ``name`` in ``environment`` (names or ids) into
    Octopus. Raises PromotionError naming what does not fit."""
    space = bundle.space
    sid = space.octopus_id
    try:
        with client_for(space.instance) as client:
            project = _find_project(client, sid, bundle)
            if project is None:
                raise PromotionError("Import the bundle first: its project is not in this space.")
            tpl = next((t for t in project.get("Templates") or [] if t["Name"] == name), None)
            found = next(
                (
                    t
                    for t in client.get_all(f"/api/{sid}/tenants")
                    if tenant in (t["Id"], t["Name"])
                ),
                None,
            )
            envs = {e["Name"]: e["Id"] for e in client.get_all(f"/api/{sid}/environments")}
            env_id = envs.get(environment, environment)
            if tpl is None:
                raise PromotionError(f"The project has no template {name!r}.")
            if found is None:
                raise PromotionError(f"This space has no tenant {tenant!r}.")
            connected = (found.get("ProjectEnvironments") or {}).get(project["Id"]) or []
            if env_id not in connected:
                raise PromotionError(
                    f"{found['Name']} is not connected to {project['Name']} for {environment}."
                )
            doc = client.tenant_variables(sid, found["Id"])
            entry = doc["ProjectVariables"][project["Id"]]
            per_env = entry.setdefault("Variables", {}).setdefault(env_id, {})
            per_env[tpl["Id"]] = {"HasValue": True, "NewValue": value} if _sensitive(tpl) else value
            client.update_tenant_variables(sid, doc)
    except OctopusError as exc:
        raise PromotionError(f"Octopus did not take the tenant's value: {exc}") from None
    record(
        "promotions.inbox.supply_tenant",
        actor=actor,
        obj=bundle,
        after={"name": name, "environment": environment, "tenant": found["Name"]},
    )
    if bundle.imported_project_id:
        # A filled value may lift the hold on that tenant's deployments at once.
        with client_for(space.instance) as client:
            hold_deployments(bundle, client, actor=actor)


def hold_name(project: dict[str, Any]) -> str:
    return f"{HOLD_PREFIX}{project['Name']}"[:200]


def _scope(rows: list[dict[str, Any]], project_id: str) -> list[dict[str, str]]:
    keys = sorted({(str(r["tenant_id"]), str(r["environment_id"])) for r in rows})
    return [{"TenantId": t, "ProjectId": project_id, "EnvironmentId": e} for t, e in keys]


def _keys(scope: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return sorted((str(e["TenantId"]), str(e["ProjectId"]), str(e["EnvironmentId"])) for e in scope)


def _holds(client: OctopusClient, project: dict[str, Any]) -> list[dict[str, Any]]:
    doc = client.get(FREEZES, {"projectIds": project["Id"], "take": 1000})
    name = hold_name(project)
    return [f for f in doc.get("DeploymentFreezes") or [] if f.get("Name") == name]


def _write_hold(
    client: OctopusClient,
    project: dict[str, Any],
    scope: list[dict[str, str]],
    holds: list[dict[str, Any]],
) -> bool:
    """Make Octopus's freeze match ``scope`` (none: deleted). True when something changed."""
    if not scope:
        for doc in holds:
            client.delete(f"{FREEZES}/{doc['Id']}")
        return bool(holds)
    if holds:
        doc = holds[0]
        if _keys(doc.get("TenantProjectEnvironmentScope") or []) == _keys(scope):
            return False
        client.put(f"{FREEZES}/{doc['Id']}", {**doc, "TenantProjectEnvironmentScope": scope})
        return True
    start = timezone.now()
    client.post(
        FREEZES,
        {
            "Name": hold_name(project),
            "Start": start.isoformat(),
            "End": (start + dt.timedelta(days=365 * HOLD_YEARS)).isoformat(),
            "ProjectEnvironmentScope": {},
            "TenantProjectEnvironmentScope": scope,
        },
    )
    return True


def held_message(rows: list[dict[str, Any]]) -> str:
    missing = [r for r in rows if r["state"] == MISSING]
    listed = ", ".join(f"{r['name']} ({r['environment']}, {r['tenant']})" for r in missing[:20])
    more = f" and {len(missing) - 20} more" if len(missing) > 20 else ""
    return f"Deployments held in Octopus until these tenant values are filled: {listed}{more}."


def hold_deployments(
    bundle: InboundBundle,
    client: OctopusClient,
    *,
    project: dict[str, Any] | None = None,
    actor: Any = None,
) -> list[dict[str, Any]]:
    """Hold back, in Octopus, the deployments of ``bundle``'s remote project for each tenant
    and environment still missing a required value (see the module docstring), and note it
    on an imported bundle (``last_error``). Returns the tenant rows. An Octopus without
    deployment freezes (before 2025.1) cannot hold: logged, and the rows still say what is
    missing. ``project``: the remote project when the caller has it (import)."""
    sid = bundle.space.octopus_id
    project = project or _find_project(client, sid, bundle)
    if project is None:
        return []
    rows = tenant_needs(client, sid, project)
    missing = [r for r in rows if r["state"] == MISSING]
    try:
        changed = _write_hold(
            client, project, _scope(missing, project["Id"]), _holds(client, project)
        )
    except OctopusError as exc:
        logger.warning("could not hold deployments of %s: %s", project["Id"], exc)
        note = (
            f"{missing_message(rows)} Octopus could not hold the deployments back: {exc}"
            if missing
            else ""
        )
    else:
        note = held_message(rows) if missing else ""
        if changed:
            record(
                "promotions.inbox.tenants_held" if missing else "promotions.inbox.tenants_released",
                actor=actor,
                obj=bundle,
                after={
                    "project": project["Name"],
                    "held": [f"{r['tenant']}: {r['environment']}: {r['name']}" for r in missing][
                        :50
                    ],
                },
            )
    if bundle.state == InboundBundle.State.IMPORTED and bundle.last_error != note:
        InboundBundle.objects.filter(pk=bundle.pk, state=InboundBundle.State.IMPORTED).update(
            last_error=note
        )
        bundle.last_error = note
    return rows
