"""Facade spaces per customer: a small space of one-step projects that deploy, as the
customer's tenant, the projects of a management space.

Creating a :class:`Customer` creates its facade space through the registry's create-space
path (set up from a blueprint if one is chosen), grants the customer's group the deployer
role there (identity grants), and queues a sync. The sync (a worker holding the customer's
lease) creates or connects the customer's tenant in the management space, keeps a library
variable set in the facade space holding the management server's URL, space, tenant and the
API key (a sensitive variable: the key is sealed in ODCM, never shown; ODCM makes it for a
service account of its own, :mod:`managed.services.facade_keys`), and makes one facade
project per management project: one *Run a Script* step that starts the tenanted deployment
of the management project through Octopus's executions API. A later sync follows projects
added or renamed in the management space (a facade is matched by the management project's
id, so a rename renames it); periodic syncs cost reads only when nothing changed.
"""

from __future__ import annotations

import copy
import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.services import record
from identity.models import Group, Role
from identity.services.groups import GrantError, grant
from managed.models import Blueprint, Customer
from managed.services import facade_keys as K
from managed.services import projects as P
from managed.services.content import BlueprintInvalid
from managed.services.octopus_side import secret_digest
from managed.services.target_broker import describe
from managed.setup import PREFIX
from octopus import OctopusClient
from octopus.pipeline import sp
from odcm.clients import client_for
from odcm.crypto import seal, unseal
from odcm.errors import ServiceError
from odcm.work import Lease, backoff, claim, enqueue, free, mine, release
from spaces.models import Instance, Space
from spaces.services.octopus_spaces import create_space

log = logging.getLogger(__name__)
C = Customer.Status
C_KEY = Customer.KeySource
WORKABLE = (C.QUEUED, C.FAILED, C.SYNCING, C.IN_STEP, C.PENDING)
Doc = dict[str, Any]

STEP_TYPE = "Octopus.Script"
# What the facade step runs on a worker: the executions API of the management space, as
# the customer's tenant, with the key from the facade's library variable set. Octopus
# substitutes #{…} before it runs; the release is the one given when the facade's release
# was created (Facade.ReleaseVersion, prompted) or the management project's latest.
SCRIPT = """set -eu
server='#{Facade.ServerUrl}'; space='#{Facade.SpaceId}'; key='#{Facade.ApiKey}'
project='#{Facade.Project}'; version='#{Facade.ReleaseVersion}'
if [ -z "$version" ]; then
  version=$(curl -fsS -H "X-Octopus-ApiKey: $key" \\
    "$server/api/$space/projects/#{Facade.ProjectId}/releases?take=1" \\
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["Items"][0]["Version"])')
fi
curl -fsS -X POST -H "X-Octopus-ApiKey: $key" -H 'Content-Type: application/json' \\
  "$server/api/$space/deployments/create/tenanted/v1" \\
  -d "{\\"SpaceIdOrName\\":\\"$space\\",\\"ProjectName\\":\\"$project\\",\\
\\"ReleaseVersion\\":\\"$version\\",\\"EnvironmentName\\":\\"#{Octopus.Environment.Name}\\",\\
\\"Tenants\\":[\\"#{Facade.Tenant}\\"]}"
"""


class CustomerError(BlueprintInvalid):
    """A customer that cannot be created or synced; the message says why."""


def library_set_name(customer: Customer) -> str:
    return f"Facade {customer.name}"[:100]


def _api_key(customer: Customer) -> str:
    return unseal(customer, "api_key") if customer.api_key else ""


