"""Single sign-on's outbound requests pass ODCM's URL policy; a refused provider is a page
that says so, never an error 500, and nothing is sent."""

from __future__ import annotations

import pytest
from allauth.socialaccount.models import SocialApp
from django.test import Client

from audit.models import AuditEntry

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "server_url", ["http://169.254.169.254/latest", "http://10.20.30.40/realms/x"]
)
def test_a_provider_outside_the_url_policy_is_refused_with_a_message(server_url: str) -> None:
    SocialApp.objects.create(
        provider="openid_connect", provider_id="meta", name="Meta", client_id="c",
        secret="s", settings={"server_url": server_url},
    )  # fmt: skip
    response = Client().post("/accounts/oidc/meta/login/")
    assert response.status_code == 401  # allauth's sign-in error page
    body = response.content.decode()
    assert "outbound-URL policy refused" in body
    assert AuditEntry.objects.filter(action="auth.sso_failed").exists()


def test_allauths_openid_connect_urls_are_served_by_odcms_adapter() -> None:
    from django.urls import resolve

    from identity import oidc_provider

    assert resolve("/accounts/oidc/any/login/").func is oidc_provider.login
    assert resolve("/accounts/oidc/any/login/callback/").func is oidc_provider.callback


def test_no_allauth_internals_are_patched() -> None:
    from allauth.socialaccount.providers.oauth2 import views as oauth2_views
    from allauth.socialaccount.providers.openid_connect.provider import OpenIDConnectProvider
    from allauth.socialaccount.providers.openid_connect.views import OpenIDConnectOAuth2Adapter

    assert oauth2_views.OAuth2CallbackView._get_state.__module__.startswith("allauth.")
    assert OpenIDConnectProvider.redirect.__module__.startswith("allauth.")
    assert OpenIDConnectOAuth2Adapter._decode_id_token.__module__.startswith("allauth.")
