"""ODCM's URLs."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from monitoring.console_views import console_view
from monitoring.views import dashboard_view
from odcm import views
from spaces.urls import urlpatterns as space_urls

urlpatterns = [
    path("", dashboard_view, name="home"),
    path("administration/", views.administration, name="administration"),
    # Before allauth's URLs: its OpenID Connect paths, served by ODCM's stricter adapter.
    path("accounts/oidc/", include("identity.oidc_urls")),
    path("accounts/", include("allauth.urls")),
    # ODCM as OpenID Connect provider: discovery, JWKS, /identity/o/… (identity/idp_urls.py).
    path("", include("identity.idp_urls")),
    path("", include("identity.urls")),
    path("audit/", include("audit.urls")),
    path("monitoring/", include("monitoring.urls")),
    path("sharing/", include("sharing.urls", namespace="sharing")),
    path("promotions/", include("promotions.urls", namespace="promotions")),
    path("rollouts/", include("rollouts.urls", namespace="rollouts")),
    # The Instances page is monitoring's console (it shows uptime, pins). spaces sits below
    # monitoring and may not import it, so the composition root files the console under the
    # spaces namespace: every link to spaces:instances lands on it.
    path(
        "spaces/",
        include(([path("instances/", console_view, name="instances"), *space_urls], "spaces")),
    ),
    path("config/", include("fleetconfig.urls", namespace="fleetconfig")),
    path("managed/", include("managed.urls", namespace="managed")),
    path("api/v1/", include(("odcm.api.urls", "api"), namespace="api")),
    path("scim/v2/", include("identity.scim_urls")),  # SCIM 2.0 provisioning
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The "split" view serves Swagger UI's start-up code as a script file, not inline (CSP).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("metrics", views.metrics, name="metrics"),
    path("django-admin/", admin.site.urls),
]
