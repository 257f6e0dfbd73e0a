"""Deployment receipts: the target notices deployments of imported releases and signs a
receipt for each finished one; the source verifies it against its "accept deployment results"
trust and shows the progression across the route."""

from __future__ import annotations

import time
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.dateparse import parse_datetime

from audit.services import record
from octopus.errors import OctopusError
from odcm.clients import client_for
from spaces.models import Space

from .. import formats, pki
from ..errors import PromotionError, Refused
from ..models import InboundBundle, Promotion, Receipt, Route, RouteStage, Trust
from . import identities, notify, peers


def scan(space: Space) -> list[Receipt]:
    """Issue a signed receipt for every finished deployment of a release imported into
    ``space`` that has none yet (one per task: a second scan, or two at once, adds nothing)."""
    made: list[Receipt] = []
    bundles = list(
        InboundBundle.objects.filter(space=space, state=InboundBundle.State.IMPORTED)
        .exclude(imported_release_id="")
        .select_related("source")
    )
    if not bundles:
        return made
    sid = space.octopus_id
    done = set(
        Receipt.objects.filter(direction=Receipt.Direction.OUT, space=space).values_list(
            "task_id", flat=True
        )
    )
    with client_for(space.instance) as client:
        envs = {e["Id"]: e["Name"] for e in client.get_all(f"/api/{sid}/environments")}
        for bundle in bundles:
            deployments = [
                d
                for d in client.release_deployments(sid, bundle.imported_release_id)
                if str(d["TaskId"]) not in done
            ]
            if not deployments:
                continue
            states = client.tasks_by_ids([str(d["TaskId"]) for d in deployments], sid)
            for dep in deployments:
                status = states.get(str(dep["TaskId"]))
                if status is None or not status.is_completed:
                    continue
                receipt = issue(bundle, dep, status.state, envs, status.raw)
                if receipt is not None:
                    made.append(receipt)
    return made


def issue(
    bundle: InboundBundle,
    deployment: dict[str, Any],
    outcome: str,
    envs: dict[str, str],
    task: Any,
) -> Receipt | None:
    identity = identities.ensure(bundle.space)
    key, cert = identities.signer(identity)
    source_cert = peers.newest_certificate(bundle.source)
    receipt = Receipt(
        direction=Receipt.Direction.OUT,
        space=bundle.space,
        peer=bundle.source,
        bundle_id=bundle.pk,
        release_version=bundle.release_version,
        environment=envs.get(deployment["EnvironmentId"], deployment["EnvironmentId"]),
        tenant=str(deployment.get("TenantId") or ""),
        outcome=outcome,
        task_id=str(deployment["TaskId"]),
        started_at=parse_datetime(str(task.get("StartTime") or ""))
        if task.get("StartTime")
        else None,
        finished_at=parse_datetime(str(task.get("CompletedTime") or ""))
        if task.get("CompletedTime")
        else None,
    )
    claims = {
        "iss": str(bundle.space.pk),
        "aud": source_cert.fingerprint,
        "jti": str(receipt.id),
        "iat": int(time.time()),
        "schema": 1,
        "bundle": str(bundle.pk),
        "project": bundle.project_name,
        "release": bundle.release_version,
        "target_space": bundle.space.name,
        "environment": receipt.environment,
        "tenant": receipt.tenant,
        "outcome": outcome,
        "task_id": receipt.task_id,
        "started": receipt.started_at.isoformat() if receipt.started_at else None,
        "finished": receipt.finished_at.isoformat() if receipt.finished_at else None,
    }
    receipt.token = formats.sign(claims, key, cert, formats.RECEIPT_TYPE)
    try:
        with transaction.atomic():
            receipt.save()
            record(
                "promotions.receipt.issue",
                obj=bundle,
                after={
                    "environment": receipt.environment,
                    "outcome": outcome,
                    "task": receipt.task_id,
                },
            )
    except IntegrityError:
        return None  # another scan issued it
    return receipt


