"""Who is told about an instance's alerts, and why (or why not).

One rule feeds both the alert planner and the instance page, so what the page says is what
happens: instance owners, administrators (unless they opted out) and people who subscribed
to every instance or to this one, if they want the event, have an email address and may
see the instance.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Q, QuerySet

from identity.models import User
from monitoring.models import Alert, AlertSettings
from spaces.models import Instance

# A test alert reaches whoever would hear that the instance went offline.
# Kinds without a preference of their own: a waiting queue is a kind of unhealthiness, its
# end a kind of recovery.
EVENT_OF_KIND = {
    Alert.Kind.TEST: "offline",
    Alert.Kind.REMINDER: "reminder",
    Alert.Kind.QUEUE: "unhealthy",
    Alert.Kind.QUEUE_CLEARED: "recovered",
}


@dataclass
class Listener:
    """One person who is, or could have been, told about an instance's alerts."""

    user: User
    reasons: list[str] = field(default_factory=list)
    why_not: str = ""
    events: list[str] = field(default_factory=list)

    @property
    def receives(self) -> bool:
        return bool(self.reasons) and not self.why_not


def _reasons(user: User, pref: AlertSettings, owner: bool, chosen: bool) -> tuple[list[str], str]:
    """Why ``user`` is on the list, and the opt-out that took them off (if any)."""
    reasons: list[str] = []
    opted_out: list[str] = []
    if owner:
        (reasons if pref.owned_instances else opted_out).append("owner")
    if user.is_superuser:
        (reasons if pref.as_administrator else opted_out).append("administrator")
    if pref.all_instances:
        reasons.append("subscribed to every instance")
    if chosen:
        reasons.append("subscribed to this instance")
    why_not = "" if reasons else "opted out (" + ", ".join(opted_out) + ")"
    return reasons, why_not


def audience(instance: Instance, kind: str = Alert.Kind.OFFLINE) -> list[Listener]:
    """Everyone with a reason to hear about ``instance``, each saying whether an alert of
    ``kind`` reaches them and why. Four queries, plus one visibility check per candidate who
    is not an administrator (owners and subscribers: a handful per instance)."""
    event = EVENT_OF_KIND.get(Alert.Kind(kind), str(kind))
    owners = set(instance.owners.filter(is_active=True).values_list("pk", flat=True))
    chosen_ids = set(
        AlertSettings.objects.filter(instances=instance.pk).values_list("user_id", flat=True)
    )
    candidates = list(
        User.objects.filter(
            Q(pk__in=owners)
            | Q(is_superuser=True)
            | Q(alert_settings__all_instances=True)
            | Q(pk__in=chosen_ids),
            is_active=True,
        )
        .distinct()
        .order_by("username")
    )
    prefs = {s.user_id: s for s in AlertSettings.objects.filter(user__in=candidates)}
    visible = {
        user.pk
        for user in candidates
        if user.is_superuser or Instance.objects.visible_to(user).filter(pk=instance.pk).exists()
    }
    out: list[Listener] = []
    for user in candidates:
        pref = prefs.get(user.pk) or AlertSettings(user=user)
        reasons, why_not = _reasons(user, pref, user.pk in owners, user.pk in chosen_ids)
        listener = Listener(user=user, reasons=reasons, why_not=why_not)
        listener.events = [
            label for name, label in EVENT_LABELS if getattr(pref, f"on_{name}", False)
        ]
        if not listener.why_not:
            if user.pk not in visible:
                listener.why_not = "cannot see this instance"
            elif not pref.wants(event):
                listener.why_not = f"turned off {dict(EVENT_LABELS)[event].lower()} alerts"
            elif not user.email:
                listener.why_not = "has no email address"
        out.append(listener)
    return out


EVENT_LABELS = [
    ("offline", "Offline"),
    ("unhealthy", "Unhealthy"),
    ("recovered", "Back online"),
    ("version", "Unexpected version"),
    ("reminder", "Reminders"),
]


DOWN_KINDS = (Alert.Kind.OFFLINE, Alert.Kind.UNHEALTHY, Alert.Kind.REMINDER)


def outage_alerts(alert: Alert) -> QuerySet[Alert]:
    """The alerts raised about the outage a recovery ``alert`` ends: whoever got one of them
    was told about it (and only they hear of the recovery)."""
    outage = Alert.objects.filter(
        instance=alert.instance_id, kind__in=DOWN_KINDS, created_at__lt=alert.created_at
    )
    if alert.down_since is not None:
        outage = outage.filter(since__gte=alert.down_since)
    return outage


def recipients(instance: Instance, kind: str) -> list[User]:
    return [listener.user for listener in audience(instance, kind) if listener.receives]


def fleet_has_listeners() -> bool:
    """True if at least one active person with an email address would hear of an outage
    somewhere: an administrator who kept the default, or any instance owner. (The first-run
    checklist asks this; it is deliberately coarse.)"""
    admins = User.objects.filter(is_active=True, is_superuser=True).exclude(email="")
    if (
        admins.exclude(alert_settings__as_administrator=False)
        .exclude(alert_settings__on_offline=False)
        .exists()
    ):
        return True
    owners = User.objects.filter(is_active=True, owned_instances__isnull=False).exclude(email="")
    return owners.exclude(alert_settings__owned_instances=False).exists()
