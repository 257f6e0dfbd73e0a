"""Moving bundles and receipts: to a space of this ODCM directly, to another ODCM's inbox
over HTTP(S) by a worker (claim, lease, backoff as sharing's deliveries), or as files for an
air-gapped transfer. The inbox authenticates the document itself (its JWS signature against
the trust), so the request needs no user credentials."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import httpx
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from audit.services import record
from octopus import make_http_client
from octopus.errors import OctopusError
from odcm import work
from odcm.clients import client_for, url_policy

from .. import formats
from ..errors import PromotionError
from ..models import InboundBundle, Promotion, Receipt
from . import importing, inbox, notify, peers, receipts

INBOX_PATH = "/promotions/exchange/bundles/"
RECEIPTS_PATH = "/promotions/exchange/receipts/"
IDENTITY_PATH = "/promotions/exchange/identities/{}/"
MEDIA_TYPE = "application/jose"


def _claim_seconds() -> float:
    return float(getattr(settings, "ODCM_PROMOTIONS_CLAIM_SECONDS", 600))


def promote(promotion: Promotion, *, actor: Any = None) -> Promotion:
    """Send a built bundle: straight into a local target's inbox, or queue it for a worker
    when the target is another ODCM with a URL. Without a URL it stays for download."""
    target = promotion.target
    if target.local_space_id is not None:
        bundle, _ = inbox.receive(promotion.token, actor=actor)
        Promotion.objects.filter(pk=promotion.pk).update(state=Promotion.State.DELIVERED)
    elif target.url:
        Promotion.objects.filter(pk=promotion.pk).update(
            state=Promotion.State.QUEUED, next_attempt_at=timezone.now()
        )
        work.enqueue("promotions.tasks.deliver", str(promotion.pk))
    record("promotions.bundle.promote", actor=actor, obj=promotion)
    promotion.refresh_from_db()
    return promotion


def post_document(base_url: str, path: str, token: str) -> httpx.Response:
    with make_http_client(url_policy()) as client:
        return client.post(
            base_url.rstrip("/") + path,
            content=token.encode("ascii"),
            headers={"Content-Type": MEDIA_TYPE},
            timeout=30.0,
        )


def deliver(promotion_id: str) -> str:
    """Push one queued bundle to its target's inbox (one worker at a time)."""
    rows = Promotion.objects.filter(state__in=[Promotion.State.QUEUED, Promotion.State.FAILED])
    lease = work.claim(rows, promotion_id, seconds=_claim_seconds())
    if lease is None:
        return "not mine"
    promotion = Promotion.objects.select_related("target").get(pk=promotion_id)
    try:
        response = post_document(promotion.target.url, INBOX_PATH, promotion.token)
        if response.status_code >= 400:
            detail = _detail(response)
            raise PromotionError(f"{promotion.target.name} refused the bundle: {detail}")
    except (httpx.HTTPError, OctopusError, PromotionError) as exc:
        failures = promotion.attempts + 1
        delay = work.backoff(failures, base=30, cap=3600, jitter=0.1)
        work.release(
            Promotion.objects.all(),
            lease,
            state=Promotion.State.FAILED,
            attempts=failures,
            last_error=str(exc)[:2000],
            next_attempt_at=timezone.now() + dt.timedelta(seconds=delay),
        )
        return "failed"
    work.release(
        Promotion.objects.all(),
        lease,
        state=Promotion.State.DELIVERED,
        attempts=promotion.attempts + 1,
        last_error="",
    )
    record("promotions.bundle.delivered", obj=promotion)
    return "delivered"


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
        return str(body.get("message") or body)[:500]
    except ValueError:
        return f"HTTP {response.status_code}"


