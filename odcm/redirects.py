"""The one way to follow a ``next`` a browser sent: only to a path on this site.

Every view that redirects to a ``next`` value (a form field or a query parameter) goes through
:func:`safe_next` or :func:`redirect_next`. Anything else (another host, a scheme-relative
``//host``, a backslash trick, a bare word that is not a path) falls back to the default, so
a hostile or malformed ``next`` neither leaves the site nor raises after the action was done.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import resolve_url
from django.utils.http import url_has_allowed_host_and_scheme


def is_safe_next(request: HttpRequest, value: object) -> bool:
    if not isinstance(value, str) or not value.startswith("/") or len(value) > 2000:
        return False
    if any(ch in value for ch in "\\\r\n\t\x00") or value.startswith("//"):
        return False
    return url_has_allowed_host_and_scheme(
        value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )


def safe_next(request: HttpRequest, value: object, *, default: str, **kwargs: Any) -> str:
    """``value`` if it is a path on this site, else ``default`` (a URL name or a path;
    ``kwargs`` are the URL name's arguments)."""
    if is_safe_next(request, value):
        return str(value)
    return str(resolve_url(default, **kwargs))


def redirect_next(request: HttpRequest, default: str, **kwargs: Any) -> HttpResponseRedirect:
    """Redirect to the request's ``next`` (POST, then GET) when it is safe, else to
    ``default``."""
    value = request.POST.get("next") or request.GET.get("next")
    return HttpResponseRedirect(safe_next(request, value, default=default, **kwargs))
