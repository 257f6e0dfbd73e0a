"""Access administration: /access/…"""

from django.urls import path

from identity import admin_views as views

app_name = "access"
urlpatterns = [
    path("groups/", views.groups, name="groups"),
    path("groups/<uuid:group_id>/", views.group, name="group"),
    path("groups/<uuid:group_id>/delete/", views.delete_group, name="delete-group"),
    path("groups/<uuid:group_id>/grants/", views.add_grant, name="add-grant"),
    path("grants/<uuid:grant_id>/revoke/", views.revoke_grant, name="revoke-grant"),
    path("users/", views.users, name="users"),
    path("users/<uuid:user_uuid>/", views.user, name="user"),
    path("spaces/<uuid:space_id>/", views.space, name="space"),
    path("roles/", views.roles, name="roles"),
]
