"""Emails to the publisher's owners when a subscription keeps failing, and when it recovers.

Each alert is claimed with a conditional UPDATE on ``alert_sent_at``, so two schedulers or a
repeated task never send it twice.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from odcm.mail import header_text
from sharing.models import Subscription

logger = logging.getLogger("sharing.alerts")


def _recipients(sub: Subscription) -> list[str]:
    owners = sub.item.publisher.instance.owners.filter(is_active=True).exclude(email="")
    return sorted({u.email for u in owners})


def _send(sub: Subscription, template: str, subject: str) -> None:
    recipients = _recipients(sub)
    if not recipients:
        return
    context = {
        "sub": sub,
        "url": settings.ODCM_SITE_URL + reverse("sharing:item", args=[sub.item_id]),
        "minutes": settings.ODCM_SHARING_FAILURE_ALERT_MINUTES,
    }
    body = render_to_string(f"emails/sharing_{template}.txt", context)
    send_mail(header_text(subject), body, None, recipients)


def check_failures(now: datetime | None = None) -> int:
    """Alert once for every subscription failing longer than the configured minutes."""
    now = now or timezone.now()
    threshold = now - timedelta(minutes=settings.ODCM_SHARING_FAILURE_ALERT_MINUTES)
    due = Subscription.objects.filter(
        failing_since__lte=threshold, alert_sent_at__isnull=True
    ).exclude(status=Subscription.Status.UNMANAGED)
    sent = 0
    for sub in due.select_related("item__publisher__instance", "space__instance"):
        mine = Subscription.objects.filter(pk=sub.pk, alert_sent_at__isnull=True)
        if not mine.update(alert_sent_at=now):
            continue  # another scheduler sent it
        try:
            _send(sub, "failing", f"[ODCM] Sharing {sub.item.name} to {sub.space.name} is failing")
        except Exception:
            # One message that cannot be sent (SMTP down, a refused address) neither stops
            # the others nor is lost: the claim is given back and the next sweep tries again.
            Subscription.objects.filter(pk=sub.pk, alert_sent_at=now).update(alert_sent_at=None)
            logger.warning("sharing failure email for %s not sent", sub.pk, exc_info=True)
            continue
        sent += 1
    return sent


def send_recovery(sub_id: str) -> None:
    sub = (
        Subscription.objects.select_related("item__publisher__instance", "space__instance")
        .filter(pk=sub_id)
        .first()
    )
    if sub is None:
        return
    try:
        _send(sub, "recovered", f"[ODCM] Sharing {sub.item.name} to {sub.space.name} recovered")
    except Exception:
        # Runs after a delivery committed: a lost "recovered" note must not fail the delivery.
        logger.warning("sharing recovery email for %s not sent", sub.pk, exc_info=True)
