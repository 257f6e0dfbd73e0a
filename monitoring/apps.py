from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"

    def ready(self) -> None:
        from monitoring.metrics import collect
        from odcm.metrics import register_collector

        register_collector(collect)
