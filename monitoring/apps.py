from typing import Any

from django.apps import AppConfig
from django.db import transaction
from django.db.models.signals import post_delete, post_save


class MonitoringConfig(AppConfig):
    name = "monitoring"

    def ready(self) -> None:
        from identity.signals import access_changed
        from monitoring.metrics import collect
        from monitoring.services.retention import prune
        from odcm.metrics import register_collector
        from odcm.retention import register_pruner
        from spaces import signals
        from spaces.models import Instance

        register_collector(collect)
        register_pruner("monitoring", prune)
        signals.instance_enlisted.connect(_instance_enlisted, dispatch_uid="monitoring-instance")
        signals.space_enlisted.connect(_space_enlisted, dispatch_uid="monitoring-space")
        access_changed.connect(_access_changed, dispatch_uid="monitoring-access")
        signals.instance_page.connect(_instance_page, dispatch_uid="monitoring-instance-page")
        post_save.connect(_instance_edited, sender=Instance, dispatch_uid="monitoring-edit")
        post_delete.connect(_instance_edited, sender=Instance, dispatch_uid="monitoring-delete")
        signals.instance_labels_changed.connect(_instance_edited, dispatch_uid="monitoring-labels")


def _instance_enlisted(sender: Any, instance_id: Any, **kwargs: Any) -> None:
    """A new instance: check it and backfill its deployments right after the commit."""
    from monitoring.services import on_instance_enlisted

    on_instance_enlisted(instance_id)


def _space_enlisted(sender: Any, space_id: Any, **kwargs: Any) -> None:
    from monitoring.services import on_space_enlisted

    on_space_enlisted(space_id)


# An inventory refresh's bookkeeping is not an edit anyone sees on the dashboard.
_NOT_SHOWN = frozenset({"version", "spaces_refreshed_at", "updated_at", "last_seen_at"})


def _instance_edited(sender: Any, update_fields: Any = None, **kwargs: Any) -> None:
    """An instance renamed, moved to another region, re-tagged or removed in the registry:
    cached dashboard figures go once it commits (sweeps write with ``update()``: no signal)."""
    if update_fields is not None and set(update_fields) <= _NOT_SHOWN:
        return
    from monitoring.services.stamp import bump

    transaction.on_commit(bump)


def _access_changed(sender: Any, **kwargs: Any) -> None:
    """Who may see what changed (a revoke, a deactivation): no one keeps cached figures."""
    from monitoring.services.stamp import bump

    bump()


def _instance_page(sender: Any, **kwargs: Any) -> Any:
    from monitoring.pages import instance_panels

    return instance_panels(sender, **kwargs)
