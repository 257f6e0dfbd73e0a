"""OpenID Connect single sign-on through django-allauth's openid_connect provider.

ODCM adds three things to allauth's provider:

- configuration from ``ODCM_OIDC_PROVIDERS`` (a JSON list, read by
  ``odcm.config.oidc_settings``; providers may also be added by an administrator as "Social
  applications" in /django-admin/);
- stricter id_token checks: the signature is always verified against the provider's JWKS (not
  only when the token did not come straight from the token endpoint), and a ``nonce`` sent
  with every authorization request must come back in the id_token;
- the group claim (``groups`` unless configured) stored as the user's external groups at every
  sign-in.
"""

from __future__ import annotations

import secrets
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


def verify_id_token(
    token: str, *, keys_url: str, issuer: str, audience: str, nonce: str | None
) -> dict[str, Any]:
    """Decode and check an id_token: signature (JWKS), issuer, audience, expiry, nonce."""
    from allauth.socialaccount.internal import jwtkit
    from allauth.socialaccount.providers.oauth2.client import OAuth2Error

    try:
        alg, key = jwtkit.fetch_key(token, keys_url, jwtkit.lookup_kid_jwk)
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
    except (jwt.PyJWTError, OAuth2Error, KeyError, ValueError) as exc:
        raise TokenRefused(f"it is malformed ({type(exc).__name__})") from None
    if nonce is None or not secrets.compare_digest(str(data.get("nonce", "")), nonce):
        raise TokenRefused("its nonce does not match this sign-in (a replayed response?)")
    jwtkit.verify_jti(data)
    return data


def install() -> None:
    """Hook the nonce and strict id_token checks into allauth's openid_connect provider."""
    from allauth.socialaccount.providers.oauth2.client import OAuth2Error
    from allauth.socialaccount.providers.openid_connect.provider import OpenIDConnectProvider
    from allauth.socialaccount.providers.openid_connect.views import (
        OpenIDConnectOAuth2Adapter,
    )

    if getattr(OpenIDConnectProvider, "_odcm_strict", False):
        return
    original_redirect = OpenIDConnectProvider.redirect

    def redirect(
        self: Any, request: HttpRequest, process: Any, next_url: Any = None, data: Any = None,
        **kwargs: Any,
    ) -> Any:  # fmt: skip
        nonce = secrets.token_urlsafe(24)
        auth_params = kwargs.pop("auth_params", None)
        if auth_params is None:
            auth_params = self.get_auth_params()
        auth_params = {**auth_params, "nonce": nonce}
        kwargs[NONCE_KEY] = nonce  # stashed with the state, found again at the callback
        return original_redirect(
            self, request, process, next_url, data, auth_params=auth_params, **kwargs
        )

    def decode_id_token(self: Any, app: Any, id_token: str) -> dict[str, Any]:
        # The callback view pops the state before the token is decoded; it keeps it here.
        state = getattr(self, "_odcm_state", None) or {}
        try:
            return verify_id_token(
                id_token,
                keys_url=self.openid_config["jwks_uri"],
                issuer=self.openid_config["issuer"],
                audience=app.client_id,
                nonce=state.get(NONCE_KEY),
            )
        except TokenRefused as exc:
            raise OAuth2Error(f"The identity provider's ID token was refused: {exc}.") from None

    OpenIDConnectProvider.redirect = redirect
    OpenIDConnectOAuth2Adapter._decode_id_token = decode_id_token
    _keep_state_on_adapter(OpenIDConnectOAuth2Adapter)
    OpenIDConnectProvider._odcm_strict = True


def _keep_state_on_adapter(adapter_class: Any) -> None:
    """Let the adapter see the state (and so the nonce) the callback view unstashed."""
    from allauth.socialaccount.providers.oauth2 import views as oauth2_views

    original_get_state = oauth2_views.OAuth2CallbackView._get_state

    def _get_state(self: Any, request: HttpRequest, provider: Any) -> Any:
        state, resp = original_get_state(self, request, provider)
        if isinstance(self.adapter, adapter_class):
            self.adapter._odcm_state = state
        return state, resp

    oauth2_views.OAuth2CallbackView._get_state = _get_state


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
