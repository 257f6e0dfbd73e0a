from django.urls import path

from rollouts import form_views, pipeline_views, views

app_name = "rollouts"
urlpatterns = [
    path("pipelines/", pipeline_views.pipeline_list, name="pipelines"),
    path("pipelines/new/", form_views.pipeline_edit, name="pipeline-new"),
    path("pipelines/<uuid:pk>/", pipeline_views.pipeline_board, name="pipeline"),
    path("pipelines/<uuid:pk>/edit/", form_views.pipeline_edit, name="pipeline-edit"),
    path("pipelines/<uuid:pk>/promote/", pipeline_views.pipeline_promote, name="pipeline-promote"),
    path("pipelines/<uuid:pk>/detach/", pipeline_views.pipeline_detach, name="pipeline-detach"),
    path("policies/<slug:kind>/<uuid:subject_id>/", form_views.policy_edit, name="policy"),
    path(
        "policies/<slug:kind>/<uuid:subject_id>/pipeline/",
        form_views.policy_attach,
        name="policy-attach",
    ),
    path(
        "policies/<slug:kind>/<uuid:subject_id>/pipeline/detach/",
        form_views.policy_detach,
        name="policy-detach",
    ),
    path("runs/", form_views.run_list, name="runs"),
    path("runs/new/", form_views.run_new, name="run-new"),
    path("runs/<uuid:pk>/", views.run_detail, name="run"),
    path("runs/<uuid:pk>/<str:verb>/", views.run_act, name="run-act"),
    path("<uuid:pk>/", views.detail, name="detail"),
    path("<uuid:pk>/<str:verb>/", views.act, name="act"),
]