def create_customer(
    name: str,
    management_space: Space,
    *,
    group: Group | None = None,
    blueprint: Blueprint | None = None,
    instance: Instance | None = None,
    api_key: str = "",
    actor: Any = None,
) -> Customer:
    """Create the customer's facade space (the registry's create-space path, set up from
    ``blueprint``), grant ``group`` the deployer role there and queue the first sync."""
    name = name.strip()
    if not name:
        raise CustomerError("A customer needs a name.")
    if len(name) > 100:
        raise CustomerError("A customer's name is at most 100 characters.")
    if Customer.objects.filter(management_space=management_space, name__iexact=name).exists():
        raise CustomerError(f"{name} is already a customer of {management_space.name}.")
    instance = instance or management_space.instance
    try:
        created = create_space(
            instance,
            name=name,
            description=f"Facade space of {name} (deploys through {management_space.name}).",
            setup=f"{PREFIX}{blueprint.pk}" if blueprint is not None else "",
            actor=actor,
        )
    except ServiceError as exc:
        raise CustomerError(f"The facade space was not created: {exc}") from None
    space = created.space
    with transaction.atomic():
        customer = Customer(
            name=name,
            group=group,
            management_space=management_space,
            blueprint=blueprint,
            facade_space=space,
            status=C.QUEUED,
            next_attempt_at=timezone.now() + timedelta(seconds=settings.ODCM_MANAGED_CLAIM_SECONDS),
            created_by=actor if getattr(actor, "pk", None) else None,
        )
        if api_key:  # a person's key; else ODCM makes one at the first sync
            seal(customer, "api_key", api_key)
            customer.key_source = C_KEY.MANUAL
        customer.save()
        if group is not None:
            try:
                grant(group, Role.DEPLOYER, space=space, actor=actor)
            except GrantError as exc:
                created.warnings.append(str(exc))
        record(
            "managed.customer.create",
            actor=actor,
            obj=customer,
            after={
                "name": name,
                "management_space": str(management_space.pk),
                "facade_space": str(space.pk),
                "group": group.name if group else None,
                "blueprint": blueprint.name if blueprint else None,
                "warnings": created.warnings,
            },
        )
    enqueue("managed.tasks.sync_customer", str(customer.pk))
    return customer


def set_api_key(customer: Customer, api_key: str, *, actor: Any = None) -> None:
    """Use a key a person entered (for instances where ODCM's own key may not make service
    accounts); written at the next sync, which also deletes the service account's keys."""
    api_key = api_key.strip()
    if not api_key:
        raise CustomerError("Enter the API key.")
    seal(customer, "api_key", api_key)
    customer.key_source = C_KEY.MANUAL
    customer.api_key_id = ""
    customer.save(update_fields=["api_key", "key_source", "api_key_id"])
    record("managed.customer.api_key", actor=actor, obj=customer, after={"source": "manual"})
    queue_sync(customer, actor=actor)


def queue_sync(customer: Customer, *, actor: Any = None) -> bool:
    """Resync now (after commit); False while a sync holds it."""
    won = Customer.objects.filter(free(), pk=customer.pk).update(
        status=C.QUEUED,
        failures=0,
        last_error="",
        next_attempt_at=timezone.now() + timedelta(seconds=settings.ODCM_MANAGED_CLAIM_SECONDS),
    )
    if won:
        if actor is not None:
            record("managed.customer.resync", actor=actor, obj=customer)
        enqueue("managed.tasks.sync_customer", str(customer.pk))
    return bool(won)


# ---------------------------------------------------------------- sync


def _tenant(client: OctopusClient, customer: Customer, projects: list[Doc]) -> tuple[Doc, int]:
    """Create the customer's tenant in the management space, or connect the existing one
    (by id, else by name) to every management project in every environment."""
    sid = customer.management_space.octopus_id
    tenants = client.get_all(sp(sid, "tenants"))
    tenant = next((t for t in tenants if t["Id"] == customer.tenant_id), None) or next(
        (t for t in tenants if str(t["Name"]).lower() == customer.name.lower()), None
    )
    envs = [e["Id"] for e in client.get_all(sp(sid, "environments"))]
    wanted = {p["Id"]: envs for p in projects if p.get("TenantedDeploymentMode") != "Untenanted"}
    if tenant is None:
        body = {"Name": customer.name, "TenantTags": [], "ProjectEnvironments": wanted}
        return client.post(sp(sid, "tenants"), body), 1
    have = tenant.get("ProjectEnvironments") or {}
    merged = {**have, **{k: sorted(set(have.get(k, [])) | set(v)) for k, v in wanted.items()}}
    if merged != have:
        return client.put(
            sp(sid, "tenants", tenant["Id"]), {**tenant, "ProjectEnvironments": merged}
        ), 1
    return tenant, 0


