"""promotions' API routes, included by odcm/api/urls.py under /api/v1/."""

from odcm.api.routers import AppRouter
from promotions.api.views import (
    IdentityViewSet,
    InboxViewSet,
    PromotionViewSet,
    RemoteViewSet,
    RouteViewSet,
    TrustViewSet,
)

router = AppRouter()
router.register("promotions/identities", IdentityViewSet, basename="promotions-identity")
router.register("promotions/remotes", RemoteViewSet, basename="promotions-remote")
router.register("promotions/trusts", TrustViewSet, basename="promotions-trust")
router.register("promotions/routes", RouteViewSet, basename="promotions-route")
router.register("promotions/promotions", PromotionViewSet, basename="promotions-promotion")
router.register("promotions/inbox", InboxViewSet, basename="promotions-inbox")

urlpatterns = router.urls
