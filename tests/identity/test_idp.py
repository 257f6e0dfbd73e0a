"""ODCM as the OpenID Connect provider of the Octopus instances (allauth.idp.oidc): discovery,
keys and their rotation, authorization code with PKCE, form_post, the groups claim."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from html import unescape
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.test import Client

from identity.models import OctopusSignIn, group_claim_value
from identity.services import create_group, octopus_signin
from odcm.crypto import seal, unseal
from spaces.models import Instance

pytestmark = pytest.mark.django_db

SITE = "https://odcm.example.com"


@pytest.fixture(autouse=True)
def _site(settings: Any) -> None:
    settings.ODCM_SITE_URL = SITE


def make_instance(name: str = "prod") -> Instance:
    inst = Instance(name=name, slug=name, base_url=f"http://127.0.0.1:9/{name}")
    seal(inst, "api_key", "API-XXXXXXXXXXXXXXXXXXXXXXXXXX")
    inst.save()
    return inst


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).decode().rstrip("=")


def authorize(client: Client, row: OctopusSignIn, challenge: str, **extra: str) -> Any:
    params = {
        "client_id": row.client_id,
        "response_type": "code",
        "response_mode": "form_post",
        "scope": "openid profile email",
        "redirect_uri": octopus_signin.redirect_uri(row.instance),
        "state": "st-1",
        "nonce": "n-1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    return client.get("/identity/o/authorize?" + urlencode(params))


def posted_fields(page: str) -> tuple[str, dict[str, str]]:
    action = unescape(re.search(r'<form method="post" action="([^"]+)"', page).group(1))  # type: ignore[union-attr]
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page))
    return action, {k: unescape(v) for k, v in fields.items()}


def exchange(row: OctopusSignIn, code: str, verifier: str) -> Any:
    return Client().post(
        "/identity/o/api/token",
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": octopus_signin.redirect_uri(row.instance),
            "code_verifier": verifier,
            "client_id": row.client_id,
            "client_secret": unseal(row, "client_secret"),
        },
    )


def decode(token: str) -> dict[str, Any]:
    keys = Client().get("/.well-known/jwks.json").json()
    kid = jwt.get_unverified_header(token)["kid"]
    (jwk,) = [k for k in keys["keys"] if k["kid"] == kid]
    row = OctopusSignIn.objects.get()
    return jwt.decode(
        token,
        key=jwt.PyJWK(jwk).key,
        algorithms=["RS256"],
        audience=row.client_id,
        issuer=SITE,
    )


def test_discovery_names_odcm_as_issuer_with_pkce_and_published_keys():
    doc = Client().get("/.well-known/openid-configuration").json()
    assert doc["issuer"] == SITE
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["authorization_endpoint"].endswith("/identity/o/authorize")
    keys = Client().get(doc["jwks_uri"].replace("http://testserver", "")).json()["keys"]
    assert keys and all(k["kty"] == "RSA" and k["kid"] and "d" not in k for k in keys)


def test_registered_instance_gets_a_form_post_code_and_an_id_token_with_its_groups(member):
    platform = create_group(name="Platform", members=[member])
    create_group(name="Elsewhere")  # member is not in it: not claimed
    row = octopus_signin.enable(make_instance())
    verifier, challenge = pkce()
    browser = Client()
    browser.force_login(member)

    page = authorize(browser, row, challenge)

    # No consent screen for a registered instance; the answer is posted, as Octopus asks.
    assert page.status_code == 200, page.content[:300]
    html = page.content.decode()
    assert "form-post.js" in html and "<script>" not in html  # CSP: no inline script
    action, fields = posted_fields(html)
    assert action == "http://127.0.0.1:9/prod/api/users/authenticatedToken/Okta"
    assert fields["state"] == "st-1" and fields["code"]

    wrong = exchange(row, fields["code"], "not-the-verifier" * 3)
    assert wrong.status_code == 400  # PKCE: the code alone is not enough

    page = authorize(browser, row, challenge)
    _, fields = posted_fields(page.content.decode())
    answer = exchange(row, fields["code"], verifier)
    assert answer.status_code == 200, answer.content
    claims = decode(answer.json()["id_token"])
    assert claims["nonce"] == "n-1"
    assert claims["groups"] == [group_claim_value(platform.pk)]
    assert claims["email"] == member.email
    assert claims["preferred_username"] == member.username


def test_unregistered_redirect_uri_gets_no_code(member):
    row = octopus_signin.enable(make_instance())
    browser = Client()
    browser.force_login(member)
    _, challenge = pkce()
    page = authorize(browser, row, challenge, redirect_uri="https://evil.example/cb")
    # allauth shows the error on its own page: nothing is sent to the unknown address
    assert page.status_code == 200 and "Location" not in page
    assert b"evil.example" not in page.content and b'name="code"' not in page.content
    assert b"redirect" in page.content.lower()


def test_signed_out_person_is_sent_to_sign_in_first():
    row = octopus_signin.enable(make_instance())
    _, challenge = pkce()
    page = authorize(Client(), row, challenge)
    assert page.status_code == 302 and page["Location"].startswith("/accounts/login/")


def _pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def test_key_rotation_publishes_both_keys_and_signs_with_the_newest(settings, member):
    settings.IDP_OIDC_PRIVATE_KEYS = [
        {"pem": _pem(), "issued_at": "2026-01-01T00:00:00+00:00"},
        {"pem": _pem(), "issued_at": "2026-06-01T00:00:00+00:00"},
    ]
    keys = Client().get("/.well-known/jwks.json").json()["keys"]
    assert len(keys) == 2
    row = octopus_signin.enable(make_instance())
    verifier, challenge = pkce()
    browser = Client()
    browser.force_login(member)
    _, fields = posted_fields(authorize(browser, row, challenge).content.decode())
    token = exchange(row, fields["code"], verifier).json()["id_token"]
    kids = {k["kid"] for k in keys}
    assert jwt.get_unverified_header(token)["kid"] in kids
    # the newest key (issued 2026-06) signs: drop it and the token no longer verifies
    settings.IDP_OIDC_PRIVATE_KEYS = settings.IDP_OIDC_PRIVATE_KEYS[:1]
    remaining = {k["kid"] for k in Client().get("/.well-known/jwks.json").json()["keys"]}
    assert jwt.get_unverified_header(token)["kid"] not in remaining
