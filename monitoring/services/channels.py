"""Alert channels besides email: a generic webhook (JSON, HMAC-SHA256 signed), Slack and
Microsoft Teams incoming webhooks.

Each (alert, channel) pair is one ``ChannelDelivery`` row, planned with the alert's emails and
sent through the same claim, lease and backoff (``outbox``). Every URL passes the outbound-URL
policy when it is saved and again on every connection (redirects are not followed).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
from datetime import datetime
from typing import Any

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse

from audit.services import record
from monitoring.models import Alert, AlertChannel, ChannelDelivery
from monitoring.services import audience, outbox
from monitoring.services.wording import outage_length, subject
from octopus import URLNotAllowed, make_http_client
from odcm.clients import url_policy
from odcm.crypto import seal, unseal

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-ODCM-Signature"
TIMESTAMP_HEADER = "X-ODCM-Timestamp"
COLOURS = {
    "offline": "dc3545",
    "unhealthy": "fd7e14",
    "recovered": "198754",
    "test": "0d6efd",
    "queue": "fd7e14",
    "queue_cleared": "198754",
}


class ChannelError(Exception):
    """A channel cannot be saved; the message names the field and the reason."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


# ------------------------------------------------------------------ configuration


def check_url(url: str) -> str:
    """The URL's scheme and host, if the outbound-URL policy lets ODCM post to it."""
    policy = url_policy()
    try:
        target = policy.check_static(url)
        policy.check(url)
    except URLNotAllowed as exc:
        raise ChannelError("url", f"ODCM may not post to this URL: {exc}") from None
    if target.scheme != "https" and not settings.ODCM_ALLOW_HTTP_INSTANCES:
        raise ChannelError("url", "The URL must use https.")
    return f"{target.scheme}://{target.host}" + (f":{target.port}" if target.port else "")


def create_channel(
    *,
    name: str,
    kind: str,
    url: str,
    secret: str = "",
    events: dict[str, bool] | None = None,
    instances: Any = None,
    actor: Any = None,
    request: Any = None,
) -> tuple[AlertChannel, str]:
    """Save a channel (URL checked against the policy first); returns it and, for a webhook
    saved without a secret, the secret ODCM generated (shown once)."""
    if AlertChannel.objects.filter(name=name).exists():
        raise ChannelError("name", "A channel with this name exists already.")
    host = check_url(url)
    generated = ""
    if kind == AlertChannel.Kind.WEBHOOK and not secret:
        secret = generated = secrets.token_urlsafe(32)
    with transaction.atomic():
        channel = AlertChannel.objects.create(name=name, kind=kind, url_host=host, **(events or {}))
        seal(channel, "url", url)
        if secret:
            seal(channel, "secret", secret)
        channel.save(update_fields=["url", "secret"])
        if instances:
            channel.all_instances = False
            channel.save(update_fields=["all_instances"])
            channel.instances.set(instances)
        record(
            "monitoring.channel.create",
            actor=actor,
            request=request,
            obj=channel,
            after={"kind": kind, "host": host, **(events or {})},
        )
    return channel, generated


def set_enabled(channel: AlertChannel, enabled: bool, *, actor: Any, request: Any) -> None:
    AlertChannel.objects.filter(pk=channel.pk).update(enabled=enabled)
    record(
        "monitoring.channel.enable" if enabled else "monitoring.channel.disable",
        actor=actor,
        request=request,
        obj=channel,
    )


def delete_channel(channel: AlertChannel, *, actor: Any, request: Any) -> None:
    with transaction.atomic():
        record("monitoring.channel.delete", actor=actor, request=request, obj=channel)
        channel.delete()


# ------------------------------------------------------------------ planning


def channels_for(alert: Alert) -> list[AlertChannel]:
    """Enabled channels that want this alert's event for its instance. Kinds without a switch
    of their own map as for email (``audience.EVENT_OF_KIND``: a waiting queue is a kind of
    unhealthiness, its end a kind of recovery). An end (back online, queue moving again) goes
    only to channels that were told about what it ends."""
    event = audience.EVENT_OF_KIND.get(Alert.Kind(alert.kind), str(alert.kind))
    found = listening(alert.instance, event)
    if alert.kind == Alert.Kind.RECOVERED:
        ended = audience.outage_alerts(alert).values("pk")
    elif alert.kind == Alert.Kind.QUEUE_CLEARED:
        # The queue alert this one ends: the latest about the same space.
        ended = (
            Alert.objects.filter(
                space=alert.space_id, kind=Alert.Kind.QUEUE, created_at__lt=alert.created_at
            )
            .order_by("-created_at")[:1]
            .values("pk")
        )
    else:
        return found
    told = set(ChannelDelivery.objects.filter(alert__in=ended).values_list("channel_id", flat=True))
    return [c for c in found if c.pk in told]


def listening(instance: Any, event: str = "offline") -> list[AlertChannel]:
    """Enabled channels an alert of ``event`` about ``instance`` would go to."""
    return [
        c
        for c in AlertChannel.objects.filter(enabled=True)
        .filter(Q(all_instances=True) | Q(instances=instance.pk))
        .distinct()
        if c.wants(event)
    ]


