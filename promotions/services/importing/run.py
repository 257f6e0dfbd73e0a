"""Import of an inbound bundle into the target space, through ``octopus/``.

Import is one claimed unit of work (``odcm.work`` lease on the bundle row): packages first
(each verified by SHA-256 before it is uploaded; one that differs stops the import before any
project or release is written), then the remote project "<Source space>: <Project>", its
process and variables from the snapshot, then the release with the same version and package
versions. Each Octopus write is idempotent by name or version, so a worker killed half-way
is finished by the next attempt without duplicates.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.utils import timezone

from audit.services import record
from octopus.errors import OctopusError
from odcm import work
from odcm.clients import client_for
from spaces.models import Space

from ...errors import PromotionError
from ...models import InboundBundle
from .. import notify, tenants
from .project import choose_lifecycle, remote_project_name, write_project, write_release
from .review import needed
from .sources import PackageSource, source_for, transfer_package
from .values import bundle_variables, map_steps


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
        lifecycle_id = choose_lifecycle(client, sid, lifecycle_id, suggested)
        project = write_project(client, sid, remote_project_name(bundle), lifecycle_id, p)
        project = tenants.sync_templates(client, sid, project, p)
        envs = {e["Name"]: e["Id"] for e in client.get_all(f"/api/{sid}/environments")}
        target_name = str(p.get("target", {}).get("name") or space.name)
        process = client.project_deployment_process(sid, project["Id"])
        process["Steps"] = map_steps(p["process"].get("Steps") or [], p, envs, target_name)
        client.update_deployment_process(sid, process)
        variables = client.variable_set(sid, project["VariableSetId"])
        variables["Variables"] = bundle_variables(bundle, envs, target_name)
        client.update_variable_set(sid, variables)
        done = {"project_id": project["Id"], "release_id": "", "lifecycle_id": lifecycle_id}
        # Also holds back (or releases) deployments of earlier releases for the tenants.
        needs = tenants.hold_deployments(bundle, client, project=project)
        if any(n["state"] == tenants.MISSING for n in needs):
            # No release while a tenant lacks a value: nothing can be deployed yet.
            return {**done, "held": tenants.missing_message(needs)}
        release = write_release(client, sid, project["Id"], p)
    return {**done, "release_id": release["Id"]}
