"""The instances console: one row per instance with its monitoring figures (uptime over 30
days from the status flips, version pin, failing deliveries), and bulk actions applied one
instance at a time through the existing services, each with its own result.

The console lives in monitoring because its figures do: the registry (spaces) may not import
monitoring. Every row goes through ``Instance.objects.visible_to``; every change through the
registry's or monitoring's service (which audits it) after ``identity.access`` says the user
may manage that instance.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.http import HttpRequest
from django.utils import timezone

from identity import access
from monitoring import version_rules
from monitoring.models import ChannelDelivery, InstanceMonitor, Notification, StatusFlip
from monitoring.services import configuration
from monitoring.services.history import DOWN, UP
from odcm import work
from odcm.errors import ServiceError
from spaces import services as registry
from spaces.models import Instance, Space, Tag

UPTIME_DAYS = 30


def failing_delivery_instances() -> Q:
    """Instances with an alert delivery (email or channel post) that failed and is retrying."""
    failing = Q(state="pending", attempts__gt=0) & ~Q(last_error="")
    return Q(pk__in=Notification.objects.filter(failing).values("alert__instance_id")) | Q(
        pk__in=ChannelDelivery.objects.filter(failing).values("alert__instance_id")
    )


def off_pin_instances() -> Q:
    """Instances whose version differs from their pin, or (in a pipeline stage with a list
    of allowed versions) is not in that list: ``monitoring.version_rules``."""
    return version_rules.off_instances()


def annotated(qs: QuerySet[Instance]) -> QuerySet[Instance]:
    """The console's columns besides the instance's own: spaces enlisted / known."""
    return qs.annotate(
        enlisted=Count("spaces", filter=Q(spaces__state=Space.State.ENLISTED), distinct=True),
        total=Count("spaces", distinct=True),
    ).prefetch_related("tags")


def uptimes(instances: list[Instance], days: int = UPTIME_DAYS) -> dict[Any, float | None]:
    """Share of the known time (neither unknown nor maintenance) each instance was online over
    the last ``days`` days, from its status flips. Two queries for any number of instances."""
    now = timezone.now()
    window = now - timedelta(days=days)
    ids = [i.pk for i in instances]
    # The status each held when the window opened: its last flip before then.
    before = dict(
        Instance.objects.filter(pk__in=ids)
        .annotate(
            held=Subquery(
                StatusFlip.objects.filter(instance_id=OuterRef("pk"), at__lt=window)
                .order_by("-at", "-id")
                .values("to_status")[:1]
            )
        )
        .values_list("pk", "held")
    )
    flips: dict[Any, list[tuple[datetime, str, str]]] = {}
    for instance_id, at, old, new in (
        StatusFlip.objects.filter(instance_id__in=ids, at__gte=window, at__lt=now)
        .order_by("at", "id")
        .values_list("instance_id", "at", "from_status", "to_status")
    ):
        flips.setdefault(instance_id, []).append((at, old, new))
    out: dict[Any, float | None] = {}
    for instance in instances:
        start = max(window, instance.created_at or now)
        mine = [f for f in flips.get(instance.pk, []) if f[0] >= start]
        status = before.get(instance.pk) or (mine[0][1] if mine else instance.status)
        up = down = 0.0
        cursor = start
        for at, _old, new in [*mine, (now, "", "")]:
            seconds = max((at - cursor).total_seconds(), 0.0)
            if status in UP:
                up += seconds
            elif status in DOWN:
                down += seconds
            if new:
                status, cursor = new, max(cursor, at)
        out[instance.pk] = None if not up + down else round(100 * up / (up + down), 2)
    return out


SORTS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "name": lambda r: r["instance"].name.lower(),
    "status": lambda r: r["instance"].status,
    "region": lambda r: r["instance"].region.lower(),
    "version": lambda r: r["instance"].version,
    "spaces": lambda r: r["instance"].enlisted,
    "uptime": lambda r: -1.0 if r["uptime"] is None else r["uptime"],
    "seen": lambda r: r["instance"].last_seen_at or datetime.min.replace(tzinfo=UTC),
}


def rows(qs: QuerySet[Instance], sort: str) -> list[dict[str, Any]]:
    """The console's rows for the (filtered, visible) instances ``qs``, sorted by ``sort``
    (a key of ``SORTS``, ``-`` first for descending). Five queries."""
    instances = list(annotated(qs).order_by("name"))
    pins = dict(
        InstanceMonitor.objects.filter(instance__in=instances).values_list(
            "instance_id", "pinned_version"
        )
    )
    up = uptimes(instances)
    lists = version_rules.rules([i.pk for i in instances])
    out = [
        {
            "instance": i,
            "pinned_version": pins.get(i.pk, ""),
            "allowed": lists.get(i.pk),
            "expected": version_rules.expected(pins.get(i.pk, ""), lists.get(i.pk)),
            "off_pin": version_rules.off(i.version, pins.get(i.pk, ""), lists.get(i.pk)),
            "uptime": up.get(i.pk),
        }
        for i in instances
    ]
    key = sort.lstrip("-")
    if key in SORTS and key != "name":
        out.sort(key=SORTS[key], reverse=sort.startswith("-"))
    elif sort == "-name":
        out.reverse()
    return out


@dataclass
class RowResult:
    instance: str
    ok: bool
    message: str


ACTIONS = {
    "pin": "Set the version pin",
    "window": "Schedule a maintenance window",
    "tags": "Add or remove tags",
    "owners": "Set owners",
    "refresh": "Refresh spaces",
    "rotate": "Rotate API keys",
}


def apply(
    action: str,
    instances: Iterable[Instance],
    data: dict[str, Any],
    *,
    actor: Any,
    request: HttpRequest | None = None,
) -> list[RowResult]:
    """Apply one bulk ``action`` to each instance through its service, each on its own: one
    row failing (not allowed, bad input for that row) changes nothing for that row and does
    not stop the others. ``data`` is the bulk form's cleaned data."""
    results = []
    for instance in instances:
        if not access.can_manage_instance(actor, instance):
            results.append(RowResult(instance.name, False, "You do not manage this instance."))
            continue
        if action == "owners" and not access.is_admin(actor):
            results.append(RowResult(instance.name, False, "Only administrators set owners."))
            continue
        try:
            message = _one(action, instance, data, actor, request)
        except (ServiceError, ValueError) as exc:
            results.append(RowResult(instance.name, False, getattr(exc, "message", str(exc))))
        else:
            results.append(RowResult(instance.name, True, message))
    return results


