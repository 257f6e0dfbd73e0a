from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "identity"
    verbose_name = "Identity and access"

    def ready(self) -> None:
        from identity import signals  # noqa: F401 - connects login auditing
        from identity.api import schema  # noqa: F401 - registers the OpenAPI auth scheme
