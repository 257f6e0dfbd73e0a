from django.apps import AppConfig


class SharingConfig(AppConfig):
    name = "sharing"

    def ready(self) -> None:
        from odcm.retention import register_pruner
        from sharing.services.retention import prune

        register_pruner("sharing", prune)

        from sharing.search import shared_items
        from spaces.signals import search

        search.connect(shared_items, dispatch_uid="sharing.search")
