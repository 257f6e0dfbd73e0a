"""Writes to monitoring's per-instance and per-user settings, audited (pages, API and
configuration as code all come here)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from audit.services import record
from monitoring.models import AlertSettings, InstanceMonitor, MaintenanceWindow
from monitoring.services import stamp
from monitoring.services.status import set_pin
from spaces.models import Instance


def monitor_for(instance: Instance) -> InstanceMonitor:
    """The instance's monitoring row, made on first use."""
    return InstanceMonitor.objects.get_or_create(instance=instance)[0]


def pin_version(
    instance: Instance, version: str, *, actor: Any = None, request: HttpRequest | None = None
) -> bool:
    """Expect ``version`` on ``instance`` ('' unpins). False: it was already so."""
    monitor = InstanceMonitor.objects.get_or_create(instance=instance)[0]
    version = version.strip()
    if monitor.pinned_version == version:
        return False
    with transaction.atomic():
        set_pin(instance, version)
        record(
            "monitoring.pin",
            actor=actor,
            request=request,
            obj=instance,
            before={"pinned_version": monitor.pinned_version},
            after={"pinned_version": version},
        )
    stamp.bump()
    return True


def schedule_window(
    instance: Instance,
    starts_at: datetime,
    ends_at: datetime,
    reason: str = "",
    *,
    actor: Any = None,
    request: HttpRequest | None = None,
) -> MaintenanceWindow:
    if ends_at <= starts_at:
        raise ValueError("The window must end after it starts.")
    with transaction.atomic():
        window = MaintenanceWindow.objects.create(
            instance=instance,
            starts_at=starts_at,
            ends_at=ends_at,
            reason=reason[:200],
            created_by=actor if getattr(actor, "pk", None) else None,
        )
        record(
            "monitoring.window.create",
            actor=actor,
            request=request,
            obj=instance,
            after={"starts_at": str(starts_at), "ends_at": str(ends_at)},
        )
    stamp.bump()
    return window


def end_window(
    window: MaintenanceWindow, *, actor: Any = None, request: HttpRequest | None = None
) -> None:
    """End a window now (one that has not started yet is removed)."""
    now = timezone.now()
    with transaction.atomic():
        if window.starts_at > now:
            window.delete()
        elif window.ends_at > now:
            window.ends_at = max(now, window.starts_at + timedelta(seconds=1))
            window.save(update_fields=["ends_at"])
        else:
            return
        record("monitoring.window.end", actor=actor, request=request, obj=window.instance)
    stamp.bump()


def save_alert_settings(
    user: Any,
    *,
    flags: dict[str, bool],
    instances: Iterable[Instance] | None = None,
    actor: Any = None,
    request: HttpRequest | None = None,
) -> AlertSettings:
    """Set a user's alert choices (``flags``: AlertSettings' boolean fields)."""
    with transaction.atomic():
        row = AlertSettings.objects.get_or_create(user=user)[0]
        for name, value in flags.items():
            if not isinstance(getattr(AlertSettings._meta.get_field(name), "default", None), bool):
                raise ValueError(f"{name} is not an alert setting.")
            setattr(row, name, value)
        row.save()
        if instances is not None:
            row.instances.set(list(instances))
        record(
            "monitoring.alert_settings", actor=actor, request=request, obj=row, after=dict(flags)
        )
    return row
