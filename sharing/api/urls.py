"""sharing's API routes, included by odcm/api/urls.py under /api/v1/."""

from odcm.api.routers import AppRouter
from sharing.api.rules import SubscriptionRuleViewSet
from sharing.api.views import BrokerViewSet, ItemViewSet, SubscriptionViewSet, TrustViewSet

router = AppRouter()
router.register("sharing/items", ItemViewSet, basename="sharing-item")
router.register("sharing/subscriptions", SubscriptionViewSet, basename="sharing-subscription")
router.register(
    "sharing/subscription-rules", SubscriptionRuleViewSet, basename="sharing-subscription-rule"
)
router.register("sharing/trusts", TrustViewSet, basename="sharing-trust")
router.register("sharing/broker", BrokerViewSet, basename="sharing-broker")

urlpatterns = router.urls
