from django.urls import path

from rollouts import pipeline_views, views

app_name = "rollouts"
urlpatterns = [
    path("pipelines/", pipeline_views.pipeline_list, name="pipelines"),
    path("pipelines/<uuid:pk>/", pipeline_views.pipeline_board, name="pipeline"),
    path("pipelines/<uuid:pk>/promote/", pipeline_views.pipeline_promote, name="pipeline-promote"),
    path("runs/<uuid:pk>/", views.run_detail, name="run"),
    path("runs/<uuid:pk>/<str:verb>/", views.run_act, name="run-act"),
    path("<uuid:pk>/", views.detail, name="detail"),
    path("<uuid:pk>/<str:verb>/", views.act, name="act"),
]
