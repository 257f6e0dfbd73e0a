"""ODCM's OpenID Connect provider: allauth's, subclassed on its public extension points.

- :class:`ODCMOpenIDConnectProvider` (named by ``SOCIALACCOUNT_PROVIDERS["openid_connect"]
  ["provider_class"]``) sends a fresh ``nonce`` with every authorization request and keeps
  it in the session until one id_token uses it;
- :class:`ODCMOpenIDConnectAdapter` checks every id_token with
  :func:`identity.oidc.verify_id_token` (signature always, the key's own algorithm only,
  issuer, audience, expiry, nonce) instead of allauth's looser default;
- :func:`login` and :func:`callback` serve allauth's OpenID Connect URLs with that adapter
  (allauth's own views build their adapter class directly).

Every request to the provider goes through ``odcm.outbound.policy_session`` (see
``identity.adapters.SocialAccountAdapter.get_requests_session``).
"""

from __future__ import annotations

import secrets
from typing import Any

from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.helpers import render_authentication_error
from allauth.socialaccount.models import SocialApp
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView, OAuth2LoginView
from allauth.socialaccount.providers.openid_connect.provider import OpenIDConnectProvider
from allauth.socialaccount.providers.openid_connect.views import OpenIDConnectOAuth2Adapter
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse
from requests import RequestException

from identity.oidc import TokenRefused, verify_id_token

SESSION_NONCES = "odcm_oidc_nonces"
# Sign-ins started and not finished in one browser session (several tabs) are each honoured.
MAX_PENDING = 5


def _issue_nonce(request: HttpRequest) -> str:
    nonce = secrets.token_urlsafe(24)
    pending = list(request.session.get(SESSION_NONCES, []))[-(MAX_PENDING - 1) :]
    request.session[SESSION_NONCES] = [*pending, nonce]
    return nonce


def _use_nonce(request: HttpRequest, nonce: str) -> None:
    pending = [n for n in request.session.get(SESSION_NONCES, []) if n != nonce]
    request.session[SESSION_NONCES] = pending


class ODCMOpenIDConnectAdapter(OpenIDConnectOAuth2Adapter):
    def complete_login(self, request: HttpRequest, app: Any, token: Any, **kwargs: Any) -> Any:
        raw = (kwargs.get("response") or {}).get("id_token")
        if not raw:
            raise OAuth2Error("The identity provider sent no ID token.")
        try:
            claims = verify_id_token(
                raw,
                keys_url=self.openid_config["jwks_uri"],
                issuer=self.openid_config["issuer"],
                audience=app.client_id,
                nonces=list(request.session.get(SESSION_NONCES, [])),
            )
        except TokenRefused as exc:
            raise OAuth2Error(f"The identity provider's ID token was refused: {exc}.") from None
        except KeyError as exc:
            raise OAuth2Error(f"The provider's discovery document lacks {exc}.") from None
        _use_nonce(request, str(claims["nonce"]))
        data: dict[str, Any] = {"id_token": claims}
        if app.settings.get("fetch_userinfo", True):
            data["userinfo"] = self._userinfo(token.token)
        return self.get_provider().sociallogin_from_response(request, data)

    def _userinfo(self, access_token: str) -> dict[str, Any]:
        with get_adapter().get_requests_session() as session:
            response = session.get(
                self.profile_url, headers={"Authorization": f"Bearer {access_token}"}
            )
            response.raise_for_status()
            info: dict[str, Any] = response.json()
        return info


class ODCMOpenIDConnectProvider(OpenIDConnectProvider):
    oauth2_adapter_class = ODCMOpenIDConnectAdapter
    # allauth builds its URL names from the provider's package; keep allauth's, whose paths
    # identity/oidc_urls.py serves first.
    package = "allauth.socialaccount.providers.openid_connect"

    def get_oauth2_adapter(self, request: HttpRequest) -> ODCMOpenIDConnectAdapter:
        return ODCMOpenIDConnectAdapter(request, self.app.provider_id)

    def redirect(
        self, request: HttpRequest, process: Any, next_url: Any = None, data: Any = None,
        **kwargs: Any,
    ) -> Any:  # fmt: skip
        auth_params = kwargs.pop("auth_params", None)
        if auth_params is None:
            auth_params = self.get_auth_params()
        kwargs["auth_params"] = {**auth_params, "nonce": _issue_nonce(request)}
        try:
            return super().redirect(request, process, next_url, data, **kwargs)
        except (RequestException, OAuth2Error, KeyError, ValueError) as exc:
            # The discovery document could not be read (refused by the outbound-URL policy,
            # unreachable, not JSON): a page saying so, not an error 500.
            message = OAuth2Error(f"The identity provider could not be reached: {exc}")
            return render_authentication_error(request, self, exception=message)


def _view(view_class: Any, request: HttpRequest, provider_id: str) -> HttpResponse:
    try:
        view = view_class.adapter_view(ODCMOpenIDConnectAdapter(request, provider_id))
        response: HttpResponse = view(request)
    except SocialApp.DoesNotExist:
        raise Http404 from None
    return response


@login_not_required
def login(request: HttpRequest, provider_id: str) -> HttpResponse:
    return _view(OAuth2LoginView, request, provider_id)


@login_not_required
def callback(request: HttpRequest, provider_id: str) -> HttpResponse:
    return _view(OAuth2CallbackView, request, provider_id)
