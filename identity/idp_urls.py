"""ODCM's OpenID Connect provider URLs: allauth's (``allauth.idp.urls``: discovery at
/.well-known/openid-configuration, keys at /.well-known/jwks.json, /identity/o/…), with the
authorization endpoint served first by ``identity.idp.authorize`` (form_post)."""

from django.urls import include, path

from identity import idp

urlpatterns = [
    path("identity/o/authorize", idp.authorize, name="odcm_idp_authorize"),
    path("", include("allauth.idp.urls")),
]
