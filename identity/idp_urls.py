"""ODCM's OpenID Connect provider URLs: allauth's (``allauth.idp.urls``: discovery at
/.well-known/openid-configuration, keys at /.well-known/jwks.json, /identity/o/…), with the
authorization endpoint served first by ``identity.idp.authorize`` (form_post)."""

from allauth.idp.oidc import views as allauth_views
from django.urls import include, path

from identity import idp

urlpatterns = [
    path("identity/o/authorize", idp.authorize, name="odcm_idp_authorize"),
    # allauth's token-side endpoints (clients authenticate; no cookies), NUL bytes refused
    path("identity/o/api/token", idp.guarded(allauth_views.token)),
    path("identity/o/api/revoke", idp.guarded(allauth_views.revoke)),
    path("identity/o/api/userinfo", idp.guarded(allauth_views.user_info)),
    path("", include("allauth.idp.urls")),
]