def _library_set(
    client: OctopusClient, customer: Customer, tenant: Doc, key_changed: bool
) -> tuple[str, int]:
    """The facade space's library variable set: server, space, tenant and the API key."""
    fid = customer.facade_space.octopus_id  # type: ignore[union-attr]
    name = library_set_name(customer)
    writes = 0
    lvs = next(
        (
            s
            for s in client.get_all(sp(fid, "libraryvariablesets"))
            if s["Name"].lower() == name.lower()
        ),
        None,
    )
    if lvs is None:
        lvs = client.post(
            sp(fid, "libraryvariablesets"),
            {"Name": name, "Description": f"Managed by ODCM for {customer.name}."},
        )
        writes += 1
        key_changed = True
    path = sp(fid, "variables", lvs["VariableSetId"])
    vset = client.get(path)
    mgmt = customer.management_space
    plain = {
        "Facade.ServerUrl": mgmt.instance.base_url.rstrip("/"),
        "Facade.SpaceId": mgmt.octopus_id,
        "Facade.Tenant": str(tenant["Name"]),
    }
    have = {v["Name"]: v for v in vset.get("Variables") or []}
    same = all(have.get(k, {}).get("Value") == v for k, v in plain.items())
    key = _api_key(customer)
    if same and "Facade.ApiKey" in have and not (key and key_changed):
        return str(lvs["Name"]), writes
    out = [v for v in vset.get("Variables") or [] if v["Name"] not in {*plain, "Facade.ApiKey"}]
    for var, value in plain.items():
        old = have.get(var, {})
        out.append({**old, "Name": var, "Value": value, "Type": "String", "Scope": {}})
    secret = {**have.get("Facade.ApiKey", {}), "Name": "Facade.ApiKey", "Type": "Sensitive"}
    secret.update(IsSensitive=True, Scope={}, Value=key or None)  # None keeps Octopus's value
    out.append(secret)
    vset["Variables"] = out
    client.put(path, vset)
    return str(lvs["Name"]), writes + 1


def _step(project: Doc) -> Doc:
    name = f"Deploy {project['Name']}"[:200]
    return {
        "Name": name,
        "Actions": [
            {
                "Name": name,
                "ActionType": STEP_TYPE,
                "Properties": {
                    "Octopus.Action.Script.ScriptSource": "Inline",
                    "Octopus.Action.Script.Syntax": "Bash",
                    "Octopus.Action.Script.ScriptBody": SCRIPT,
                    "Octopus.Action.RunOnServer": "true",
                },
                "Environments": [],
                "ExcludedEnvironments": [],
                "Channels": [],
                "Packages": [],
                "WorkerPoolId": None,
                "IsDisabled": False,
            }
        ],
    }


def _step_matches(current: list[Doc], wanted: Doc) -> bool:
    if len(current) != 1 or current[0]["Name"] != wanted["Name"]:
        return False
    actions = current[0].get("Actions") or []
    if len(actions) != 1 or actions[0].get("ActionType") != STEP_TYPE:
        return False
    props = actions[0].get("Properties") or {}
    return all(props.get(k) == v for k, v in wanted["Actions"][0]["Properties"].items())


