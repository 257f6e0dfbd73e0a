from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "identity"
    verbose_name = "Identity and access"

    def ready(self) -> None:
        from django.apps import apps

        from identity import signals  # noqa: F401 - connects login auditing
        from identity.api import schema  # noqa: F401 - registers the OpenAPI auth scheme
        from identity.services import sessions
        from odcm.retention import register_pruner

        register_pruner("identity", sessions.prune)

        if apps.is_installed("allauth.socialaccount"):
            from allauth.account.signals import user_logged_in

            from identity import oidc

            user_logged_in.connect(oidc.store_groups_at_login, dispatch_uid="odcm-oidc-groups")

            from identity.services import invitations

            user_logged_in.connect(
                invitations.remember_sign_in, dispatch_uid="odcm-invitation-sign-in"
            )
