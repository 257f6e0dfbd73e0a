from typing import Any

from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"

    def ready(self) -> None:
        from monitoring.metrics import collect
        from odcm.metrics import register_collector
        from spaces import signals

        register_collector(collect)
        signals.instance_enlisted.connect(_instance_enlisted, dispatch_uid="monitoring-instance")
        signals.space_enlisted.connect(_space_enlisted, dispatch_uid="monitoring-space")
        signals.instance_page.connect(_instance_page, dispatch_uid="monitoring-instance-page")


def _instance_enlisted(sender: Any, instance_id: Any, **kwargs: Any) -> None:
    """A new instance: check it and backfill its deployments right after the commit."""
    from monitoring.services import on_instance_enlisted

    on_instance_enlisted(instance_id)


def _space_enlisted(sender: Any, space_id: Any, **kwargs: Any) -> None:
    from monitoring.services import on_space_enlisted

    on_space_enlisted(space_id)


def _instance_page(sender: Any, **kwargs: Any) -> Any:
    from monitoring.pages import instance_panels

    return instance_panels(sender, **kwargs)
