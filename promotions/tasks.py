"""Celery tasks: thin wrappers taking ids; the logic is in promotions.services."""

from __future__ import annotations

from celery import shared_task

from promotions.models import Receipt
from promotions.services import edits, importing, receipts, transfer
from spaces.models import Space


@shared_task(time_limit=300, soft_time_limit=290, acks_late=True)
def deliver(promotion_id: str) -> str:
    return transfer.deliver(promotion_id)


@shared_task(time_limit=300, soft_time_limit=290, acks_late=True)
def send_receipt(receipt_id: str) -> str:
    return transfer.send_receipt(receipt_id)


@shared_task(time_limit=300, soft_time_limit=290, acks_late=True)
def scan_receipts(space_id: str) -> int:
    space = Space.objects.filter(pk=space_id).select_related("instance").first()
    if space is None:
        return 0
    made = receipts.scan(space)
    for receipt in made:
        if receipt.direction == Receipt.Direction.OUT:
            send_receipt.delay(str(receipt.pk))
    return len(made)


@shared_task(time_limit=6 * 3600, soft_time_limit=6 * 3600 - 60, acks_late=True)
def import_bundle(bundle_id: str) -> str:
    """Import a queued bundle (its packages can be gigabytes: a long limit; the lease is
    extended after each package)."""
    return importing.run_queued(bundle_id)


@shared_task(time_limit=120, soft_time_limit=110)
def sweep() -> int:
    """Periodic: re-queue due deliveries, scan imported releases for receipts."""
    return transfer.sweep()


@shared_task(time_limit=60, soft_time_limit=50)
def check_edits_all() -> int:
    """Periodic: one edit check per imported project (its newest bundle)."""
    ids = edits.candidates()
    for bundle_id in ids:
        check_edits.delay(bundle_id)
    return len(ids)


@shared_task(time_limit=120, soft_time_limit=110, acks_late=True)
def check_edits(bundle_id: str) -> str:
    return edits.check(bundle_id)
