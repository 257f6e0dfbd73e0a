"""managed's API routes, included by odcm/api/urls.py under /api/v1/."""

from managed.api.views import BlueprintViewSet, TargetViewSet
from odcm.api.routers import AppRouter

router = AppRouter()
router.register("managed/blueprints", BlueprintViewSet, basename="managed-blueprint")
router.register("managed/targets", TargetViewSet, basename="managed-target")

urlpatterns = router.urls
