"""The main navigation. An entry appears once the page behind it exists."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

# (label, URL name, who sees it)
ENTRIES = [
    ("Dashboard", "home", "user"),
    ("Spaces", "spaces:list", "user"),
    ("Instances", "spaces:instances", "user"),
    ("Sharing", "sharing:index", "user"),
    ("Administration", "administration", "admin"),
]


def nav_items(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    items = []
    for label, name, audience in ENTRIES:
        if audience == "admin" and not user.is_superuser:
            continue
        try:
            url = reverse(name)
        except NoReverseMatch:
            continue
        active = request.path == url if url == "/" else request.path.startswith(url)
        items.append({"label": label, "url": url, "active": active})
    return {"nav_items": items}
