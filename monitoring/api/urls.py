from django.urls import path

from monitoring.api import views

urlpatterns = [
    path("spaces/", views.SpacesReport.as_view(), name="report-spaces"),
    path("deployments/", views.DeploymentsReport.as_view(), name="report-deployments"),
    path("versions/", views.VersionsReport.as_view(), name="report-versions"),
]
