from django.urls import include, path
from rest_framework.routers import SimpleRouter

from fleetconfig.api.views import ExportView, PlanViewSet, SchemaView

router = SimpleRouter()
router.register("config/plans", PlanViewSet, basename="config-plan")

urlpatterns = [
    path("config/export/", ExportView.as_view(), name="config-export"),
    path("config/schema/", SchemaView.as_view(), name="config-schema"),
    path("", include(router.urls)),
]
