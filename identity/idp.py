"""ODCM as the OpenID Connect provider of the Octopus instances (``allauth.idp.oidc``).

allauth serves discovery, the JWKS, the authorization, token and userinfo endpoints; ODCM adds,
through allauth's documented adapter (``IDP_OIDC_ADAPTER``):

- the issuer is ODCM's configured public address (``ODCM_SITE_URL``), never the host name a
  request happened to use;
- the id_token and userinfo carry the person's ODCM groups (``groups``: ``odcm:<group id>``),
  the claim an Octopus instance maps to its teams' external security groups; ODCM's managed
  teams carry the same values (``identity.services.teams``);
- the email claim falls back to the account's email when allauth has no address row for it
  (accounts created by an administrator).

And one view of its own: Octopus asks for ``response_mode=form_post`` (its callback accepts
POST only); allauth answers with a redirect, so :func:`authorize` turns that redirect into the
self-submitting form of OAuth 2.0 Form Post Response Mode (the script is a static file: CSP).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from allauth.idp.oidc import views as allauth_views
from allauth.idp.oidc.adapter import DefaultOIDCAdapter
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.clickjacking import xframe_options_deny
from django.views.decorators.csrf import csrf_exempt

from identity.models import GROUPS_CLAIM, group_claim_value, person_claim_value

# What a client's ``data`` says when ODCM registered it for an Octopus instance.
OCTOPUS_CLIENT = "octopus-instance"


def is_octopus_client(client: Any) -> bool:
    return isinstance(client.data, dict) and client.data.get("kind") == OCTOPUS_CLIENT


def groups_of(user: Any) -> list[str]:
    """The ``groups`` claim of ``user``: every ODCM group they belong to (directly or through
    an external group stored at their last sign-in), and ``odcm:user:<uuid>`` when a grant is
    given to them alone (the value their own managed teams carry)."""
    from identity.access import user_groups
    from identity.models import Grant

    found = [group_claim_value(pk) for pk in user_groups(user).values_list("pk", flat=True)]
    if Grant.objects.filter(user=user.pk, revoked_at__isnull=True).exists():
        found.append(person_claim_value(user.uuid))
    return sorted(found)


class ODCMOIDCAdapter(DefaultOIDCAdapter):
    scope_display = {
        **DefaultOIDCAdapter.scope_display,
        "groups": _("View the ODCM groups you belong to"),
    }

    def get_issuer(self) -> str:
        return str(settings.ODCM_SITE_URL).rstrip("/")

    def get_claims(
        self,
        purpose: Literal["id_token", "userinfo"],
        user: AbstractBaseUser,
        client: Any,
        scopes: Iterable[str],
        email: str | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        scopes = list(scopes)
        claims = super().get_claims(purpose, user, client, scopes, email=email, **kwargs)
        address = str(getattr(user, "email", None) or "")
        if "email" in scopes and "email" not in claims and address:
            # An administrator-made account has no allauth address row; its email is still
            # what the administrator typed, so it is not claimed as verified.
            claims.update({"email": address, "email_verified": False})
        if "profile" in scopes and "preferred_username" not in claims:
            claims["preferred_username"] = user.get_username()
        if "groups" in scopes or is_octopus_client(client):
            claims[GROUPS_CLAIM] = groups_of(user)
        return claims


def _form_post(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """The client's redirect (``?code=…&state=…`` or ``?error=…``) as an auto-posted form."""
    parts = urlsplit(response["Location"])
    fields = parse_qsl(parts.query, keep_blank_values=True)
    if not any(name in ("code", "error") for name, _value in fields):
        return response  # not the answer to the client (the sign-in page, say): unchanged
    action = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    page = render(request, "identity/form_post.html", {"action": action, "fields": fields})
    page["Cache-Control"] = "no-store"
    return page


def _has_nul(request: HttpRequest) -> bool:
    """A NUL byte in a parameter: PostgreSQL cannot store it, so it is refused up front."""
    return any("\x00" in v for q in (request.GET, request.POST) for vs in q.lists() for v in vs[1])


def _bad_request() -> HttpResponse:
    return JsonResponse(
        {"error": "invalid_request", "error_description": "A parameter holds a NUL byte."},
        status=400,
    )


def guarded(view: Any) -> Any:
    """allauth's endpoints, refusing NUL bytes with a 400 instead of failing in the database."""

    @csrf_exempt
    @login_not_required
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if _has_nul(request):
            return _bad_request()
        response: HttpResponse = view(request, *args, **kwargs)
        return response

    return wrapper


@login_not_required
@xframe_options_deny
def authorize(request: HttpRequest) -> HttpResponse:
    """allauth's authorization endpoint, with ``response_mode=form_post`` honoured."""
    if _has_nul(request):
        return _bad_request()
    response: HttpResponse = allauth_views.authorization(request)
    mode = request.GET.get("response_mode") or request.POST.get("response_mode")
    if mode == "form_post" and response.status_code == 302 and response.has_header("Location"):
        return _form_post(request, response)
    return response
