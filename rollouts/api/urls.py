"""rollouts' API routes, included by odcm/api/urls.py under /api/v1/."""

from odcm.api.routers import AppRouter
from rollouts.api.pipelines import PipelineViewSet
from rollouts.api.views import PolicyViewSet, RolloutViewSet, RunViewSet

router = AppRouter()
router.register("rollouts/policies", PolicyViewSet, basename="rollout-policy")
router.register("rollouts/pipelines", PipelineViewSet, basename="rollout-pipeline")
router.register("rollouts/runs", RunViewSet, basename="rollout-run")
router.register("rollouts", RolloutViewSet, basename="rollout")

urlpatterns = router.urls
