from django.apps import AppConfig


class OdcmConfig(AppConfig):
    name = "odcm"
    verbose_name = "ODCM"

    def ready(self) -> None:
        from odcm import checks  # noqa: F401 - registers system checks
