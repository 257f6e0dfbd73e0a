"""/api/v1/: wiring only. Each app owns its api/urls.py; they are included here by name;
``router`` gathers every app's viewsets for the browsable index (``api-root``)."""

from django.urls import include, path, re_path
from rest_framework.urlpatterns import format_suffix_patterns

from audit.api import urls as audit_api
from identity.api import urls as identity_api
from managed.api import urls as managed_api
from odcm.api.views import Router, not_found
from promotions.api import urls as promotions_api
from rollouts.api import urls as rollouts_api
from sharing.api import urls as sharing_api
from spaces.api import urls as spaces_api

# identity comes before spaces: /spaces/<id>/access/ is identity's, not a space action.
APP_URLS = [
    "fleetconfig.api.urls",
    "identity.api.urls",
    "managed.api.urls",
    "audit.api.urls",
    "rollouts.api.urls",
    "sharing.api.urls",
    "promotions.api.urls",
    "spaces.api.urls",
]

router = Router()
for app_api in (
    identity_api,
    audit_api,
    sharing_api,
    spaces_api,
    promotions_api,
    rollouts_api,
    managed_api,
):
    router.registry.extend(app_api.router.registry)

urlpatterns = [
    path("", include("monitoring.api.urls")),
    *[path("", include(module)) for module in APP_URLS],
    *format_suffix_patterns([path("", router.get_api_root_view(), name="api-root")]),
    # Last: anything else under /api/v1/ is a JSON 404.
    re_path(r"^(?P<path>.*)$", not_found),
]
