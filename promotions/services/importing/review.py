"""What the review page shows of an inbound bundle, and the values the importer supplies.

Values still needed: each sensitive variable Octopus could not export, per environment named
in the bundle's remote values (carried, supplied here or missing), and the project templates
each tenant of this space connected to the remote project must fill (``tenants``)."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from audit.services import record
from octopus import OctopusClient
from octopus.errors import OctopusError
from odcm.crypto import seal

from ... import pki
from ...models import InboundBundle, SuppliedValue
from .. import tenants
from .sources import pkey

ANY_ENVIRONMENT = ""


def _sensitive_missing(payload: dict[str, Any]) -> list[str]:
    """Names of sensitive variables whose value the snapshot cannot carry (Octopus never
    returns one)."""
    names: set[str] = set()
    sets = [payload["variables"]["project"], *payload["variables"]["library"]]
    for doc in sets:
        for var in doc.get("Variables") or []:
            if var.get("IsSensitive") and var.get("Value") in (None, ""):
                names.add(str(var["Name"]))
    return sorted(names)


def needed(bundle: InboundBundle) -> list[dict[str, Any]]:
    """Every required value: (name, environment) with whether it was carried or supplied."""
    payload = bundle.payload
    carried = {
        (v["name"], v["environment"]) for v in payload.get("remote_values") or [] if v["sensitive"]
    }
    envs = sorted({v["environment"] for v in payload.get("remote_values") or []}) or [
        ANY_ENVIRONMENT
    ]
    supplied = set(bundle.values.values_list("name", "environment"))
    out = []
    for name in _sensitive_missing(payload):
        for env in envs:
            state = (
                "provided in the bundle"
                if (name, env) in carried
                else "supplied here"
                if (name, env) in supplied
                else "missing"
            )
            out.append({"name": name, "environment": env, "state": state})
    return out


def supply(
    bundle: InboundBundle,
    name: str,
    environment: str,
    value: str,
    *,
    sensitive: bool = True,
    actor: Any = None,
) -> SuppliedValue:
    """A value the importer enters for this space's environment; sealed if sensitive."""
    with transaction.atomic():
        row, _ = SuppliedValue.objects.get_or_create(
            bundle=bundle, name=name, environment=environment
        )
        row.sensitive = sensitive
        if sensitive:
            row.value = ""
            seal(row, "sealed_value", value)
        else:
            row.value, row.sealed_value = value, ""
        row.save()
        record(
            "promotions.inbox.supply",
            actor=actor,
            obj=bundle,
            after={"name": name, "environment": environment},
        )
    return row


def review(bundle: InboundBundle, client: OctopusClient | None = None) -> dict[str, Any]:
    """What the review page shows: provenance, packages (present in this space's feed and
    with the same hash), the process step by step, variables (sensitive only as
    provided/missing) and the values still needed."""
    p = bundle.payload
    carried = {(v["name"], v["environment"]) for v in p.get("remote_values") or []}
    present: dict[str, str] = {}
    if client is not None:
        for pkg in p.get("packages") or []:
            present[pkey(pkg)] = _feed_state(client, bundle.space.octopus_id, pkg)
    steps = []
    for step in p["process"].get("Steps") or []:
        actions = [
            {
                "name": a.get("Name"),
                "type": a.get("ActionType"),
                "environments": [
                    p.get("environments", {}).get(e, e) for e in a.get("Environments") or []
                ],
                "packages": [f"{r.get('PackageId')}" for r in a.get("Packages") or []],
            }
            for a in step.get("Actions") or []
        ]
        steps.append({"name": step.get("Name"), "actions": actions})
    variables = []
    for doc in [p["variables"]["project"], *p["variables"]["library"]]:
        envs = {
            e["Id"]: e["Name"] for e in (doc.get("ScopeValues") or {}).get("Environments") or []
        }
        for var in doc.get("Variables") or []:
            scope = [envs.get(e, e) for e in (var.get("Scope") or {}).get("Environment") or []]
            if var.get("IsSensitive"):
                shown = "provided" if any((var["Name"], s) in carried for s in scope) else "missing"
            else:
                shown = var.get("Value")
            variables.append(
                {
                    "name": var["Name"],
                    "scope": ", ".join(scope),
                    "sensitive": bool(var.get("IsSensitive")),
                    "value": shown,
                }
            )
    for v in p.get("remote_values") or []:
        variables.append(
            {
                "name": v["name"],
                "scope": v["environment"],
                "sensitive": v["sensitive"],
                "value": "provided" if v["sensitive"] else v.get("value"),
            }
        )
    return {
        "source": p["source"],
        "project": p["project"],
        "release": p["release"],
        "earlier": p.get("earlier_deployments") or [],
        "packages": [
            {**pkg, "present": present.get(pkey(pkg), "not checked")}
            for pkg in p.get("packages") or []
        ],
        "steps": steps,
        "variables": variables,
        "needed": needed(bundle) + _tenant_rows(bundle, client),
    }


def _tenant_rows(bundle: InboundBundle, client: OctopusClient | None) -> list[dict[str, Any]]:
    """Values needed per tenant and environment (read from Octopus; none without a client or
    before the remote project exists), and the templates every tenant will need."""
    rows: list[dict[str, Any]] = []
    if client is not None:
        try:
            rows = tenants.needs_for(bundle, client)
        except OctopusError:
            rows = []
    if not rows:
        for t in tenants.required(bundle.payload.get("templates") or []):
            rows.append(
                {
                    "name": t["Name"],
                    "environment": "",
                    "tenant": "each tenant connected to the project",
                    "tenant_id": None,  # nothing to fill yet
                    "sensitive": False,
                    "state": "needed once a tenant is connected",
                }
            )
    return rows


def _feed_state(client: OctopusClient, space_id: str, pkg: dict[str, Any]) -> str:
    if pkg.get("feed") != "feeds-builtin":
        return "external feed"
    try:
        doc = client.package(space_id, f"packages-{pkey(pkg)}")
    except OctopusError:
        return "missing"
    return (
        "present, hash matches"
        if str(doc.get("Hash", "")).lower() == pkg.get("sha1")
        else "present, HASH DIFFERS"
    )


def fingerprint_matches(bundle: InboundBundle, fp: str) -> bool:
    """Whether ``fp`` (any usual spelling) is the fingerprint that signed ``bundle``."""
    return bundle.source_fingerprint == pki.normalise(fp)
