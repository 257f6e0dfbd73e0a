from django.urls import path

from monitoring import views

app_name = "monitoring"

urlpatterns = [
    path("reports/spaces.csv", views.spaces_csv, name="spaces-csv"),
    path("instances/<slug:slug>/", views.instance_view, name="instance"),
    path("alerts/", views.alert_settings_view, name="alert-settings"),
    path("channels/", views.channels_view, name="channels"),
]
