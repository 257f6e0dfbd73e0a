"""Review and import of an inbound bundle into the target space, through ``octopus/``.

Import is one claimed unit of work (``odcm.work`` lease on the bundle row): packages first
(each verified by SHA-256 before it is uploaded; one that differs stops the import before any
project or release is written), then the remote project "<Source space>: <Project>", its
process and variables from the snapshot, then the release with the same version and package
versions. Each Octopus write is idempotent by name or version, so a worker killed half-way
is finished by the next attempt without duplicates.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.services import record
from octopus import OctopusClient
from octopus.errors import OctopusError
from odcm import work
from odcm.clients import client_for
from odcm.crypto import seal, unseal
from spaces.models import Space

from .. import formats, pki
from ..errors import PromotionError
from ..models import InboundBundle, SuppliedValue
from . import identities, notify, tenants
from . import packages as package_exchange

ANY_ENVIRONMENT = ""
# Where a package's bytes come from at import: a function that writes package
# ``(id, version)`` to the given path and returns the SHA-256 it computed on the way (None:
# the importer hashes the file), or raises PromotionError.
PackageSource = Callable[[dict[str, Any], Path], str | None]


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
            present[_pkey(pkg)] = _feed_state(client, bundle.space.octopus_id, pkg)
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
            {**pkg, "present": present.get(_pkey(pkg), "not checked")}
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


def _pkey(pkg: dict[str, Any]) -> str:
    return f"{pkg['id']}.{pkg['version']}"


def _feed_state(client: OctopusClient, space_id: str, pkg: dict[str, Any]) -> str:
    if pkg.get("feed") != "feeds-builtin":
        return "external feed"
    try:
        doc = client.package(space_id, f"packages-{_pkey(pkg)}")
    except OctopusError:
        return "missing"
    return (
        "present, hash matches"
        if str(doc.get("Hash", "")).lower() == pkg.get("sha1")
        else "present, HASH DIFFERS"
    )


def remote_project_name(bundle: InboundBundle) -> str:
    return f"{bundle.payload['source']['space']}: {bundle.payload['project']['name']}"


def _claim_seconds() -> float:
    return float(getattr(settings, "ODCM_PROMOTIONS_CLAIM_SECONDS", 600))


def _refuse_missing(bundle: InboundBundle) -> None:
    missing = [n for n in needed(bundle) if n["state"] == "missing"]
    if missing:
        listed = ", ".join(
            f"{n['name']} ({n['environment'] or 'every environment'})" for n in missing
        )
        raise PromotionError(f"Values still needed before this release can be deployed: {listed}.")


def queue_import(bundle: InboundBundle, *, lifecycle_id: str = "", actor: Any = None) -> None:
    """Hand the import to a worker (``promotions.tasks.import_bundle``): packages can be
    large, and a worker killed half-way is finished by the next one (the sweep re-queues a
    queued bundle whose lease ran out). Refused at once when a value is still missing."""
    if bundle.state == InboundBundle.State.IMPORTED:
        return
    _refuse_missing(bundle)
    changed = (
        InboundBundle.objects.filter(pk=bundle.pk)
        .exclude(state=InboundBundle.State.IMPORTED)
        .filter(work.free())
        .update(state=InboundBundle.State.QUEUED, lifecycle_id=lifecycle_id, last_error="")
    )
    if not changed:
        raise PromotionError("This bundle is being imported by someone else right now.")
    record("promotions.inbox.import_queued", actor=actor, obj=bundle)
    work.enqueue("promotions.tasks.import_bundle", str(bundle.pk))
    bundle.refresh_from_db()


def run_queued(bundle_id: str) -> str:
    """The worker's side of :func:`queue_import`: import a queued bundle, pulling its
    packages from wherever :func:`source_for` says. Returns what happened."""
    bundle = (
        InboundBundle.objects.select_related("source", "space__instance")
        .filter(pk=bundle_id, state=InboundBundle.State.QUEUED)
        .first()
    )
    if bundle is None:
        return "not queued"
    try:
        import_bundle(bundle, source_for(bundle), lifecycle_id=bundle.lifecycle_id, queued=True)
    except PromotionError as exc:
        return "busy" if exc.code == "busy" else "failed"
    return "imported"


def import_bundle(
    bundle: InboundBundle,
    packages: PackageSource | None,
    *,
    lifecycle_id: str = "",
    actor: Any = None,
    queued: bool = False,
) -> InboundBundle:
    """Import ``bundle`` into its space (see the module docstring). Raises PromotionError with
    the reason; the bundle row records it. ``queued``: only a bundle queued for a worker."""
    if bundle.state == InboundBundle.State.IMPORTED:
        return bundle
    _refuse_missing(bundle)
    rows = InboundBundle.objects.exclude(state=InboundBundle.State.IMPORTED)
    if queued:
        rows = rows.filter(state=InboundBundle.State.QUEUED)
    lease = work.claim(rows, bundle.pk, seconds=_claim_seconds())
    if lease is None:
        raise PromotionError(
            "This bundle is being imported by someone else right now.", code="busy"
        )

    def heartbeat() -> None:
        # Big packages take a while: each one done extends the lease, so a live worker is
        # never taken for a dead one (a dead one stops extending it).
        until = timezone.now() + dt.timedelta(seconds=_claim_seconds())
        work.mine(InboundBundle.objects.all(), lease).update(claimed_until=until)

    try:
        result = _import(bundle, packages, lifecycle_id, heartbeat)
    except (PromotionError, OctopusError) as exc:
        _close(packages)
        message = str(exc)
        work.release(rows, lease, state=InboundBundle.State.FAILED, last_error=message)
        record("promotions.inbox.import_failed", actor=actor, obj=bundle, message=message)

        notify.import_failed(bundle, message)
        raise PromotionError(message) from None
    except BaseException:
        _close(packages)
        raise
    _close(packages)
    if result.get("held"):
        work.release(
            InboundBundle.objects.all(),
            lease,
            state=InboundBundle.State.NEEDS_VALUES,
            imported_project_id=result["project_id"],
            lifecycle_id=result["lifecycle_id"],
            last_error=result["held"],
        )
        record("promotions.inbox.import_held", actor=actor, obj=bundle, message=result["held"])
        bundle.refresh_from_db()
        return bundle
    work.release(
        InboundBundle.objects.all(),
        lease,
        state=InboundBundle.State.IMPORTED,
        imported_project_id=result["project_id"],
        imported_release_id=result["release_id"],
        lifecycle_id=result["lifecycle_id"],
        imported_at=timezone.now(),
        imported_by=actor if getattr(actor, "pk", None) else None,
        last_error="",
    )
    record("promotions.inbox.import", actor=actor, obj=bundle, after=result)
    bundle.refresh_from_db()
    return bundle


def _close(packages: PackageSource | None) -> None:
    """A package source holding connections (``packages.PeerSource``) is closed after use."""
    close = getattr(packages, "close", None)
    if close is not None:
        close()


def _import(
    bundle: InboundBundle,
    packages: PackageSource | None,
    lifecycle_id: str,
    heartbeat: Callable[[], None],
) -> dict[str, str]:
    space: Space = bundle.space
    sid = space.octopus_id
    p = bundle.payload
    with client_for(space.instance) as client:
        for pkg in p.get("packages") or []:
            heartbeat()
            transfer_package(client, sid, pkg, packages)
        heartbeat()
        suggested = str((p.get("target") or {}).get("lifecycle") or "")
        lifecycle_id = _lifecycle(client, sid, lifecycle_id, suggested)
        project = _project(client, sid, remote_project_name(bundle), lifecycle_id, p)
        project = tenants.sync_templates(client, sid, project, p)
        envs = {e["Name"]: e["Id"] for e in client.get_all(f"/api/{sid}/environments")}
        target_name = str(p.get("target", {}).get("name") or space.name)
        process = client.project_deployment_process(sid, project["Id"])
        process["Steps"] = map_steps(p["process"].get("Steps") or [], p, envs, target_name)
        client.update_deployment_process(sid, process)
        variables = client.variable_set(sid, project["VariableSetId"])
        variables["Variables"] = _variables(bundle, envs, target_name)
        client.update_variable_set(sid, variables)
        done = {"project_id": project["Id"], "release_id": "", "lifecycle_id": lifecycle_id}
        needs = tenants.tenant_needs(client, sid, project)
        if any(n["state"] == tenants.MISSING for n in needs):
            # No release while a tenant lacks a value: nothing can be deployed yet.
            return {**done, "held": tenants.missing_message(needs)}
        release = _release(client, sid, project["Id"], p)
    return {**done, "release_id": release["Id"]}


def transfer_package(
    client: OctopusClient, sid: str, pkg: dict[str, Any], packages: PackageSource | None
) -> str:
    """Put one manifest package in the target's built-in feed: skipped when the same SHA-1 is
    there already; otherwise fetched, its SHA-256 checked against the manifest, uploaded and
    Octopus's SHA-1 checked on arrival. Returns what happened."""
    if pkg.get("feed") != "feeds-builtin":
        return "external feed"
    try:
        doc = client.package(sid, f"packages-{_pkey(pkg)}")
    except OctopusError:
        doc = None
    if doc is not None:
        if str(doc.get("Hash", "")).lower() == pkg["sha1"]:
            return "present"
        raise PromotionError(
            f"{_pkey(pkg)} is already in this space's feed with other bytes (SHA-1 "
            f"{doc.get('Hash')}, the bundle says {pkg['sha1']}); it will not be deployed. "
            "Remove it or give the release a new version."
        )
    if packages is None:
        raise PromotionError(
            f"{_pkey(pkg)} is not in this space's feed; import the package archive."
        )
    with tempfile.TemporaryDirectory(prefix="odcm-import-") as tmp:
        path = Path(tmp) / f"{pkg['id']}.{pkg['version']}{pkg.get('file_extension', '.zip')}"
        digest = packages(pkg, path) or _sha256(path)
        if digest != pkg["sha256"]:
            raise PromotionError(
                f"{_pkey(pkg)} does not match the bundle's manifest (SHA-256 {digest}, "
                f"expected {pkg['sha256']}): the package was altered; it was not uploaded and "
                "the release was not imported."
            )
        uploaded = client.upload_package(sid, path)
        if not uploaded.verified or uploaded.sent.sha256 != pkg["sha256"]:
            raise PromotionError(f"{_pkey(pkg)} arrived damaged in the feed; import it again.")
    return "copied"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1024 * 1024):
            h.update(chunk)
    return h.hexdigest()


