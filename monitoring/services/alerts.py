"""Alert delivery: plan one Notification per recipient, then send each exactly once.

* Planning claims a NEW alert with ``SELECT … FOR UPDATE SKIP LOCKED``; the recipients'
  rows are unique per (alert, user), so planning twice cannot double them.
* Sending claims a due row (pending, or "sending" whose lease has run out because its
  worker died) with a lease (``odcm.work``), sends, then records the outcome only if
  the lease is still ours. SMTP failures reschedule with exponential backoff, forever.
* Every email carries a Message-ID derived from the notification id: the rare duplicate
  (crash after the SMTP server accepted, before the row was written) is recognisable.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from audit.services import record
from identity.models import User
from monitoring.models import Alert, AlertSettings, ChannelDelivery, Notification
from monitoring.services import audience, channels, outbox, wording
from monitoring.services.wording import outage_length
from odcm import work
from odcm.mail import header_text
from spaces.models import Instance

log = logging.getLogger(__name__)


def recipients(alert: Alert) -> list[User]:
    """Who gets ``alert``: the instance's audience for its kind (see ``audience``). A recovery
    goes only to people who were told about the outage it ends: none told, none sent."""
    users = audience.recipients(alert.instance, alert.kind)
    if alert.kind == Alert.Kind.QUEUE_CLEARED:
        # The queue alert this one ends (the latest about the same space).
        ended = Alert.objects.filter(
            space=alert.space_id, kind=Alert.Kind.QUEUE, created_at__lt=alert.created_at
        ).order_by("-created_at")[:1]
    elif alert.kind == Alert.Kind.RECOVERED:
        ended = audience.outage_alerts(alert)
    else:
        return users
    outage = ended.values("pk")
    told = set(Notification.objects.filter(alert__in=outage).values_list("user_id", flat=True))
    return [user for user in users if user.pk in told]


def message_id(notification_id: uuid.UUID) -> str:
    host = urlsplit(settings.ODCM_SITE_URL).hostname or "odcm.localhost"
    return f"<odcm-alert.{notification_id}@{host}>"


def plan_alerts(limit: int = 200) -> int:
    planned = 0
    for alert_id in Alert.objects.filter(state=Alert.State.NEW).values_list("pk", flat=True)[
        :limit
    ]:
        with transaction.atomic():
            alert = (
                Alert.objects.select_for_update(skip_locked=True)
                .filter(pk=alert_id, state=Alert.State.NEW)
                .select_related("instance")
                .first()
            )
            if alert is None:
                continue
            now = timezone.now()
            rows = []
            for user in recipients(alert):
                nid = uuid.uuid4()
                rows.append(
                    Notification(
                        id=nid,
                        alert=alert,
                        user=user,
                        email=user.email,
                        next_attempt_at=now,
                        message_id=message_id(nid),
                    )
                )
            Notification.objects.bulk_create(rows, ignore_conflicts=True)
            channels.plan(alert, now)
            alert.state = Alert.State.PLANNED
            alert.save(update_fields=["state"])
            planned += 1
    return planned


def claim_next() -> Notification | None:
    """Claim one due email with a lease; None when nothing is due."""
    return outbox.claim_next(Notification)


def backoff_seconds(attempts: int) -> float:
    return outbox.backoff_seconds(attempts)


def render_email(notification: Notification) -> EmailMultiAlternatives:
    alert = Alert.objects.select_related("instance", "version_change", "space").get(
        pk=notification.alert_id
    )
    instance = alert.instance
    link = settings.ODCM_SITE_URL + reverse("spaces:instance", args=[instance.pk])
    context: dict[str, Any] = {
        "alert": alert,
        "instance": instance,
        "link": link,
        "status": alert.get_status_display(),
        "kind": alert.get_kind_display(),
        "down_for": outage_length(alert),
        "site_url": settings.ODCM_SITE_URL,
    }
    subject = header_text("[ODCM] " + wording.subject(alert))
    email = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("emails/monitoring_alert.txt", context),
        to=[notification.email],
        headers={"Message-ID": notification.message_id, "X-ODCM-Alert": str(alert.pk)},
    )
    email.attach_alternative(render_to_string("emails/monitoring_alert.html", context), "text/html")
    return email


def send_claimed(notification: Notification) -> bool:
    started = time.perf_counter()
    try:
        email = render_email(notification)
        connection = get_connection(fail_silently=False)
        email.connection = connection
        email.send(fail_silently=False)
    except Exception as exc:
        outbox.failed(notification, started, f"{type(exc).__name__}: {exc}")
        log.warning("alert email %s failed (attempt %s)", notification.pk, notification.attempts)
        return False
    outbox.succeeded(notification, started)
    return True


def dispatch(max_seconds: float = 120.0) -> dict[str, int]:
    """Plan new alerts and send every due email and channel post (until none is due or time
    is up)."""
    deadline = time.monotonic() + max_seconds
    planned = plan_alerts()
    sent = failed = 0
    emails_left = posts_left = True
    while (emails_left or posts_left) and time.monotonic() < deadline:
        if emails_left:
            row = claim_next()
            emails_left = row is not None
            if row is not None:
                sent, failed = (sent + 1, failed) if send_claimed(row) else (sent, failed + 1)
        if posts_left:
            post = outbox.claim_next(ChannelDelivery)
            posts_left = post is not None
            if post is not None:
                ok = channels.send_claimed(post)
                sent, failed = (sent + 1, failed) if ok else (sent, failed + 1)
    return {"planned": planned, "sent": sent, "failed": failed}


def pending_count() -> int:
    return Notification.objects.exclude(state=Notification.State.SENT).count()


def send_test_alert(instance: Instance, actor: User, request: Any = None) -> Alert:
    """Raise a test alert for ``instance``: planned and sent through the same path as a real
    one (to whoever would hear that it went offline), and audited."""
    with transaction.atomic():
        alert = Alert.objects.create(
            instance=instance,
            kind=Alert.Kind.TEST,
            status=instance.status,
            since=timezone.now(),
            detail=f"test alert requested by {actor.get_username()}",
            requested_by=actor,
        )
        told = [user.get_username() for user in audience.recipients(instance, Alert.Kind.TEST)]
        record(
            "monitoring.alert.test",
            request=request,
            actor=actor,
            obj=instance,
            after={"alert": str(alert.pk), "recipients": told},
        )
        dispatch_on_commit()
    return alert


def dispatch_on_commit() -> None:
    """Send what was just raised as soon as the transaction commits (beat also sweeps)."""
    work.enqueue("monitoring.tasks.dispatch_alerts")


def recent_alerts(instance: Instance, limit: int = 10) -> list[Alert]:
    """The instance's latest alerts with their notifications (two queries)."""
    return list(
        Alert.objects.filter(instance=instance)
        .prefetch_related("notifications", "channel_deliveries__channel")
        .order_by("-created_at")[:limit]
    )


def settings_for(user: User) -> AlertSettings:
    return AlertSettings.objects.get_or_create(user=user)[0]


def subscribable_instances(user: User) -> Any:
    return Instance.objects.visible_to(user).order_by("name")