def plan(alert: Alert, now: datetime) -> int:
    """One delivery row per channel for ``alert`` (unique: planning twice adds nothing)."""
    rows = [
        ChannelDelivery(alert=alert, channel=c, next_attempt_at=now) for c in channels_for(alert)
    ]
    ChannelDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


# ------------------------------------------------------------------ sending


def facts(alert: Alert) -> dict[str, Any]:
    """What every channel says about an alert, as JSON-ready values."""
    instance = alert.instance
    down = outage_length(alert)
    return {
        "alert_id": str(alert.pk),
        "event": alert.kind,
        "title": subject(alert),
        "instance": {
            "id": str(instance.pk),
            "name": instance.name,
            "url": instance.base_url,
            "region": instance.region,
            "version": instance.version,
        },
        # Queue alerts are about one space of the instance.
        "space": (
            {"id": str(alert.space.pk), "name": alert.space.name}
            if alert.space_id and alert.space
            else None
        ),
        "status": alert.status,
        "since": alert.since.isoformat(),
        "detail": alert.detail,
        "last_error": alert.last_error,
        "down_for": down,
        "down_for_seconds": (
            int((alert.since - alert.down_since).total_seconds())
            if down and alert.down_since
            else None
        ),
        "link": settings.ODCM_SITE_URL + reverse("spaces:instance", args=[instance.pk]),
    }


def _text(f: dict[str, Any]) -> str:
    lines = [f["title"], f"Status: {f['status']} since {f['since']}"]
    if f["down_for"]:
        lines.append(f"Down for {f['down_for']}")
    if f["detail"]:
        lines.append(f["detail"])
    if f["last_error"]:
        lines.append(f"Last error: {f['last_error']}")
    return "\n".join(lines)


def payload(channel: AlertChannel, f: dict[str, Any]) -> dict[str, Any]:
    """The body each kind of receiver expects."""
    if channel.kind == AlertChannel.Kind.SLACK:
        return {
            "text": f"*{f['title']}*\n{_text(f).split(chr(10), 1)[1]}\n<{f['link']}|Open in ODCM>"
        }
    if channel.kind == AlertChannel.Kind.TEAMS:
        return {
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "summary": f["title"],
            "themeColor": COLOURS.get(f["event"], "6c757d"),
            "title": f["title"],
            "text": _text(f).split("\n", 1)[1].replace("\n", "  \n"),
            "potentialAction": [
                {
                    "@type": "OpenUri",
                    "name": "Open in ODCM",
                    "targets": [{"os": "default", "uri": f["link"]}],
                }
            ],
        }
    return f


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256 over ``<timestamp>.<body>`` (the timestamp is signed so
    a captured request cannot be replayed later unnoticed)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def request_for(delivery: ChannelDelivery) -> tuple[str, bytes, dict[str, str]]:
    channel = delivery.channel
    body = json.dumps(payload(channel, facts(delivery.alert)), sort_keys=True).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "ODCM alerts",
        "X-ODCM-Event": delivery.alert.kind,
        "X-ODCM-Delivery": str(delivery.pk),  # the receiver's key for spotting a repeat
    }
    if channel.kind == AlertChannel.Kind.WEBHOOK and channel.secret:
        timestamp = str(int(time.time()))
        headers[TIMESTAMP_HEADER] = timestamp
        headers[SIGNATURE_HEADER] = signature(unseal(channel, "secret"), timestamp, body)
    return unseal(channel, "url"), body, headers


def send_claimed(delivery: ChannelDelivery) -> bool:
    """Post one claimed delivery; a 2xx is success, anything else is retried with backoff."""
    started = time.perf_counter()
    delivery = ChannelDelivery.objects.select_related("channel", "alert__instance").get(
        pk=delivery.pk
    )
    code: int | None = None
    try:
        url, body, headers = request_for(delivery)
        timeout = httpx.Timeout(float(settings.ODCM_OCTOPUS_READ_TIMEOUT), connect=5.0)
        with make_http_client(url_policy()) as client:
            answer = client.post(url, content=body, headers=headers, timeout=timeout)
        code = answer.status_code
        if not 200 <= code < 300:
            raise RuntimeError(f"the receiver answered {code}")
    except Exception as exc:
        # The message names the host at most: the URL's path is the channel's secret.
        error = f"{type(exc).__name__}: {_safe(str(exc), delivery.channel)}"
        outbox.failed(delivery, started, error, last_status_code=code)
        log.warning("channel %s: delivery %s failed", delivery.channel.name, delivery.pk)
        return False
    outbox.succeeded(delivery, started, last_status_code=code)
    return True


def _safe(text: str, channel: AlertChannel) -> str:
    try:
        url = unseal(channel, "url")
    except Exception:
        return text
    return text.replace(url, channel.url_host + "/…")


def recent(limit: int = 50) -> list[AlertChannel]:
    """Channels with their latest deliveries, for the channels page."""
    out = list(AlertChannel.objects.prefetch_related("instances").order_by("name"))
    latest: dict[Any, list[ChannelDelivery]] = {}
    rows = ChannelDelivery.objects.select_related("alert__instance").order_by("-created_at")
    for row in rows[:limit]:
        latest.setdefault(row.channel_id, []).append(row)
    for channel in out:
        channel.latest = latest.get(channel.pk, [])[:5]  # type: ignore[attr-defined]
    return out
