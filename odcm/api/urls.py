"""/api/v1/: every app registers its viewsets on this one router."""

from django.urls import include, path, re_path

from audit.api.views import AuditEntryViewSet
from identity.api.groups import (
    GrantViewSet,
    GroupViewSet,
    RoleMappingViewSet,
    SpaceAccessView,
    UserViewSet,
)
from identity.api.views import ApiTokenViewSet, MeView
from monitoring.api.views import StatusHistory
from odcm.api.views import Router, not_found
from sharing.api.views import BrokerViewSet, ItemViewSet, SubscriptionViewSet, TrustViewSet
from spaces.api.views import (
    FavouriteViewSet,
    InstanceViewSet,
    SpaceViewSet,
    StandardEnvironmentsView,
)

router = Router()
router.register("tokens", ApiTokenViewSet, basename="token")
router.register("audit", AuditEntryViewSet, basename="audit")
router.register("groups", GroupViewSet, basename="group")
router.register("grants", GrantViewSet, basename="grant")
router.register("role-mappings", RoleMappingViewSet, basename="role-mapping")
router.register("users", UserViewSet, basename="user")
router.register("sharing/items", ItemViewSet, basename="sharing-item")
router.register("sharing/subscriptions", SubscriptionViewSet, basename="sharing-subscription")
router.register("sharing/trusts", TrustViewSet, basename="sharing-trust")
router.register("sharing/broker", BrokerViewSet, basename="sharing-broker")
router.register("instances", InstanceViewSet, basename="instance")
router.register("spaces", SpaceViewSet, basename="space")
router.register("favourites", FavouriteViewSet, basename="favourite")

urlpatterns = [
    path("me/", MeView.as_view(), name="me"),
    path("reports/", include("monitoring.api.urls")),
    path("", include("fleetconfig.api.urls")),
    path("spaces/<uuid:space_id>/access/", SpaceAccessView.as_view(), name="space-access"),
    path(
        "instances/<uuid:instance_id>/status-history/",
        StatusHistory.as_view(),
        name="instance-status-history",
    ),
    path(
        "standard-environments/",
        StandardEnvironmentsView.as_view(),
        name="standard-environments",
    ),
    path("", include(router.urls)),
    # Last: anything else under /api/v1/ is a JSON 404.
    re_path(r"^(?P<path>.*)$", not_found),
]
