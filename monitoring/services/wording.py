"""What alerts say: subjects and the length of an outage, shared by email and channels."""

from __future__ import annotations

from monitoring.models import Alert

SUBJECTS = {
    Alert.Kind.OFFLINE: "{name} is offline",
    Alert.Kind.UNHEALTHY: "{name} is unhealthy",
    Alert.Kind.RECOVERED: "{name} is back online",
    Alert.Kind.VERSION: "{name} changed version unexpectedly",
    Alert.Kind.REMINDER: "{name} is still {status}",
    Alert.Kind.TEST: "Test alert for {name}",
    Alert.Kind.QUEUE: "Tasks are waiting in the queue of {space} on {name}",
    Alert.Kind.QUEUE_CLEARED: "The queue of {space} on {name} is moving again",
}


def outage_length(alert: Alert) -> str:
    """How long the instance was down, for a recovery ("" for other alerts)."""
    if alert.kind != Alert.Kind.RECOVERED or alert.down_since is None:
        return ""
    return duration_text((alert.since - alert.down_since).total_seconds())


def duration_text(seconds: float) -> str:
    """2 d 3 h, 1 h 5 min, 4 min 10 s, 12 s: the two largest units that matter."""
    total = max(0, int(seconds))
    parts = [(total // 86400, "d"), (total % 86400 // 3600, "h"), (total % 3600 // 60, "min")]
    parts.append((total % 60, "s"))
    shown = [f"{value} {unit}" for value, unit in parts if value]
    return " ".join(shown[:2]) or "0 s"


def subject(alert: Alert) -> str:
    """The alert's one-line title (email subject, channel title)."""
    space = alert.space.name if alert.space_id and alert.space else ""
    return SUBJECTS[Alert.Kind(alert.kind)].format(
        name=alert.instance.name, status=alert.status, space=space
    )
