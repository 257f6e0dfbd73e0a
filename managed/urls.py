from django.urls import path

from managed import customer_views, split_views, views, views_baseline

app_name = "managed"
urlpatterns = [
    path("", views.index, name="index"),
    path("blueprints/<uuid:pk>/", views.blueprint, name="blueprint"),
    path("blueprints/<uuid:pk>/assign/", views.assign, name="assign"),
    path("blueprints/<uuid:pk>/rules/", views.rules, name="rules"),
    path("blueprints/<uuid:pk>/plan/", views.plan, name="plan"),
    path("blueprints/<uuid:pk>/apply/", views.apply, name="apply"),
    path("templates/", views.template_list, name="templates"),
    path("templates/<uuid:pk>/", views.template, name="template"),
    path("templates/<uuid:pk>/push/", views.template_push, name="template-push"),
    path("downstreams/<uuid:pk>/resolve/", views.resolve, name="resolve"),
    path("splits/", split_views.split_list, name="splits"),
    path("splits/<uuid:pk>/", split_views.split, name="split"),
    path("splits/<uuid:pk>/run/", split_views.split_run, name="split-run"),
    path("customers/", split_views.customer_list, name="customers"),
    path("customers/<uuid:pk>/", split_views.customer, name="customer"),
    path("customers/<uuid:pk>/resync/", split_views.customer_resync, name="customer-resync"),
    path("customers/<uuid:pk>/rotate/", customer_views.customer_rotate, name="customer-rotate"),
    path("customers/<uuid:pk>/remove/", customer_views.customer_remove, name="customer-remove"),
    path("baselines/", views_baseline.baseline_list, name="baselines"),
    path("baselines/<uuid:pk>/", views_baseline.baseline, name="baseline"),
    path("baselines/<uuid:pk>/assign/", views_baseline.baseline_assign, name="baseline-assign"),
    path("baselines/<uuid:pk>/rules/", views_baseline.baseline_rules, name="baseline-rules"),
    path("baselines/<uuid:pk>/plan/", views_baseline.baseline_plan, name="baseline-plan"),
    path("baselines/<uuid:pk>/apply/", views_baseline.baseline_apply, name="baseline-apply"),
    path("baselines/<uuid:pk>/check/", views_baseline.baseline_check, name="baseline-check"),
]
