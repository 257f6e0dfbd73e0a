"""identity's pages: one namespace. /account/… is the signed-in person's own (tokens, what
they can access); /access/… is access administration (groups, grants, users, role mapping)."""

from django.urls import path

from identity import (
    admin_views,
    invitation_views,
    people_views,
    service_account_views,
    signin_views,
    views,
)

app_name = "identity"
urlpatterns = [
    path("account/tokens/", views.tokens, name="tokens"),
    path("account/access/", views.my_access, name="my-access"),
    path("account/tokens/<uuid:token_id>/revoke/", views.revoke, name="revoke-token"),
    path(
        "account/service-accounts/",
        service_account_views.service_account_list,
        name="service-accounts",
    ),
    path(
        "account/service-accounts/<uuid:account_id>/",
        service_account_views.service_account,
        name="service-account",
    ),
    path(
        "account/service-accounts/<uuid:account_id>/tokens/<uuid:token_id>/revoke/",
        service_account_views.revoke_service_token,
        name="service-account-revoke-token",
    ),
    path("access/groups/", admin_views.groups, name="groups"),
    path("access/groups/<uuid:group_id>/", admin_views.group, name="group"),
    path("access/groups/<uuid:group_id>/delete/", admin_views.delete_group, name="delete-group"),
    path("access/groups/<uuid:group_id>/grants/", admin_views.add_grant, name="add-grant"),
    path("access/grants/<uuid:grant_id>/revoke/", admin_views.revoke_grant, name="revoke-grant"),
    path(
        "access/grant-rules/<uuid:rule_id>/delete/",
        admin_views.delete_grant_rule,
        name="delete-grant-rule",
    ),
    path("access/users/", admin_views.users, name="users"),
    path("access/users/new/", people_views.create_person, name="create-person"),
    path("access/users/search/", people_views.people_search, name="people-search"),
    path("access/grants/person/", people_views.grant_person, name="grant-person"),
    path(
        "access/users/<uuid:user_uuid>/sessions/<str:ref>/end/",
        people_views.end_session,
        name="end-session",
    ),
    path(
        "access/users/<uuid:user_uuid>/tokens/<uuid:token_id>/revoke/",
        people_views.revoke_token,
        name="person-revoke-token",
    ),
    path("access/users/<uuid:user_uuid>/", admin_views.user, name="user"),
    path(
        "access/users/<uuid:user_uuid>/deactivate/",
        admin_views.deactivate_user,
        name="deactivate-user",
    ),
    path("access/users/<uuid:user_uuid>/reset-mfa/", admin_views.reset_mfa, name="reset-mfa"),
    path("access/spaces/<uuid:space_id>/", admin_views.space, name="space"),
    path("access/roles/", admin_views.roles, name="roles"),
    path("access/invitations/", invitation_views.invitation_list, name="invitations"),
    path(
        "access/invitations/<uuid:invitation_id>/<str:verb>/",
        invitation_views.invitation_act,
        name="invitation-act",
    ),
    path("invitations/<str:token>/", invitation_views.invitation, name="invitation"),
    path(
        "invitations/<str:token>/accept/",
        invitation_views.accept_invitation,
        name="accept-invitation",
    ),
    path("access/sign-in/", signin_views.sign_in_list, name="sign-in"),
    path("access/sign-in/<uuid:instance_id>/", signin_views.sign_in_detail, name="sign-in-detail"),
    path(
        "access/sign-in/<uuid:instance_id>/enable/",
        signin_views.sign_in_enable,
        name="sign-in-enable",
    ),
    path(
        "access/sign-in/<uuid:instance_id>/check/", signin_views.sign_in_check, name="sign-in-check"
    ),
    path(
        "access/sign-in/<uuid:instance_id>/secret/",
        signin_views.sign_in_secret,
        name="sign-in-secret",
    ),
    path(
        "access/sign-in/<uuid:instance_id>/remove/",
        signin_views.sign_in_remove,
        name="sign-in-remove",
    ),
]
