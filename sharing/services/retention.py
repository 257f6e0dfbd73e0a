"""Pruning delivery history: finished deliveries older than ``ODCM_RETENTION_DELIVERY_DAYS``.

A running delivery is never touched, and each subscription keeps its newest delivery so its
page still shows the last attempt however old it is.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db.models import OuterRef, Subquery

from odcm.retention import cutoff, delete_in_batches
from sharing.models import Delivery


def prune(now: datetime) -> dict[str, int]:
    before = cutoff(now, settings.ODCM_RETENTION_DELIVERY_DAYS)
    if before is None:
        return {}
    newest = (
        Delivery.objects.filter(subscription=OuterRef("subscription"))
        .order_by("-started_at", "-pk")
        .values("pk")[:1]
    )
    old = (
        Delivery.objects.filter(started_at__lt=before)
        .exclude(outcome=Delivery.Outcome.RUNNING)
        .exclude(pk=Subquery(newest))
    )
    return {"deliveries": delete_in_batches(old)}
