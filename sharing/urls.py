from django.urls import path

from sharing import rule_views, views

app_name = "sharing"
urlpatterns = [
    path("", views.index, name="index"),
    path("new/", views.item_create, name="create"),
    path("import/", views.import_page, name="import"),
    path("trusts/", views.trust_list, name="trusts"),
    path("trusts/<uuid:pk>/<str:verb>/", views.trust_action, name="trust-action"),
    path("pause/", views.pause, name="pause"),
    path("items/<uuid:pk>/", views.item, name="item"),
    path("items/<uuid:pk>/edit/", views.item_edit, name="edit"),
    path("items/<uuid:pk>/diff/", views.diff, name="diff"),
    path("items/<uuid:pk>/push/", views.push, name="push"),
    path("items/<uuid:pk>/pause/", views.pause_item, name="pause-item"),
    path("items/<uuid:pk>/subscribe/", views.subscribe, name="subscribe"),
    path("rules/<uuid:pk>/delete/", rule_views.delete_rule, name="delete-rule"),
    path("subscriptions/<uuid:pk>/", views.subscription, name="subscription"),
    path("subscriptions/<uuid:pk>/sync/", views.sync, name="sync"),
    path("subscriptions/<uuid:pk>/change/", views.change, name="change"),
    path("subscriptions/<uuid:pk>/unsubscribe/", views.unsubscribe, name="unsubscribe"),
]