def desired(project: Doc, current: Doc | None, library: str, defaults: dict[str, str]) -> Doc:
    """The facade project's document: the name of the management project, one step, the
    variables naming it (what is already there is kept where it does not matter)."""
    step = _step(project)
    variables = [
        {"Name": "Facade.Project", "Value": project["Name"]},
        {"Name": "Facade.ProjectId", "Value": project["Id"]},
        {"Name": "Facade.ReleaseVersion", "Value": ""},
    ]
    wanted_vars = [{**v, "Type": "String", "IsSensitive": False, "Scope": {}} for v in variables]
    if current is None:
        return {
            "Project": {
                "Name": project["Name"],
                "Description": f"Deploys {project['Name']} in the management space.",
                "DefaultGuidedFailureMode": "EnvironmentDefault",
                "TenantedDeploymentMode": "Untenanted",
                "IsDisabled": False,
                "ProjectGroup": defaults["projectgroup"],
                "Lifecycle": defaults["lifecycle"],
                "LibraryVariableSets": [library],
            },
            "Steps": [step],
            "Runbooks": [],
            "Channels": [],
            "Variables": wanted_vars,
            "Templates": [],
        }
    doc = copy.deepcopy(current)
    doc["Project"]["Name"] = project["Name"]
    if library not in doc["Project"]["LibraryVariableSets"]:
        doc["Project"]["LibraryVariableSets"] = sorted(
            [*doc["Project"]["LibraryVariableSets"], library]
        )
    if not _step_matches(doc["Steps"], step):
        doc["Steps"] = [step]
    names = {v["Name"] for v in wanted_vars}
    kept = [v for v in doc["Variables"] if v["Name"] not in names]
    ordered = {v["Name"]: v for v in doc["Variables"] if v["Name"] in names}
    # Facade.ReleaseVersion is the customer's to set (a prompt); only its presence matters.
    if "Facade.ReleaseVersion" in ordered:
        wanted_vars[2] = ordered["Facade.ReleaseVersion"]
    doc["Variables"] = kept + wanted_vars
    return doc


def _defaults(client: OctopusClient, space_id: str) -> dict[str, str]:
    groups = client.get_all(sp(space_id, "projectgroups"))
    lifecycles = client.get_all(sp(space_id, "lifecycles"))
    if not groups or not lifecycles:
        raise CustomerError("The facade space has no project group or lifecycle yet.")
    return {"projectgroup": groups[0]["Name"], "lifecycle": lifecycles[0]["Name"]}


def _facade_projects(
    client: OctopusClient, customer: Customer, lease: Lease, projects: list[Doc], library: str
) -> tuple[dict[str, str], int]:
    """One facade project per management project, matched by the management project's id
    (so a rename renames the facade). Returns {management id: facade id} and the writes."""
    facade = customer.facade_space
    assert facade is not None
    fid, writes = facade.octopus_id, 0
    facades = dict(customer.facades)
    look = P.lookups(client, fid)
    defaults = _defaults(client, fid)
    existing = {str(p["Name"]).lower(): p for p in client.get_all(sp(fid, "projects"))}
    by_id = {str(p["Id"]): p for p in existing.values()}
    # Adopt facades an interrupted sync created but could not write down, then write down
    # (by name) the facades this one is about to create.
    for lower, mid in (customer.intended or {}).items():
        if mid not in facades and lower in existing:
            facades[mid] = str(existing[lower]["Id"])
    intended = {
        p["Name"].lower(): p["Id"] for p in projects if facades.get(p["Id"], "") not in by_id
    }
    if intended != (customer.intended or {}):
        mine(Customer.objects.all(), lease).update(intended=intended, facades=facades)
    for project in projects:
        mid = str(project["Id"])
        facade_project = by_id.get(facades.get(mid, ""))
        if facade_project is None:
            facades.pop(mid, None)  # new, or its facade was deleted by hand: made again
        current = P.serialize(client, fid, facade_project, look) if facade_project else None
        other = existing.get(project["Name"].lower())
        if current is None and other is not None and str(other["Id"]) not in facades.values():
            raise CustomerError(
                f"{facade.name} already has a project named '{project['Name']}' that is not "
                "a facade; rename or remove it."
            )
        doc = desired(project, current, library, defaults)
        written = P.write(client, fid, doc, current, facade_project, look, {})
        writes += written.writes
        if facades.get(mid) != written.project_id:
            facades[mid] = written.project_id
            mine(Customer.objects.all(), lease).update(facades=facades)
    return facades, writes


