"""Edits of imported projects: compare the remote project "<Source>: <Project>" in Octopus
with what its newest imported bundle wrote (as sharing's drift check compares a copy with
its revision), and report what someone changed.

What built the release is read-only and compared: the deployment process (steps and
actions: names, types, properties, packages, environments, enabled), and the variables that
are not scoped to this space's environments or tenants. What customises a deployment is not
an edit: values scoped to an environment or a tenant tag of this space, sensitive values,
and the values the bundle carried or the importer supplied. Only reported, never re-applied
(a person may have a reason; the next import writes the snapshot again)."""

from __future__ import annotations

import json
import logging
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from audit.services import record
from octopus import OctopusClient
from octopus.errors import OctopusError
from odcm.clients import client_for

from ..models import InboundBundle
from . import importing, tenants

logger = logging.getLogger("promotions.edits")

MAX_REPORTED = 100


def _imported() -> QuerySet[InboundBundle]:
    return InboundBundle.objects.filter(state=InboundBundle.State.IMPORTED).exclude(
        imported_project_id=""
    )


def candidates() -> list[str]:
    """The newest imported bundle of each imported project (older ones were replaced)."""
    newest: dict[tuple[Any, str], str] = {}
    rows = _imported().order_by("-imported_at").values_list("pk", "space_id", "imported_project_id")
    for pk, space_id, project_id in rows:
        newest.setdefault((space_id, project_id), str(pk))
    return list(newest.values())


def _action(a: dict[str, Any]) -> dict[str, Any]:
    return {
        "ActionType": a.get("ActionType"),
        "Properties": a.get("Properties") or {},
        "Packages": sorted(
            (str(p.get("Name") or ""), str(p.get("PackageId")), str(p.get("FeedId") or ""))
            for p in a.get("Packages") or []
        ),
        "Environments": sorted(a.get("Environments") or []),
        "IsDisabled": bool(a.get("IsDisabled")),
    }


def _process_view(steps: list[dict[str, Any]]) -> dict[str, Any]:
    """Step name -> what defines it (ids and tenant tags left out: ids are Octopus's, tenant
    tags belong to this space)."""
    out: dict[str, Any] = {}
    for n, step in enumerate(steps):
        out[str(step.get("Name"))] = {
            "order": n,
            "Properties": step.get("Properties") or {},
            "Actions": {str(a.get("Name")): _action(a) for a in step.get("Actions") or []},
        }
    return out


def _custom_names(bundle: InboundBundle) -> set[str]:
    carried = {str(v["name"]) for v in bundle.payload.get("remote_values") or []}
    return carried | set(bundle.values.values_list("name", flat=True))


def _variables_view(variables: list[dict[str, Any]], skip: set[str]) -> dict[str, Any]:
    """(name, roles) -> value for the variables that built the release."""
    out: dict[str, Any] = {}
    for var in variables:
        scope = var.get("Scope") or {}
        if var.get("IsSensitive") or var["Name"] in skip:
            continue
        if scope.get("Environment") or scope.get("TenantTag"):
            continue  # customises a deployment in this space
        key = json.dumps([var["Name"], sorted(scope.get("Role") or [])])
        out[key] = var.get("Value")
    return out


def _diff(kind: str, expected: dict[str, Any], current: dict[str, Any]) -> list[dict[str, str]]:
    found = []
    for key in sorted(expected.keys() | current.keys()):
        name = json.loads(key)[0] if kind == "variable" else key
        if key not in current:
            change = "removed"
        elif key not in expected:
            change = "added"
        elif expected[key] != current[key]:
            change = "changed"
        else:
            continue
        found.append({"what": kind, "name": name, "change": change})
    return found


def differences(bundle: InboundBundle, client: OctopusClient) -> list[dict[str, str]]:
    """What differs between the imported project in Octopus and the bundle's snapshot."""
    sid = bundle.space.octopus_id
    p = bundle.payload
    envs = {e["Name"]: e["Id"] for e in client.get_all(f"/api/{sid}/environments")}
    target = str(p.get("target", {}).get("name") or bundle.space.name)
    expected_steps = importing.map_steps(p["process"].get("Steps") or [], p, envs, target)
    project = client.get(f"/api/{sid}/projects/{bundle.imported_project_id}")
    current_steps = client.project_deployment_process(sid, project["Id"]).get("Steps") or []
    found = _diff("step", _process_view(expected_steps), _process_view(current_steps))
    skip = _custom_names(bundle)
    expected_vars = importing.snapshot_variables(p, envs, target)
    current_vars = client.variable_set(sid, project["VariableSetId"]).get("Variables") or []
    found += _diff(
        "variable", _variables_view(expected_vars, skip), _variables_view(current_vars, skip)
    )
    return found[:MAX_REPORTED]


def check_bundle(
    bundle: InboundBundle, client: OctopusClient | None = None
) -> list[dict[str, str]]:
    """Check one imported bundle now, store and audit what changed; returns the edits. Also
    holds back, in Octopus, deployments for tenants connected since and missing a value
    (``tenants.hold_deployments``)."""
    if client is None:
        with client_for(bundle.space.instance) as own:
            found = differences(bundle, own)
            tenants.hold_deployments(bundle, own)
    else:
        found = differences(bundle, client)
        tenants.hold_deployments(bundle, client)
    with transaction.atomic():
        row = InboundBundle.objects.select_for_update().get(pk=bundle.pk)
        if found and found != row.edits:
            record(
                "promotions.inbox.edits_detected",
                obj=row,
                after={"project": importing.remote_project_name(row), "edits": found[:50]},
            )
        elif not found and row.edits:
            record("promotions.inbox.edits_cleared", obj=row)
        InboundBundle.objects.filter(pk=row.pk).update(edits=found, edits_checked_at=timezone.now())
    bundle.edits, bundle.edits_checked_at = found, timezone.now()
    return found


def check(bundle_id: str) -> str:
    """The task's side: "clean", "edited", "skipped" or "error"."""
    bundle = _imported().select_related("space__instance").filter(pk=bundle_id).first()
    if bundle is None or bundle_id not in candidates():
        return "skipped"
    try:
        found = check_bundle(bundle)
    except OctopusError as exc:
        logger.info("edit check of bundle %s failed: %s", bundle.pk, exc)
        return "error"
    return "edited" if found else "clean"
