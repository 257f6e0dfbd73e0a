from django.apps import AppConfig


class SharingConfig(AppConfig):
    name = "sharing"

    def ready(self) -> None:
        from odcm.retention import register_pruner
        from sharing.services.retention import prune

        register_pruner("sharing", prune)