def _sync(customer: Customer, lease: Lease) -> dict[str, Any]:
    mgmt, facade = customer.management_space, customer.facade_space
    if facade is None:
        raise CustomerError("The customer has no facade space.")
    notes: list[str] = []
    with client_for(mgmt.instance) as client:
        projects = client.get_all(sp(mgmt.octopus_id, "projects"))
        tenant, writes = _tenant(client, customer, projects)
        notes = [
            f"{p['Name']} is untenanted in the management space: its facade's deployment "
            "would be refused (make it tenanted)."
            for p in projects
            if p.get("TenantedDeploymentMode") == "Untenanted"
        ]
        mine(Customer.objects.all(), lease).update(tenant_id=str(tenant["Id"]))
        try:
            K.ensure_key(client, customer, lease, str(tenant["Id"]))
        except K.KeyRightsMissing as exc:
            raise CustomerError(str(exc)) from None
    key = _api_key(customer)
    digest = secret_digest(key) if key else ""
    if not key:
        notes.append("No API key is set: the facade steps cannot call the management space.")
    with client_for(facade.instance) as client:
        library, n = _library_set(client, customer, tenant, digest != customer.api_key_digest)
        facades, m = _facade_projects(client, customer, lease, projects, library)
    if customer.service_user_id or customer.key_source == C_KEY.ODCM:
        customer.refresh_from_db(fields=["service_user_id"])
        with client_for(mgmt.instance) as client:  # the new key is in place: drop the old
            writes += K.drop_other_keys(client, customer)
    return {
        "facades": facades,
        "intended": {},
        "orphans": sorted(set(facades) - {str(p["Id"]) for p in projects}),
        "notes": notes,
        "api_key_digest": digest,
        "writes": writes + n + m,
    }


def sync_customer(customer_id: str) -> str:
    """Bring a customer's tenant and facade space in step (the task's body)."""
    row = (
        Customer.objects.select_related("management_space__instance", "facade_space__instance")
        .filter(pk=customer_id)
        .first()
    )
    if row is None or row.facade_space is None:
        return "nothing to do"
    rows = Customer.objects.filter(status__in=WORKABLE)
    lease = claim(rows, row.pk, seconds=settings.ODCM_MANAGED_CLAIM_SECONDS, status=C.SYNCING)
    if lease is None:
        return "busy"
    row.refresh_from_db()
    try:
        result = _sync(row, lease)
    except Exception as exc:
        return _failed(row, lease, exc)
    writes = result.pop("writes")
    release(
        Customer.objects.all(),
        lease,
        status=C.IN_STEP,
        failures=0,
        last_error="",
        next_attempt_at=None,
        synced_at=timezone.now(),
        **result,
    )
    if writes:
        record(
            "managed.customer.synced",
            obj=row,
            after={"facades": len(result["facades"]), "writes": writes},
        )
    return "synced" if writes else "in step"


def _failed(row: Customer, lease: Any, exc: Exception) -> str:
    message = str(exc) if isinstance(exc, CustomerError) else describe(exc)
    log.warning("managed: customer %s sync failed: %s", row.pk, message)
    failures = row.failures + 1
    delay = backoff(
        failures,
        base=settings.ODCM_MANAGED_RETRY_BASE_SECONDS,
        cap=settings.ODCM_MANAGED_RETRY_MAX_SECONDS,
        jitter=0.1,
    )
    if release(
        Customer.objects.all(),
        lease,
        status=C.FAILED,
        failures=failures,
        last_error=message,
        next_attempt_at=timezone.now() + timedelta(seconds=delay),
    ):
        record("managed.customer.sync_failed", obj=row, message=message)
        enqueue("managed.tasks.sync_customer", str(row.pk), countdown=delay, on_commit=False)
    return "failed"


def due_customers() -> list[str]:
    """Periodic: every customer not being synced now (a check that writes only what moved)."""
    rows = Customer.objects.filter(free(), facade_space__isnull=False)
    rows = rows.filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=timezone.now()))
    return [str(pk) for pk in rows.values_list("pk", flat=True)]
