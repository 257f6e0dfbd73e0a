"""OpenID Connect single sign-on through django-allauth's openid_connect provider.

ODCM adds to allauth's provider (through its public extension points: the ``provider_class``
setting, a provider and adapter subclass in ``identity/oidc_provider.py``, and the social
account adapter's ``get_requests_session``):

- configuration from ``ODCM_OIDC_PROVIDERS`` (a JSON list, read by
  ``odcm.config.oidc_settings``; providers may also be added by an
  administrator as "Social applications" in /django-admin/);
- every request to the provider (discovery, keys, token, userinfo) under ODCM's outbound-URL
  policy (``odcm.outbound``);
- stricter id_token checks (:func:`verify_id_token`): the signature is always verified with
  the provider's key, only with the algorithm that key allows (an ``HS256`` or ``none``
  header is refused with a message), and a ``nonce`` sent with every authorization request
  must come back in the id_token, once;
- the group claim (``groups`` unless configured) stored as the user's external groups at every
  sign-in.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Sequence
from typing import Any

import jwt
from django.conf import settings
from django.http import HttpRequest

from odcm.config import OIDC_PROVIDER as PROVIDER

NONCE_KEY = "odcm_nonce"


def groups_claim(app_settings: dict[str, Any]) -> str:
    return str(app_settings.get("groups_claim") or settings.ODCM_OIDC_GROUPS_CLAIM)


def claimed_groups(extra_data: dict[str, Any], claim: str) -> list[str]:
    """The group claim from the id_token, else from userinfo: a list or a single string."""
    for part in ("id_token", "userinfo"):
        value = (extra_data.get(part) or {}).get(claim)
        if isinstance(value, str):
            return [value]
        if isinstance(value, list):
            return [str(v) for v in value if isinstance(v, str | int)]
    return []


class TokenRefused(Exception):
    """An id_token ODCM will not accept; the message says why, for the person signing in."""


# The algorithm a JSON Web Key allows when it does not name one (RFC 7518, RFC 8037).
_DEFAULT_ALG = {"RSA": "RS256", "OKP": "EdDSA"}
_EC_ALG = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512", "secp256k1": "ES256K"}


def fetch_keys(keys_url: str) -> dict[str, Any]:
    """The provider's JWKS, fetched under ODCM's outbound-URL policy."""
    from allauth.socialaccount.adapter import get_adapter
    from requests import RequestException

    try:
        with get_adapter().get_requests_session() as session:
            response = session.get(keys_url)
            response.raise_for_status()
            keys: dict[str, Any] = response.json()
    except (RequestException, ValueError) as exc:
        raise TokenRefused(f"the provider's keys could not be read ({exc})") from None
    if not isinstance(keys, dict) or not isinstance(keys.get("keys"), list):
        raise TokenRefused("the provider's keys document is not a JWKS")
    return keys


def signing_key(header: dict[str, Any], keys: dict[str, Any]) -> tuple[Any, str]:
    """The key the token names (by ``kid``) and the one algorithm that key allows; the
    token's own ``alg`` header is only compared with it, never trusted."""
    candidates = [k for k in keys["keys"] if isinstance(k, dict) and k.get("use", "sig") == "sig"]
    kid = header.get("kid")
    chosen = [k for k in candidates if k.get("kid") == kid] if kid else candidates[:1]
    if len(chosen) != 1 or (not kid and len(candidates) != 1):
        raise TokenRefused("it names a key the provider does not publish")
    jwk = chosen[0]
    kty = str(jwk.get("kty", ""))
    allowed = jwk.get("alg") or (
        _EC_ALG.get(str(jwk.get("crv"))) if kty == "EC" else _DEFAULT_ALG.get(kty)
    )
    if not allowed or kty == "oct":
        raise TokenRefused("the provider's key is not a public signing key")
    if header.get("alg") != allowed:
        raise TokenRefused(
            f"it is signed with {str(header.get('alg'))[:20]!r}, which this provider's key does "
            f"not allow (only {allowed})"
        )
    try:
        return jwt.PyJWK(jwk, algorithm=allowed).key, allowed
    except jwt.PyJWTError as exc:
        raise TokenRefused(f"the provider's key cannot be used ({type(exc).__name__})") from None


def _check_replay(data: dict[str, Any]) -> None:
    """A token with a ``jti`` is accepted once (until it expires)."""
    from django.core.cache import cache

    jti, exp = data.get("jti"), data.get("exp")
    if not jti or not isinstance(exp, int | float):
        return
    key = "odcm:oidc:jti:" + hashlib.sha256(f"{data.get('iss')}|{jti}".encode()).hexdigest()
    if not cache.add(key, True, timeout=max(1, int(exp - time.time()) + 60)):
        raise TokenRefused("it was used before (a replayed response?)")


def verify_id_token(
    token: str,
    *,
    keys_url: str,
    issuer: str,
    audience: str,
    nonce: str | None = None,
    nonces: Sequence[str] = (),
) -> dict[str, Any]:
    """Decode and check an id_token: signature with the provider's key and only the
    algorithm that key allows, issuer, audience, expiry, and a nonce ODCM issued
    (``nonce``, or any of ``nonces``)."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise TokenRefused("it is malformed (not a signed JWT)") from None
    key, alg = signing_key(header, fetch_keys(keys_url))
    try:
        data: dict[str, Any] = jwt.decode(
            token,
            key=key,
            algorithms=[alg],
            issuer=issuer,
            audience=audience,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            leeway=30,
        )
    except jwt.InvalidSignatureError:
        raise TokenRefused("its signature is not valid for this provider's keys") from None
    except jwt.ExpiredSignatureError:
        raise TokenRefused("it has expired") from None
    except jwt.InvalidAudienceError:
        raise TokenRefused("it was issued for another application (wrong audience)") from None
    except jwt.InvalidIssuerError:
        raise TokenRefused("it was issued by another provider (wrong issuer)") from None
    except (jwt.PyJWTError, KeyError, ValueError, TypeError) as exc:
        raise TokenRefused(f"it is malformed ({type(exc).__name__})") from None
    expected = [nonce] if nonce else list(nonces)
    got = str(data.get("nonce", ""))
    if not got or not any(secrets.compare_digest(got, n) for n in expected):
        raise TokenRefused("its nonce does not match this sign-in (a replayed response?)")
    _check_replay(data)
    return data


def store_groups_at_login(request: HttpRequest, user: Any, **kwargs: Any) -> None:
    """allauth's user_logged_in: after an OIDC sign-in, store the group claim."""
    sociallogin = kwargs.get("sociallogin")
    if sociallogin is None:
        return
    provider = sociallogin.account.get_provider()
    if provider.id != PROVIDER:
        return
    from identity.services import store_external_groups

    app = provider.app
    claim = groups_claim(app.settings or {})
    values = claimed_groups(sociallogin.account.extra_data or {}, claim)
    store_external_groups(user, f"oidc:{sociallogin.account.provider}", values)
