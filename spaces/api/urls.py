"""spaces' API routes, included by odcm/api/urls.py under /api/v1/."""

from django.urls import path

from odcm.api.routers import AppRouter
from spaces.api.views import (
    FavouriteViewSet,
    InstanceViewSet,
    SpaceViewSet,
    StandardEnvironmentsView,
)

router = AppRouter()
router.register("instances", InstanceViewSet, basename="instance")
router.register("spaces", SpaceViewSet, basename="space")
router.register("favourites", FavouriteViewSet, basename="favourite")

urlpatterns = [
    path(
        "standard-environments/",
        StandardEnvironmentsView.as_view(),
        name="standard-environments",
    ),
    *router.urls,
]
