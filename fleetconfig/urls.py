from django.urls import path

from fleetconfig import views

app_name = "fleetconfig"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("export/", views.export, name="export"),
    path("plans/<uuid:plan_id>/", views.plan, name="plan"),
    path("git/new/", views.source, name="source-new"),
    path("git/<uuid:source_id>/", views.source, name="source"),
    path("git/<uuid:source_id>/poll/", views.poll, name="poll"),
]