def send_receipt(receipt_id: str) -> str:
    """Deliver an issued receipt: locally, or to the source ODCM's URL; a peer with neither
    keeps it for export as a file."""
    rows = Receipt.objects.filter(direction=Receipt.Direction.OUT, delivered=False)
    lease = work.claim(rows, receipt_id, seconds=_claim_seconds())
    if lease is None:
        return "not mine"
    receipt = Receipt.objects.select_related("peer").get(pk=receipt_id)
    try:
        if receipt.peer.local_space_id is not None:
            receipts.receive(receipt.token)
        elif receipt.peer.url:
            response = post_document(receipt.peer.url, RECEIPTS_PATH, receipt.token)
            if response.status_code >= 400:
                raise PromotionError(
                    f"{receipt.peer.name} refused the receipt: {_detail(response)}"
                )
        else:
            work.release(Receipt.objects.all(), lease)
            return "air-gapped"
    except (httpx.HTTPError, PromotionError) as exc:
        failures = receipt.attempts + 1
        delay = work.backoff(failures, base=30, cap=3600, jitter=0.1)
        work.release(
            Receipt.objects.all(),
            lease,
            attempts=failures,
            last_error=str(exc)[:2000],
            next_attempt_at=timezone.now() + dt.timedelta(seconds=delay),
        )
        if failures == 1:
            # Counted under the lease: two workers cannot both see the first failure.
            notify.receipt_undelivered(receipt, str(exc)[:500])
        return "failed"
    work.release(Receipt.objects.all(), lease, delivered=True, attempts=receipt.attempts + 1)
    return "delivered"


def sweep() -> int:
    """Beat: queue due bundle and receipt deliveries, and scan target spaces for receipts."""
    now = timezone.now()
    queued = 0
    due = Promotion.objects.filter(
        state__in=[Promotion.State.QUEUED, Promotion.State.FAILED], next_attempt_at__lte=now
    ).filter(work.free(now))
    for pk in due.values_list("pk", flat=True)[:200]:
        work.enqueue("promotions.tasks.deliver", str(pk), on_commit=False)
        queued += 1
    # Imports queued whose worker never started or died (its lease ran out).
    stalled = InboundBundle.objects.filter(state=InboundBundle.State.QUEUED).filter(work.free(now))
    for pk in stalled.values_list("pk", flat=True)[:200]:
        work.enqueue("promotions.tasks.import_bundle", str(pk), on_commit=False)
        queued += 1
    spaces = set(
        InboundBundle.objects.filter(state=InboundBundle.State.IMPORTED).values_list(
            "space_id", flat=True
        )
    )
    for space_id in spaces:
        work.enqueue("promotions.tasks.scan_receipts", str(space_id), on_commit=False)
    pending = (
        Receipt.objects.filter(direction=Receipt.Direction.OUT, delivered=False)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .filter(work.free(now))
        .exclude(peer__local_space__isnull=True, peer__url="")
    )
    for pk in pending.values_list("pk", flat=True)[:200]:
        work.enqueue("promotions.tasks.send_receipt", str(pk), on_commit=False)
        queued += 1
    return queued


def export_packages(promotion: Promotion, folder: Path) -> list[Path]:
    """Write the release's packages beside the bundle (air-gapped): streamed from the source
    feed, each checked against the manifest's SHA-1."""
    _, claims = formats.stored(promotion.token)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    with client_for(promotion.space.instance) as client:
        for pkg in claims.get("packages") or []:
            if pkg.get("feed") != "feeds-builtin":
                continue
            path = folder / f"{pkg['id']}.{pkg['version']}{pkg.get('file_extension', '.zip')}"
            client.download_package(
                promotion.space.octopus_id,
                f"packages-{pkg['id']}.{pkg['version']}",
                path,
                expected_sha1=pkg["sha1"],
            )
            written.append(path)
    return written


def import_archive(
    bundle: InboundBundle, folder: Path, *, lifecycle_id: str = "", actor: Any = None
) -> InboundBundle:
    return importing.import_bundle(
        bundle, importing.archive_source(folder), lifecycle_id=lifecycle_id, actor=actor
    )


def fetch_remote(url: str, space_id: str, *, actor: Any = None) -> Any:
    """The API exchange: read a space's certificate from another ODCM and add it as a remote
    space. Its trusts stay pending until a person confirms the fingerprint read out by the
    other side."""
    try:
        with make_http_client(url_policy()) as client:
            response = client.get(url.rstrip("/") + IDENTITY_PATH.format(space_id), timeout=30.0)
    except httpx.HTTPError as exc:
        raise PromotionError(f"The ODCM at {url} could not be reached: {exc}") from None
    except OctopusError as exc:
        raise PromotionError(str(exc)) from None
    if response.status_code != 200:
        raise PromotionError(
            f"The ODCM at {url} answered {response.status_code}: {_detail(response)}"
        )
    body = response.json()
    return peers.add_remote(
        str(body["name"]),
        certificate=str(body["certificate_pem"]),
        url=url,
        remote_id=str(body["space_id"]),
        actor=actor,
    )
