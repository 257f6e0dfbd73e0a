from django.apps import AppConfig


class RolloutsConfig(AppConfig):
    name = "rollouts"

    def ready(self) -> None:
        from managed.gates import register_gate as register_managed_gate
        from managed.signals import page as managed_page
        from monitoring.version_rules import register as register_version_rules
        from odcm.metrics import register_collector
        from rollouts import kinds_managed
        from rollouts.kinds import SharedItemKind, gate
        from rollouts.registry import register
        from rollouts.services.metrics import collect
        from rollouts.services.versions import allowed_by_instance
        from rollouts.views import item_panels, managed_panels
        from sharing.gates import register_gate
        from sharing.signals import item_page

        register(SharedItemKind())
        register_gate(gate)
        register(kinds_managed.BlueprintKind())
        register(kinds_managed.TemplateProjectKind())
        register(kinds_managed.BaselineKind())
        register_managed_gate(kinds_managed.gate)
        register_collector(collect)
        register_version_rules(allowed_by_instance)
        item_page.connect(item_panels, dispatch_uid="rollouts-item-page")
        managed_page.connect(managed_panels, dispatch_uid="rollouts-managed-page")
