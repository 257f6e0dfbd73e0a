from django.urls import path

from rollouts import views

app_name = "rollouts"
urlpatterns = [
    path("<uuid:pk>/", views.detail, name="detail"),
    path("<uuid:pk>/<str:verb>/", views.act, name="act"),
]
