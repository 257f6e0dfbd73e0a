from django.apps import AppConfig


class SpacesConfig(AppConfig):
    name = "spaces"
