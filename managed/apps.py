from django.apps import AppConfig


class ManagedConfig(AppConfig):
    name = "managed"
    verbose_name = "Managed spaces"

    def ready(self) -> None:
        from managed import setup
        from spaces.signals import space_setup, space_setup_options

        space_setup_options.connect(setup.offer, dispatch_uid="managed.setup.offer")
        space_setup.connect(setup.set_up, dispatch_uid="managed.setup.set_up")
