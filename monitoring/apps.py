from typing import Any

from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"

    def ready(self) -> None:
        from monitoring.metrics import collect
        from monitoring.services.retention import prune
        from odcm.metrics import register_collector
        from odcm.retention import register_pruner
        from spaces import signals

        register_collector(collect)
        register_pruner("monitoring", prune)
        signals.instance_enlisted.connect(_instance_enlisted, dispatch_uid="monitoring-instance")
        signals.space_enlisted.connect(_space_enlisted, dispatch_uid="monitoring-space")


def _instance_enlisted(sender: Any, instance_id: Any, **kwargs: Any) -> None:
    """A new instance: check it and backfill its deployments right after the commit."""
    from monitoring.services import on_instance_enlisted

    on_instance_enlisted(instance_id)


def _space_enlisted(sender: Any, space_id: Any, **kwargs: Any) -> None:
    from monitoring.services import on_space_enlisted

    on_space_enlisted(space_id)
