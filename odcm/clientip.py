"""The client's address, behind ``ODCM_TRUSTED_PROXY_HOPS`` reverse proxies.

Each proxy appends the address it received the request from to ``X-Forwarded-For``, so with
N trusted proxies in front of ODCM the client is the (N+1)-th address from the right of
``X-Forwarded-For`` followed by ``REMOTE_ADDR``; anything further left was written by the
client and is ignored. With 0 (the default) only ``REMOTE_ADDR`` counts. ODCM must then be
reachable only through those proxies.

Used by allauth's sign-in limits (``identity.adapters.AccountAdapter.get_client_ip``), the
audit log and DRF's throttles (``NUM_PROXIES``).
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def _clean(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str | None:
    remote = _clean(request.META.get("REMOTE_ADDR"))
    hops = int(getattr(settings, "ODCM_TRUSTED_PROXY_HOPS", 0) or 0)
    if hops <= 0 or remote is None:
        return remote
    forwarded = [
        part.strip()
        for part in str(request.META.get("HTTP_X_FORWARDED_FOR", "")).split(",")
        if part.strip()
    ]
    chain = [*forwarded, remote]
    # Fewer addresses than proxies: the leftmost is the best the proxies can tell.
    candidate = chain[-(hops + 1)] if len(chain) > hops else chain[0]
    return _clean(candidate) or remote
