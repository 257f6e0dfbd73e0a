from django.apps import AppConfig


class FleetConfigConfig(AppConfig):
    name = "fleetconfig"
    verbose_name = "Configuration as code"
