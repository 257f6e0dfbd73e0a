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
    ("Promotions", "promotions:index", "user"),
    ("Managed", "managed:index", "user"),
    ("Pipelines", "rollouts:pipelines", "user"),
    ("Deployments", "rollouts:runs", "user"),
    ("Administration", "administration", "admin"),
]
# Pages that belong to an entry without living under its URL: view name -> entry's URL name.
SECTIONS = {
    "monitoring:instance": "spaces:instances",
    "audit:list": "administration",
}


def nav_items(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    items: list[dict[str, Any]] = []
    for label, name, audience in ENTRIES:
        if audience == "admin" and not user.is_superuser:
            continue
        try:
            url = reverse(name)
        except NoReverseMatch:
            continue
        items.append({"label": label, "name": name, "url": url, "active": False})
    match = getattr(request, "resolver_match", None)
    section = SECTIONS.get(match.view_name) if match else None
    current = next(
        (str(item["url"]) for item in items if item["name"] == section),
        _current(request.path, [str(item["url"]) for item in items]),
    )
    for item in items:
        item["active"] = item["url"] == current
    return {"nav_items": items}


def _current(path: str, urls: list[str]) -> str | None:
    """The one entry a page belongs to: the longest URL that the path starts with (so
    /spaces/instances/… is under Instances, not also under Spaces); "/" only for itself."""
    matches = [url for url in urls if (path == url if url == "/" else path.startswith(url))]
    return max(matches, key=len, default=None)
