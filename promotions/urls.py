from django.urls import path

from promotions import exchange, route_views, views

app_name = "promotions"
urlpatterns = [
    path("", views.index, name="index"),
    path("dashboard-rows/", views.dashboard_rows, name="dashboard-rows"),
    path("spaces/<uuid:pk>/", views.space, name="space"),
    path("spaces/<uuid:pk>/certificate.pem", views.certificate, name="certificate"),
    path("remotes/new/", views.remote_create, name="remote-create"),
    path("trusts/<uuid:pk>/confirm/", views.trust_confirm, name="trust-confirm"),
    path("spaces/<uuid:space_pk>/routes/new/", route_views.route_form, name="route-new"),
    path("routes/<uuid:pk>/", views.route, name="route"),
    path("routes/<uuid:pk>/edit/", route_views.route_form, name="route-edit"),
    path("routes/<uuid:pk>/delete/", route_views.route_delete, name="route-delete"),
    path("routes/<uuid:pk>/values/", route_views.value_set, name="route-value-set"),
    path(
        "routes/<uuid:pk>/values/<int:value_id>/delete/",
        route_views.value_delete,
        name="route-value-delete",
    ),
    path("routes/<uuid:pk>/promote/", views.promote, name="promote"),
    path("promotions/<uuid:pk>/bundle/", views.bundle_download, name="bundle-download"),
    path("inbox/upload/", views.upload, name="upload"),
    path("inbox/<uuid:pk>/", views.review, name="review"),
    path("inbox/<uuid:pk>/import/", views.do_import, name="import"),
    path("inbox/<uuid:pk>/compare/", views.compare_page, name="compare"),
    path("receipts/upload/", views.receipt_upload, name="receipt-upload"),
    path("receipts/<uuid:pk>/file/", views.receipt_download, name="receipt-download"),
    # ODCM to ODCM (signed documents; see promotions/exchange.py)
    path("exchange/bundles/", exchange.bundles, name="exchange-bundles"),
    path("exchange/receipts/", exchange.receipt, name="exchange-receipts"),
    path(
        "exchange/bundles/<uuid:bundle_id>/packages/<str:name>",
        exchange.package,
        name="exchange-package",
    ),
    path("exchange/identities/<uuid:space_id>/", exchange.identity, name="exchange-identity"),
]
