"""audit's API routes, included by odcm/api/urls.py under /api/v1/."""

from audit.api.views import AuditEntryViewSet
from odcm.api.routers import AppRouter

router = AppRouter()
router.register("audit", AuditEntryViewSet, basename="audit")

urlpatterns = router.urls
