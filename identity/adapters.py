"""django-allauth hooks: local accounts are created by administrators, not by sign-up; single
sign-on may create accounts on first sign-in (``ODCM_OIDC_SIGNUP=open``) or only sign in
people an administrator invited (an account with their email, the default)."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.conf import settings
from django.http import HttpRequest


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return False


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