def receive(token: str, *, actor: Any = None) -> tuple[Receipt, bool]:
    """Verify a receipt at the source and record it. (row, created); a replay is a no-op."""
    try:
        head = formats.header(token.strip())
        sender = peers.sender(str(head["kid"]))
        claims = formats.verify(
            token.strip(), pki.load_certificate(sender.certificate_pem), formats.RECEIPT_TYPE
        )
        identity = identities.for_fingerprint(str(claims["aud"]))
        if identity is None:
            raise Refused("This receipt was made for a space of another ODCM.")
        peers.require_trust(identity.space, sender.remote, Trust.Accepts.RECEIPTS)
        promotion = Promotion.objects.filter(
            pk=claims["bundle"], space=identity.space, target=sender.remote
        ).first()
        if promotion is None:
            raise Refused(
                f"This receipt is about bundle {claims['bundle']}, which {identity.space.name} "
                f"never promoted to {sender.remote.name}."
            )
    except Refused as exc:
        # Tell the owners of the source space when we can tell which one it was.
        space = _space_of(token)
        if space is not None:
            notify.receipt_failed(space, exc.message)
        raise
    existing = Receipt.objects.filter(
        direction=Receipt.Direction.IN, space=identity.space, task_id=claims["task_id"]
    ).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            receipt = Receipt.objects.create(
                direction=Receipt.Direction.IN,
                space=identity.space,
                peer=sender.remote,
                bundle_id=promotion.pk,
                release_version=str(claims["release"]),
                environment=str(claims["environment"]),
                tenant=str(claims.get("tenant") or ""),
                outcome=str(claims["outcome"]),
                task_id=str(claims["task_id"]),
                started_at=parse_datetime(claims["started"]) if claims.get("started") else None,
                finished_at=parse_datetime(claims["finished"]) if claims.get("finished") else None,
                token=token.strip(),
                delivered=True,
            )
            record(
                "promotions.receipt.receive",
                actor=actor,
                obj=promotion,
                after={"environment": receipt.environment, "outcome": receipt.outcome},
            )
    except IntegrityError:
        return Receipt.objects.get(
            direction=Receipt.Direction.IN, space=identity.space, task_id=claims["task_id"]
        ), False
    return receipt, True


def _space_of(token: str) -> Space | None:
    try:
        import jwt

        aud = jwt.decode(token.strip(), options={"verify_signature": False}).get("aud")
    except Exception:
        return None
    identity = identities.for_fingerprint(str(aud or ""))
    return identity.space if identity else None


def progression(route: Route, release_version: str | None = None) -> list[dict[str, Any]]:
    """One row per stage of the route: the local environments (read from Octopus) and, for
    each target space, the environments its receipts reported."""
    space = route.space
    local: dict[str, dict[str, Any]] = {}
    try:
        with client_for(space.instance) as client:
            sid = space.octopus_id
            envs = {e["Id"]: e["Name"] for e in client.get_all(f"/api/{sid}/environments")}
            releases = client.project_releases(sid, route.project_id)
            release = next((r for r in releases if release_version in (None, r["Version"])), None)
            if release is not None:
                release_version = str(release["Version"])
                deps = client.release_deployments(sid, release["Id"])
                states = client.tasks_by_ids([str(d["TaskId"]) for d in deps], sid)
                for dep in deps:
                    status = states.get(str(dep["TaskId"]))
                    local[envs.get(dep["EnvironmentId"], "")] = {
                        "state": status.state if status else "Unknown",
                        "task_id": dep["TaskId"],
                    }
    except OctopusError as exc:
        raise PromotionError(f"Reading deployments from Octopus failed: {exc}") from None
    rows: list[dict[str, Any]] = []
    for stage in route.stages.select_related("target"):
        if stage.kind == RouteStage.Kind.ENVIRONMENT:
            found = local.get(stage.environment)
            rows.append(
                {
                    "stage": stage.environment,
                    "remote": False,
                    "release": release_version,
                    "state": found["state"] if found else "Not deployed",
                }
            )
            continue
        receipts = Receipt.objects.filter(
            direction=Receipt.Direction.IN,
            space=space,
            peer=stage.target,
            release_version=release_version,
        ).order_by("environment", "-finished_at")
        promoted = Promotion.objects.filter(
            space=space, target=stage.target, release_version=release_version
        ).exists()
        seen = set()
        for r in receipts:
            if r.environment in seen:
                continue
            seen.add(r.environment)
            rows.append(
                {
                    "stage": f"{stage.target}: {r.environment}",
                    "remote": True,
                    "release": release_version,
                    "state": r.outcome,
                }
            )
        if not seen:
            rows.append(
                {
                    "stage": str(stage.target),
                    "remote": True,
                    "release": release_version,
                    "state": "Promoted" if promoted else "Not promoted",
                }
            )
    return rows
