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
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from identity.models import User
from monitoring.models import Alert, AlertSettings, Notification
from odcm import work
from odcm.mail import header_text
from spaces.models import Instance

log = logging.getLogger(__name__)

SUBJECTS = {
    Alert.Kind.OFFLINE: "{name} is offline",
    Alert.Kind.UNHEALTHY: "{name} is unhealthy",
    Alert.Kind.RECOVERED: "{name} is back online",
    Alert.Kind.VERSION: "{name} changed version unexpectedly",
    Alert.Kind.REMINDER: "{name} is still {status}",
}


def recipients(alert: Alert) -> list[User]:
    """Owners (unless they opted out) and users who subscribed, if they want this event
    and may see the instance."""
    instance = alert.instance
    kind = "reminder" if alert.kind == Alert.Kind.REMINDER else str(alert.kind)
    owners = set(instance.owners.filter(is_active=True).values_list("pk", flat=True))
    chosen = Q(alert_settings__all_instances=True) | Q(alert_settings__instances=instance)
    candidates = User.objects.filter(Q(pk__in=owners) | chosen, is_active=True).distinct()
    prefs = {s.user_id: s for s in AlertSettings.objects.filter(user__in=candidates)}
    out: list[User] = []
    for user in candidates.order_by("pk"):
        pref = prefs.get(user.pk) or AlertSettings(user=user)
        subscribed = (
            (user.pk in owners and pref.owned_instances)
            or pref.all_instances
            or (pref.pk is not None and pref.instances.filter(pk=instance.pk).exists())
        )
        if not (subscribed and pref.wants(kind) and user.email):
            continue
        if Instance.objects.visible_to(user).filter(pk=instance.pk).exists():
            out.append(user)
    return out


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
            alert.state = Alert.State.PLANNED
            alert.save(update_fields=["state"])
            planned += 1
    return planned


def claim_next() -> Notification | None:
    """Claim one due notification with a lease; None when nothing is due. Due: pending and
    its time has come, or "sending" by a worker whose lease ran out (it died)."""
    now = timezone.now()
    due = Notification.objects.filter(
        Q(state=Notification.State.PENDING, next_attempt_at__lte=now)
        | Q(state=Notification.State.SENDING)
    )
    lease = work.claim_next(
        due,
        order_by="next_attempt_at",
        seconds=settings.ODCM_ALERT_LEASE_SECONDS,
        now=now,
        state=Notification.State.SENDING,
        attempts=F("attempts") + 1,
    )
    return None if lease is None else Notification.objects.get(pk=lease.pk)


def backoff_seconds(attempts: int) -> float:
    return work.backoff(attempts, base=5, cap=settings.ODCM_ALERT_RETRY_MAX_SECONDS)


def render_email(notification: Notification) -> EmailMultiAlternatives:
    alert = Alert.objects.select_related("instance", "version_change").get(pk=notification.alert_id)
    instance = alert.instance
    link = settings.ODCM_SITE_URL + reverse("monitoring:instance", args=[instance.slug])
    context: dict[str, Any] = {
        "alert": alert,
        "instance": instance,
        "link": link,
        "status": alert.get_status_display(),
        "kind": alert.get_kind_display(),
    }
    subject = header_text(
        "[ODCM] " + SUBJECTS[Alert.Kind(alert.kind)].format(name=instance.name, status=alert.status)
    )
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
    if notification.claim_token is None or notification.claimed_until is None:
        raise ValueError("send_claimed() takes a notification from claim_next()")
    lease = work.Lease(notification.pk, notification.claim_token, notification.claimed_until)
    rows = Notification.objects.all()
    try:
        email = render_email(notification)
        connection = get_connection(fail_silently=False)
        email.connection = connection
        email.send(fail_silently=False)
    except Exception as exc:
        wait = backoff_seconds(notification.attempts)
        work.release(
            rows,
            lease,
            state=Notification.State.PENDING,
            next_attempt_at=timezone.now() + timedelta(seconds=wait),
            last_error=f"{type(exc).__name__}: {exc}"[:1000],
            last_duration_ms=int((time.perf_counter() - started) * 1000),
        )
        log.warning("alert email %s failed (attempt %s)", notification.pk, notification.attempts)
        return False
    work.release(
        rows,
        lease,
        state=Notification.State.SENT,
        sent_at=timezone.now(),
        last_error="",
        last_duration_ms=int((time.perf_counter() - started) * 1000),
    )
    return True


def dispatch(max_seconds: float = 120.0) -> dict[str, int]:
    """Plan new alerts and send every due notification (until none is due or time is up)."""
    deadline = time.monotonic() + max_seconds
    planned = plan_alerts()
    sent = failed = 0
    while time.monotonic() < deadline:
        row = claim_next()
        if row is None:
            break
        if send_claimed(row):
            sent += 1
        else:
            failed += 1
    return {"planned": planned, "sent": sent, "failed": failed}


def pending_count() -> int:
    return Notification.objects.exclude(state=Notification.State.SENT).count()


def settings_for(user: User) -> AlertSettings:
    return AlertSettings.objects.get_or_create(user=user)[0]


def subscribable_instances(user: User) -> Any:
    return Instance.objects.visible_to(user).order_by("name")
