from typing import Any

from django.apps import AppConfig


class SharingConfig(AppConfig):
    name = "sharing"

    def ready(self) -> None:
        from odcm.retention import register_pruner
        from sharing.services.retention import prune

        register_pruner("sharing", prune)

        from sharing.services.library import SharingLibrary
        from spaces.step_template_library import register

        register(SharingLibrary())  # blueprints install shared step templates through it

        from sharing.search import shared_items
        from spaces.signals import search

        search.connect(shared_items, dispatch_uid="sharing.search")

        from spaces import signals

        # Subscriptions that follow a tag or region apply again when the fleet changes.
        for signal in (
            signals.instance_enlisted,
            signals.space_enlisted,
            signals.instance_labels_changed,
        ):
            signal.connect(_fleet_changed, dispatch_uid=f"sharing.rules.{id(signal)}")


def _fleet_changed(sender: Any, **kwargs: Any) -> None:
    from odcm import work

    work.enqueue("sharing.tasks.apply_subscription_rules")
