"""ODCM's URLs."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from odcm import views

urlpatterns = [
    path("", views.home, name="home"),
    path("administration/", views.administration, name="administration"),
    path("accounts/", include("allauth.urls")),
    path("account/", include("identity.urls")),
    path("access/", include("identity.access_urls")),
    path("audit/", include("audit.urls")),
    path("monitoring/", include("monitoring.urls")),
    path("sharing/", include("sharing.urls", namespace="sharing")),
    path("spaces/", include("spaces.urls", namespace="spaces")),
    path("config/", include("fleetconfig.urls", namespace="fleetconfig")),
    path("api/v1/", include(("odcm.api.urls", "api"), namespace="api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The "split" view serves Swagger UI's start-up code as a script file, not inline (CSP).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("metrics", views.metrics, name="metrics"),
    path("django-admin/", admin.site.urls),
]
