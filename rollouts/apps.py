from django.apps import AppConfig


class RolloutsConfig(AppConfig):
    name = "rollouts"

    def ready(self) -> None:
        from odcm.metrics import register_collector
        from rollouts.kinds import SharedItemKind, gate
        from rollouts.registry import register
        from rollouts.services.metrics import collect
        from sharing.gates import register_gate

        register(SharedItemKind())
        register_gate(gate)
        register_collector(collect)
