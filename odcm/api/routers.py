"""The router every app's api/urls.py uses; odcm/api/urls.py adds the one browsable index."""

from rest_framework.routers import DefaultRouter


class AppRouter(DefaultRouter):
    """DRF's default router (format suffixes included) without its own index page."""

    include_root_view = False
