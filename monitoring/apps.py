from typing import Any

from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"

    def ready(self) -> None:
        from identity.signals import access_changed
        from monitoring.metrics import collect
        from monitoring.services.retention import prune
        from odcm.metrics import register_collector
        from odcm.retention import register_pruner
        from spaces import signals

        register_collector(collect)
        register_pruner("monitoring", prune)
        signals.instance_enlisted.connect(_instance_enlisted, dispatch_uid="monitoring-instance")
        signals.space_enlisted.connect(_space_enlisted, dispatch_uid="monitoring-space")
        access_changed.connect(_access_changed, dispatch_uid="monitoring-access")
        signals.instance_page.connect(_instance_page, dispatch_uid="monitoring-instance-page")


def _instance_enlisted(sender: Any, instance_id: Any, **kwargs: Any) -> None:
    """A new instance: check it and backfill its deployments right after the commit."""
    from monitoring.services import on_instance_enlisted

    on_instance_enlisted(instance_id)


def _space_enlisted(sender: Any, space_id: Any, **kwargs: Any) -> None:
    from monitoring.services import on_space_enlisted

    on_space_enlisted(space_id)


def _access_changed(sender: Any, **kwargs: Any) -> None:
    """Who may see what changed (a revoke, a deactivation): no one keeps cached figures."""
    from monitoring.services.dashboard import bump

    bump()


def _instance_page(sender: Any, **kwargs: Any) -> Any:
    from monitoring.pages import instance_panels

    return instance_panels(sender, **kwargs)