def _lifecycle(client: OctopusClient, sid: str, chosen: str, suggested: str = "") -> str:
    """The importer's choice, else the route's suggestion (by name) when this space has it,
    else the only lifecycle of the space."""
    lifecycles = client.lifecycles(sid)
    if chosen:
        if not any(lc["Id"] == chosen for lc in lifecycles):
            raise PromotionError(f"The lifecycle {chosen} does not exist in this space.")
        return chosen
    named = [lc for lc in lifecycles if suggested and lc["Name"] == suggested]
    if named:
        return str(named[0]["Id"])
    if len(lifecycles) == 1:
        return str(lifecycles[0]["Id"])
    raise PromotionError("This space has several lifecycles: choose the one the release follows.")


def _project(
    client: OctopusClient, sid: str, name: str, lifecycle_id: str, p: dict[str, Any]
) -> dict[str, Any]:
    for project in client.get_all(f"/api/{sid}/projects"):
        if project["Name"] == name:
            if project.get("LifecycleId") != lifecycle_id:
                project["LifecycleId"] = lifecycle_id
                project = client.put(f"/api/{sid}/projects/{project['Id']}", project)
            return dict(project)
    group = client.get(f"/api/{sid}/projectgroups/all")[0]
    description = (
        f"Imported by ODCM from {p['source']['space']}. {p['project'].get('description', '')}"
    )
    created: dict[str, Any] = client.post(
        f"/api/{sid}/projects",
        {
            "Name": name,
            "ProjectGroupId": group["Id"],
            "LifecycleId": lifecycle_id,
            "Description": description.strip(),
        },
    )
    return created


