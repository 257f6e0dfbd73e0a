from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit log"

    def ready(self) -> None:
        from audit.retention import prune
        from audit.services import record
        from odcm.adminsite import register_recorder
        from odcm.retention import register_pruner

        register_pruner("audit", prune)
        register_recorder(record)
