"""monitoring's API routes (the reports), included by odcm/api/urls.py under /api/v1/."""

from django.urls import path

from monitoring.api import views

urlpatterns = [
    path("reports/spaces/", views.SpacesReport.as_view(), name="report-spaces"),
    path("reports/deployments/", views.DeploymentsReport.as_view(), name="report-deployments"),
    path("reports/versions/", views.VersionsReport.as_view(), name="report-versions"),
    path(
        "instances/<uuid:instance_id>/status-history/",
        views.StatusHistory.as_view(),
        name="instance-status-history",
    ),
]
