"""django-allauth hooks: local accounts are created by administrators, not by sign-up; single
sign-on may create accounts on first sign-in (``ODCM_OIDC_SIGNUP=open``) or only sign in
people an administrator invited (an account with their email, the default)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.conf import settings
from django.http import HttpRequest


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

    def format_email_subject(self, subject: str) -> str:
        return f"[{odcm_site().name}] {subject}"

    def send_mail(self, template_prefix: str, email: str, context: dict[str, Any]) -> None:
        super().send_mail(template_prefix, email, {**context, "current_site": odcm_site()})

    def get_reset_password_from_key_url(self, key: str) -> str:
        # The link points at ODCM's public address, whatever host the request came in on.
        path = urlsplit(super().get_reset_password_from_key_url(key)).path
        return odcm_site().domain + path


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest, sociallogin: Any) -> bool:
        return bool(settings.ODCM_OIDC_SIGNUP == "open")

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
