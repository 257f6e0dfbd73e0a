"""What people change on monitoring: version pins, maintenance windows, alert settings.

Each change is one transaction, audited, and invalidates the cached dashboard figures.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from audit.services import record
from monitoring.models import AlertSettings, InstanceMonitor, MaintenanceWindow
from monitoring.services import dashboard
from monitoring.services.status import set_pin
from spaces.models import Instance


def monitor_for(instance: Instance) -> InstanceMonitor:
    """The instance's monitoring row, made on first use."""
    return InstanceMonitor.objects.get_or_create(instance=instance)[0]


def pin_version(instance: Instance, version: str, *, request: HttpRequest | None = None) -> None:
    """Pin the version ``instance`` should run (empty: no pin); a change off it alerts."""
    with transaction.atomic():
        before = monitor_for(instance).pinned_version
        set_pin(instance, version)
        dashboard.bump()
        record(
            "monitoring.pin",
            request=request,
            obj=instance,
            before={"pinned_version": before},
            after={"pinned_version": version},
        )


def schedule_window(
    instance: Instance,
    *,
    starts_at: datetime,
    ends_at: datetime,
    reason: str = "",
    actor: Any = None,
    request: HttpRequest | None = None,
) -> MaintenanceWindow:
    """A maintenance window: while it lasts the instance shows (and alerts) as maintenance."""
    with transaction.atomic():
        window = MaintenanceWindow.objects.create(
            instance=instance,
            starts_at=starts_at,
            ends_at=ends_at,
            reason=reason,
            created_by=actor if getattr(actor, "pk", None) else None,
        )
        dashboard.bump()
        record(
            "monitoring.window.create",
            request=request,
            obj=instance,
            after={"starts_at": str(window.starts_at), "ends_at": str(window.ends_at)},
        )
    return window


def end_window(window: MaintenanceWindow, *, request: HttpRequest | None = None) -> bool:
    """End a window now (a window that has not started yet ends one second after its start).
    Returns False if it had already ended."""
    now = timezone.now()
    if window.ends_at <= now:
        return False
    with transaction.atomic():
        window.ends_at = max(now, window.starts_at + timedelta(seconds=1))
        window.save(update_fields=["ends_at"])
        dashboard.bump()
        record("monitoring.window.end", request=request, obj=window.instance)
    return True


def save_alert_settings(form: Any, *, request: HttpRequest | None = None) -> AlertSettings:
    """Save a valid ``AlertSettingsForm`` (the person's own settings) and audit it."""
    with transaction.atomic():
        row: AlertSettings = form.save()
        record("monitoring.alert_settings", request=request, obj=row)
    return row
