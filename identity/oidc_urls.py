"""allauth's OpenID Connect URLs (/accounts/oidc/<provider>/login/ and …/callback/), served
by ODCM's adapter. Included before allauth's URLs, so these paths resolve here."""

from django.urls import path

from identity import oidc_provider

urlpatterns = [
    path("<str:provider_id>/login/", oidc_provider.login, name="odcm_oidc_login"),
    path("<str:provider_id>/login/callback/", oidc_provider.callback, name="odcm_oidc_callback"),
]
