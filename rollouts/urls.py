from django.urls import path

from rollouts import views

app_name = "rollouts"
urlpatterns = [
    path("runs/<uuid:pk>/", views.run_detail, name="run"),
    path("runs/<uuid:pk>/<str:verb>/", views.run_act, name="run-act"),
    path("<uuid:pk>/", views.detail, name="detail"),
    path("<uuid:pk>/<str:verb>/", views.act, name="act"),
]
