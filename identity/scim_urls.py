"""SCIM 2.0 endpoints (identity/scim.py), included by odcm/urls.py under /scim/v2/."""

from django.urls import path

from identity import scim

urlpatterns = [
    path("Users", scim.endpoint(scim.users), name="scim-users"),
    path("Users/<str:ident>", scim.endpoint(scim.user_detail), name="scim-user"),
    path("Groups", scim.endpoint(scim.groups), name="scim-groups"),
    path("Groups/<str:ident>", scim.endpoint(scim.group_detail), name="scim-group"),
    path(
        "ServiceProviderConfig",
        scim.endpoint(scim.service_provider_config),
        name="scim-config",
    ),
]
