"""Administrators must set up two-factor authentication when ODCM_REQUIRE_ADMIN_MFA is on;
the index of sessions follows a session whose key changed."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

# Pages an administrator without MFA may still open: setting it up, signing out, static files.
ALLOWED_PREFIXES = ("/accounts/2fa/", "/accounts/logout/", "/accounts/reauthenticate/")


class AdminMFAMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if settings.ODCM_REQUIRE_ADMIN_MFA and self._must_enrol(request):
            if request.path.startswith("/api/"):
                return HttpResponse(
                    "Administrators must set up two-factor authentication first.\n",
                    status=403,
                    content_type="text/plain",
                )
            return redirect(reverse("mfa_activate_totp"))
        return self.get_response(request)

    @staticmethod
    def _must_enrol(request: HttpRequest) -> bool:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or not user.is_superuser:
            return False
        path = request.path
        if path.startswith(ALLOWED_PREFIXES) or path.startswith(settings.STATIC_URL or "/static/"):
            return False
        from allauth.mfa.models import Authenticator

        return not Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()


class SessionIndexMiddleware:
    """After each request, keep the session's index row (``identity.models.SignInSession``)
    on the session's current key (a password change cycles it) and note now and then when it
    was last seen. Placed after the session and authentication middleware."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        from identity.services.sessions import follow

        follow(request)
        return response
