"""id_token checks (signature, expiry, audience, issuer, nonce) and OIDC configuration."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from identity.oidc import TokenRefused, claimed_groups, verify_id_token
from odcm.config import oidc_settings
from odcm.env import EnvError

ISSUER = "https://idp.example"
AUDIENCE = "odcm-client"
NONCE = "n-0S6_WzA2Mj"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


KEY, STRANGER = new_key(), new_key()


@pytest.fixture(scope="module")
def jwks_url() -> Iterator[str]:
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key()))
    body = json.dumps({"keys": [{**public, "kid": "k1", "alg": "RS256", "use": "sig"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/jwks"
    server.shutdown()


def token(key: Any = KEY, **changes: Any) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "iat": now, "exp": now + 300,
              "nonce": NONCE, "groups": ["platform"]}  # fmt: skip
    claims.update(changes)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})


def check(jwks_url: str, raw: str, nonce: str | None = NONCE) -> dict[str, Any]:
    return verify_id_token(raw, keys_url=jwks_url, issuer=ISSUER, audience=AUDIENCE, nonce=nonce)


def test_a_good_token_is_accepted(jwks_url):
    assert check(jwks_url, token())["groups"] == ["platform"]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (lambda: token(key=STRANGER), "signature is not valid"),
        (lambda: token(exp=int(time.time()) - 120, iat=int(time.time()) - 600), "expired"),
        (lambda: token(aud="another-app"), "wrong audience"),
        (lambda: token(iss="https://evil.example"), "wrong issuer"),
        (lambda: token(nonce="replayed"), "nonce does not match"),
        (lambda: token(nonce=None), "nonce does not match"),
        (lambda: token(exp=None), "malformed"),
        (lambda: "not.a.jwt", "malformed"),
    ],
    ids=["signature", "expired", "audience", "issuer", "nonce", "no-nonce", "no-exp", "garbage"],
)
def test_a_bad_token_is_refused_saying_why(jwks_url, raw, reason):
    with pytest.raises(TokenRefused, match=reason):
        check(jwks_url, raw())


def test_a_token_is_refused_when_no_nonce_was_sent(jwks_url):
    with pytest.raises(TokenRefused, match="nonce"):
        check(jwks_url, token(), nonce=None)


def test_group_claim_is_read_from_the_id_token_then_userinfo():
    assert claimed_groups({"id_token": {"groups": ["a", "b"]}}, "groups") == ["a", "b"]
    assert claimed_groups({"userinfo": {"roles": "admins"}}, "roles") == ["admins"]
    assert claimed_groups({"id_token": {}, "userinfo": {}}, "groups") == []


def test_providers_come_from_the_environment(monkeypatch):
    monkeypatch.setenv(
        "ODCM_OIDC_PROVIDERS",
        json.dumps([{"id": "entra", "name": "Microsoft Entra ID", "client_id": "c",
                     "client_secret": "s", "server_url": "https://login.example/t/v2.0",
                     "groups_claim": "roles"}]),
    )  # fmt: skip
    (app,) = oidc_settings()["openid_connect"]["APPS"]
    assert app["provider_id"] == "entra" and app["secret"] == "s"
    assert app["settings"] == {
        "server_url": "https://login.example/t/v2.0",
        "groups_claim": "roles",
    }
    monkeypatch.setenv("ODCM_OIDC_PROVIDERS", '[{"id": "x"}]')
    with pytest.raises(EnvError, match="server_url, client_id"):
        oidc_settings()
    monkeypatch.setenv("ODCM_OIDC_PROVIDERS", "{nope")
    with pytest.raises(EnvError, match="not valid JSON"):
        oidc_settings()


def hs256_token() -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "iat": now, "exp": now + 300,
              "nonce": NONCE}  # fmt: skip
    return jwt.encode(claims, "a-shared-secret-of-32-bytes-or-more!", algorithm="HS256",
                      headers={"kid": "k1"})  # fmt: skip


def test_an_hs256_header_is_refused_with_a_message(jwks_url):
    with pytest.raises(TokenRefused, match="HS256.*only RS256"):
        check(jwks_url, hs256_token())


def test_an_unsigned_token_is_refused_with_a_message(jwks_url):
    raw = jwt.encode({"iss": ISSUER}, "", algorithm="none", headers={"kid": "k1"})
    with pytest.raises(TokenRefused, match="'none'"):
        check(jwks_url, raw)


def test_a_key_the_provider_does_not_publish_is_refused(jwks_url):
    raw = jwt.encode({"iss": ISSUER}, KEY, algorithm="RS256", headers={"kid": "other"})
    with pytest.raises(TokenRefused, match="does not publish"):
        check(jwks_url, raw)


def test_a_token_is_accepted_once(jwks_url):
    raw = token(jti="once")
    check(jwks_url, raw)
    with pytest.raises(TokenRefused, match="used before"):
        check(jwks_url, raw)


@pytest.mark.parametrize("url", ["http://169.254.169.254/jwks", "http://10.1.2.3/jwks"])
def test_keys_are_fetched_under_the_outbound_url_policy(url):
    with pytest.raises(TokenRefused, match="outbound-URL policy refused"):
        verify_id_token(token(), keys_url=url, issuer=ISSUER, audience=AUDIENCE, nonce=NONCE)
