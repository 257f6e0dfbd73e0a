"""managed's API routes, included by odcm/api/urls.py under /api/v1/."""

from managed.api.baseline_views import BaselineTargetViewSet, BaselineViewSet
from managed.api.split_views import CustomerViewSet, SplitViewSet
from managed.api.views import (
    BlueprintViewSet,
    DownstreamViewSet,
    TargetViewSet,
    TemplateViewSet,
)
from odcm.api.routers import AppRouter

router = AppRouter()
router.register("managed/blueprints", BlueprintViewSet, basename="managed-blueprint")
router.register("managed/targets", TargetViewSet, basename="managed-target")
router.register("managed/templates", TemplateViewSet, basename="managed-template")
router.register("managed/downstreams", DownstreamViewSet, basename="managed-downstream")
router.register("managed/splits", SplitViewSet, basename="managed-split")
router.register("managed/customers", CustomerViewSet, basename="managed-customer")
router.register("managed/baselines", BaselineViewSet, basename="managed-baseline")
router.register(
    "managed/baseline-targets", BaselineTargetViewSet, basename="managed-baseline-target"
)

urlpatterns = router.urls