def _map_envs(
    ids: list[str], source_envs: dict[str, str], envs: dict[str, str], target: str
) -> list[str] | None:
    """Source environment ids -> this space's ids by name ("<Target>: Production" is the
    remote environment for this space's Production). None: none of them exists here."""
    if not ids:
        return []
    mapped = []
    for ident in ids:
        name = source_envs.get(ident, ident)
        if name.startswith(f"{target}: "):
            name = name[len(target) + 2 :]
        if name in envs:
            mapped.append(envs[name])
    return mapped or None


def _steps(
    steps: list[dict[str, Any]], source_envs: dict[str, str], envs: dict[str, str], target: str
) -> list[dict[str, Any]]:
    out = []
    for step in steps:
        step = {k: v for k, v in step.items() if k != "Id"}
        actions = []
        for action in step.get("Actions") or []:
            action = {k: v for k, v in action.items() if k != "Id"}
            mapped = _map_envs(list(action.get("Environments") or []), source_envs, envs, target)
            # An action scoped only to environments this space does not have never runs here.
            action["Environments"] = mapped or []
            if mapped is None:
                action["IsDisabled"] = True
            action["Channels"] = []
            action["TenantTags"] = []
            action["Packages"] = [
                {k: v for k, v in r.items() if k != "Id"} for r in action.get("Packages") or []
            ]
            actions.append(action)
        step["Actions"] = actions
        out.append(step)
    return out


def map_steps(
    steps: list[dict[str, Any]], p: dict[str, Any], envs: dict[str, str], target: str
) -> list[dict[str, Any]]:
    """The snapshot's steps as import writes them in this space (also what the edit check
    compares with)."""
    return _steps(steps, p.get("environments") or {}, envs, target)