def _one(action: str, instance: Instance, data: dict[str, Any], actor: Any, request: Any) -> str:
    if action == "pin":
        changed = configuration.pin_version(
            instance, data["pinned_version"], actor=actor, request=request
        )
        pin = data["pinned_version"] or "no pin"
        return f"Pinned to {pin}." if changed else f"Already {pin}; unchanged."
    if action == "window":
        configuration.schedule_window(
            instance, data["starts_at"], data["ends_at"], data["reason"],
            actor=actor, request=request,
        )  # fmt: skip
        return f"Maintenance from {data['starts_at']:%Y-%m-%d %H:%M} UTC."
    if action == "tags":
        current = set(instance.tags.values_list("name", flat=True))
        wanted = (current | set(data["add_tags"])) - set(data["remove_tags"])
        if wanted == current:
            return "Tags unchanged."
        registry.update_instance(instance, tags=sorted(wanted), actor=actor, request=request)
        return f"Tags: {', '.join(sorted(wanted)) or 'none'}."
    if action == "owners":
        registry.update_instance(instance, owners=data["owners"], actor=actor, request=request)
        names = ", ".join(sorted(u.get_username() for u in data["owners"]))
        return f"Owners: {names or 'administrators only'}."
    if action == "rotate":
        return _rotate(instance, data["new_keys"], actor, request)
    if action == "refresh":
        # Reading every space of many servers takes a while: a worker does it, one per instance.
        work.enqueue("spaces.tasks.refresh_instance", str(instance.pk))
        return "Refresh queued."
    raise ValueError(f"Unknown action {action!r}.")


def _rotate(instance: Instance, keys: dict[str, str], actor: Any, request: Any) -> str:
    """The registry's one key rotation (the new key tested against this server, same
    installation, enough permission; the old key kept if anything fails), per instance. No
    message ever carries a key."""
    key = keys.get(instance.name.lower()) or keys.get(instance.base_url.rstrip("/").lower())
    if not key:
        raise ValueError("No new key given for this instance; its key is unchanged.")
    registry.rotate_api_key(instance, key, actor=actor, request=request)
    return "Key replaced after a successful test; revoke the old key in Octopus."


def tag_names() -> list[str]:
    return list(Tag.objects.values_list("name", flat=True))
