"""Drift: compare each subscribed copy in Octopus with the revision ODCM delivered.

A changed copy is marked drifted with its differences. Automatic subscriptions (and every
subscription of a push item) get the revision re-applied when ``ODCM_SHARING_DRIFT_REAPPLY`` is
on; on-demand subscriptions are only reported.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.services import record
from octopus import OctopusError
from odcm.clients import client_for
from odcm.crypto import CryptoError
from sharing.kinds import CountingClient, kind_for
from sharing.models import Delivery, Revision, Subscription
from sharing.services.copies import classify, shared_http, target_for
from sharing.services.queueing import queue

logger = logging.getLogger("sharing.drift")

CHECKED = [
    Subscription.Status.IN_SYNC,
    Subscription.Status.UPDATE_AVAILABLE,
    Subscription.Status.DRIFTED,
]


def candidates() -> list[str]:
    return [
        str(pk)
        for pk in Subscription.objects.filter(
            status__in=CHECKED, delivered_revision__isnull=False
        ).values_list("pk", flat=True)
    ]


def check(sub_id: str) -> str:
    """Check one copy. Returns "clean", "drifted", "reapplying", "skipped" or "error"."""
    sub = (
        Subscription.objects.select_related("item__publisher__instance", "space__instance")
        .filter(pk=sub_id, status__in=CHECKED, delivered_revision__isnull=False)
        .first()
    )
    if sub is None:
        return "skipped"
    revision = Revision.objects.filter(item=sub.item, number=sub.delivered_revision or 0).first()
    if revision is None:
        return "skipped"
    try:
        with client_for(sub.space.instance, http=shared_http()) as client:
            inspection = kind_for(sub.item.kind).inspect(
                CountingClient(client), target_for(sub), revision.content
            )
    except (OctopusError, CryptoError) as exc:
        logger.info("drift check of subscription %s failed: %s", sub.pk, classify(exc)[0])
        return "error"
    now = timezone.now()
    untouched = Subscription.objects.filter(
        pk=sub.pk, status__in=CHECKED, delivered_revision=sub.delivered_revision
    ).filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
    if not inspection.differences:
        back = (
            Subscription.Status.UPDATE_AVAILABLE
            if sub.update_available and sub.effective_mode == Subscription.Mode.ON_DEMAND
            else Subscription.Status.IN_SYNC
        )
        untouched.filter(status=Subscription.Status.DRIFTED).update(status=back, drift=[])
        untouched.update(drift_checked_at=now)
        return "clean"
    with transaction.atomic():
        changed = untouched.update(
            status=Subscription.Status.DRIFTED, drift=inspection.differences, drift_checked_at=now
        )
        if not changed:
            return "skipped"  # a delivery started meanwhile
        if sub.status != Subscription.Status.DRIFTED:
            record(
                "sharing.drift.detected",
                obj=sub,
                after={"differences": inspection.differences[:50]},
            )
        automatic = sub.effective_mode == Subscription.Mode.AUTOMATIC
        if automatic and settings.ODCM_SHARING_DRIFT_REAPPLY:
            queue([sub.pk], sub.delivered_revision or 0, Delivery.Trigger.DRIFT, force=True)
            return "reapplying"
    return "drifted"
