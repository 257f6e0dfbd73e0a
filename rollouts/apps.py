from django.apps import AppConfig


class RolloutsConfig(AppConfig):
    name = "rollouts"

    def ready(self) -> None:
        from odcm.metrics import register_collector
        from rollouts.kinds import SharedItemKind, gate
        from rollouts.registry import register
        from rollouts.services.metrics import collect
        from rollouts.views import item_panels
        from sharing.gates import register_gate
        from sharing.signals import item_page

        register(SharedItemKind())
        register_gate(gate)
        register_collector(collect)
        item_page.connect(item_panels, dispatch_uid="rollouts-item-page")