def snapshot_variables(
    p: dict[str, Any], envs: dict[str, str], target: str
) -> list[dict[str, Any]]:
    """The snapshot's variables (library sets folded in) scoped by environment name, without
    the sensitive ones Octopus did not return (those arrive as carried or supplied values)."""
    out: list[dict[str, Any]] = []
    for doc in [p["variables"]["project"], *p["variables"]["library"]]:
        source_envs = {
            e["Id"]: e["Name"] for e in (doc.get("ScopeValues") or {}).get("Environments") or []
        }
        for var in doc.get("Variables") or []:
            if var.get("IsSensitive") and var.get("Value") in (None, ""):
                continue  # arrives below, from the bundle's sealed values or the importer
            scope = var.get("Scope") or {}
            mapped = _map_envs(list(scope.get("Environment") or []), source_envs, envs, target)
            if mapped is None:
                continue
            new_scope = {"Environment": mapped} if mapped else {}
            if scope.get("Role"):
                new_scope["Role"] = list(scope["Role"])
            out.append(
                {
                    "Name": var["Name"],
                    "Value": var.get("Value"),
                    "Type": var.get("Type", "String"),
                    "IsSensitive": False,
                    "Scope": new_scope,
                }
            )
    return out


def _variables(bundle: InboundBundle, envs: dict[str, str], target: str) -> list[dict[str, Any]]:
    """The snapshot's variables, the carried values for this space's environments, and the
    values supplied here."""
    p = bundle.payload
    out = snapshot_variables(p, envs, target)
    key, cert = identities.signer(_target_identity(bundle))
    for v in p.get("remote_values") or []:
        env_id = envs.get(v["environment"])
        value = formats.open_sealed(v["sealed"], cert, key) if v["sensitive"] else v.get("value")
        out.append(_var(v["name"], value, v["sensitive"], env_id))
    for row in bundle.values.all():
        value = unseal(row, "sealed_value") if row.sensitive else row.value
        out.append(_var(row.name, value, row.sensitive, envs.get(row.environment)))
    return out


def _var(name: str, value: Any, sensitive: bool, env_id: str | None) -> dict[str, Any]:
    return {
        "Name": name,
        "Value": value,
        "Type": "Sensitive" if sensitive else "String",
        "IsSensitive": sensitive,
        "Scope": {"Environment": [env_id]} if env_id else {},
    }


def _target_identity(bundle: InboundBundle) -> Any:
    identity = identities.for_fingerprint(str(bundle.payload["aud"]))
    if identity is None:
        raise PromotionError(
            "The identity this bundle was encrypted for was revoked; it cannot be opened."
        )
    return identity


def _release(client: OctopusClient, sid: str, project_id: str, p: dict[str, Any]) -> dict[str, Any]:
    version = str(p["release"]["version"])
    existing = client.project_releases(sid, project_id, search_by_version=version)
    for rel in existing:
        if rel["Version"] == version:
            return dict(rel)
    selected = [
        {
            "ActionName": s.get("ActionName"),
            "PackageReferenceName": s.get("PackageReferenceName") or "",
            "Version": s.get("Version"),
        }
        for s in p["release"].get("selected_packages") or []
    ]
    return client.create_release(
        sid,
        {
            "ProjectId": project_id,
            "Version": version,
            "ReleaseNotes": p["release"].get("notes") or "",
            "SelectedPackages": selected,
        },
    )


def archive_source(folder: Path) -> PackageSource:
    """Packages from an exported package archive (air-gapped): files named
    ``<id>.<version><ext>``."""

    def fetch(pkg: dict[str, Any], path: Path) -> str:
        found = folder / f"{pkg['id']}.{pkg['version']}{pkg.get('file_extension', '.zip')}"
        if not found.is_file():
            raise PromotionError(f"{_pkey(pkg)} is not in the package archive.")
        h = hashlib.sha256()
        with open(found, "rb") as src, open(path, "wb") as dst:
            while chunk := src.read(1024 * 1024):
                h.update(chunk)  # hashed on the way: the copy is what gets uploaded
                dst.write(chunk)
        return h.hexdigest()

    return fetch


def space_source(space: Space) -> PackageSource:
    """Packages streamed from a space of this same ODCM (a local promotion)."""

    def fetch(pkg: dict[str, Any], path: Path) -> str:
        with client_for(space.instance, verify=package_exchange.tls_context()) as client:
            got = client.download_package(space.octopus_id, f"packages-{_pkey(pkg)}", path)
        return got.received.sha256

    return fetch


def peer_source(bundle: InboundBundle) -> PackageSource:
    """Packages pulled from the source ODCM over the network (connected promotion): one
    signing key and one connection pool for all of them (:func:`import_bundle` closes it)."""
    return package_exchange.PeerSource(bundle)


def source_for(bundle: InboundBundle) -> PackageSource | None:
    """Where this bundle's packages come from without a person handing them over: the
    source space's feed (same ODCM) or the source ODCM (connected); None when air-gapped."""
    source = bundle.source
    if source.local_space_id is not None:
        return space_source(source.local_space)  # type: ignore[arg-type]
    if source.url:
        return peer_source(bundle)
    return None


def fingerprint_matches(bundle: InboundBundle, fp: str) -> bool:
    return bundle.source_fingerprint == pki.normalise(fp)
