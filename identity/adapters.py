"""django-allauth hooks: local accounts are created by administrators, not by sign-up; single
sign-on may create accounts on first sign-in (``ODCM_OIDC_SIGNUP=open``) or only sign in
people an administrator invited (an account with their email, the default)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.apps import apps
from django.conf import settings
from django.http import HttpRequest

from odcm.mail import header_text


def account_key(credentials: dict[str, Any]) -> str:
    """The per-account sign-in limit's key: the account, whatever identifier was typed
    (username or any of its email addresses); the typed text only when no account has it."""
    from django.db.models import Q

    from identity.models import User

    typed = str(credentials.get("email") or credentials.get("username") or "").strip()
    if not typed:
        return "login:"
    match = Q(username__iexact=typed) | Q(email__iexact=typed)
    if apps.is_installed("allauth.account"):
        match |= Q(emailaddress__email__iexact=typed)
    pk = User.objects.filter(match).values_list("pk", flat=True).first()
    return f"user:{pk}" if pk is not None else f"login:{typed.lower()}"


@dataclass(frozen=True)
class Site:
    """What account emails call the site: ODCM at its configured URL, never the host name a
    request happened to use (``127.0.0.1:8300``)."""

    name: str
    domain: str


def odcm_site() -> Site:
    return Site(name="ODCM", domain=settings.ODCM_SITE_URL.rstrip("/"))


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return False

    def _get_login_attempts_cache_key(self, request: HttpRequest, **credentials: Any) -> str:
        # allauth keys its failed-sign-in limit (and its reset after a password reset) by
        # this value; ODCM counts per account, so typing the email after the username is
        # locked buys no more guesses (tests/identity/test_login.py guards this hook).
        return account_key(credentials)

    def get_client_ip(self, request: HttpRequest) -> str:
        """Behind ODCM_TRUSTED_PROXY_HOPS proxies, the client's address (not the proxy's)."""
        from odcm.clientip import client_ip

        return client_ip(request) or super().get_client_ip(request)

    def format_email_subject(self, subject: str) -> str:
        return header_text(f"[{odcm_site().name}] {subject}")

    def send_mail(self, template_prefix: str, email: str, context: dict[str, Any]) -> None:
        super().send_mail(template_prefix, email, {**context, "current_site": odcm_site()})

    def get_reset_password_from_key_url(self, key: str) -> str:
        # The link points at ODCM's public address, whatever host the request came in on.
        path = urlsplit(super().get_reset_password_from_key_url(key)).path
        return odcm_site().domain + path


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def get_requests_session(self) -> Any:
        """Every request allauth makes to an identity provider (discovery, keys, token,
        userinfo) passes ODCM's outbound-URL policy."""
        from odcm.outbound import policy_session

        return policy_session()

    def is_open_for_signup(self, request: HttpRequest, sociallogin: Any) -> bool:
        if settings.ODCM_OIDC_SIGNUP == "open":
            return True
        # Invite-only: open to the person whose invitation this browser opened, signing in
        # through the invitation's provider with the invited address.
        from identity.services.invitations import pending_for

        invitation = pending_for(request, sociallogin.account.provider)
        email = str(getattr(sociallogin.user, "email", "") or "").casefold()
        return invitation is not None and invitation.email.casefold() == email

    def on_authentication_error(
        self,
        request: HttpRequest,
        provider: Any,
        error: Any = None,
        exception: Any = None,
        extra_context: Any = None,
    ) -> None:
        from audit.services import record

        reason = str(exception) if exception is not None else str(error or "unknown")
        name = getattr(getattr(provider, "app", None), "name", "") or getattr(provider, "id", "")
        record("auth.sso_failed", request=request, message=f"{name}: {reason}"[:1000])
