"""Monitoring's parts of the one instance page (rendered by the registry's view).

The registry sends ``spaces.signals.instance_page`` while it renders an instance; this
receiver answers with the status history, uptime, version pin, maintenance windows, who gets
alerts and the test-alert button. Their forms post to ``monitoring:instance``.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils import timezone

from identity import access
from monitoring import version_rules
from monitoring.forms import MaintenanceWindowForm, PinForm
from monitoring.models import InstanceMonitor, MaintenanceWindow, StatusFlip, VersionChange
from monitoring.services import alerts, audience, channels, history, queues
from spaces.models import Instance
from spaces.signals import Panel


def instance_panels(
    sender: Any, request: HttpRequest, instance: Instance, **kwargs: Any
) -> list[Panel]:
    monitor = InstanceMonitor.objects.get_or_create(instance=instance)[0]
    can_manage = access.can_manage_instance(request.user, instance)
    listeners = audience.audience(instance)
    allowed = version_rules.rules([instance.pk]).get(instance.pk)
    common = {
        "instance": instance,
        "monitor": monitor,
        "can_manage": can_manage,
        # A pipeline stage's allowed versions replace the pin (monitoring.version_rules).
        "allowed": allowed,
        "off_version": version_rules.off(instance.version, monitor.pinned_version, allowed),
    }
    return [
        Panel(
            "top",
            "monitoring/_instance_status.html",
            {**common, "uptime": history.uptime(instance, 30), "now": timezone.now()},
        ),
        Panel(
            "side",
            "monitoring/_instance_alerts.html",
            {
                **common,
                "listeners": listeners,
                "told": [listener for listener in listeners if listener.receives],
                "channels": channels.listening(instance),
                "is_admin": access.is_admin(request.user),
            },
            order=0,
        ),
        Panel(
            "side",
            "monitoring/_instance_manage.html",
            {
                **common,
                "pin_form": PinForm(initial={"pinned_version": monitor.pinned_version}),
                "window_form": MaintenanceWindowForm(),
                "windows": MaintenanceWindow.objects.filter(instance=instance)[:10],
                "now": timezone.now(),
            },
            order=10,
        ),
        Panel(
            "main",
            "monitoring/_instance_queues.html",
            {
                **common,
                "nodes": list(queues.nodes_of(instance)),
                "queues": queues.queues_of(instance),
            },
            order=-10,
        ),
        Panel(
            "main",
            "monitoring/_instance_history.html",
            {
                **common,
                "flips": StatusFlip.objects.filter(instance=instance)[:30],
                "version_changes": VersionChange.objects.filter(instance=instance)[:10],
                "alerts": alerts.recent_alerts(instance),
            },
        ),
    ]
