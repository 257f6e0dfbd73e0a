"""identity's API routes, included by odcm/api/urls.py under /api/v1/."""

from django.urls import path

from identity.api.grant_rules import GrantRuleViewSet
from identity.api.groups import (
    GrantViewSet,
    GroupViewSet,
    RoleMappingViewSet,
    SpaceAccessView,
    UserViewSet,
)
from identity.api.invitations import InvitationViewSet
from identity.api.service_accounts import ServiceAccountViewSet
from identity.api.views import ApiTokenViewSet, MeView
from odcm.api.routers import AppRouter

router = AppRouter()
router.register("tokens", ApiTokenViewSet, basename="token")
router.register("groups", GroupViewSet, basename="group")
router.register("grants", GrantViewSet, basename="grant")
router.register("grant-rules", GrantRuleViewSet, basename="grant-rule")
router.register("role-mappings", RoleMappingViewSet, basename="role-mapping")
router.register("users", UserViewSet, basename="user")
router.register("service-accounts", ServiceAccountViewSet, basename="service-account")
router.register("invitations", InvitationViewSet, basename="invitation")

urlpatterns = [
    path("me/", MeView.as_view(), name="me"),
    path("spaces/<uuid:space_id>/access/", SpaceAccessView.as_view(), name="space-access"),
    *router.urls,
]
