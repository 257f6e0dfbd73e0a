"""Shared items in the global search (spaces.signals.search): names the user may see."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from sharing.access import visible_items
from spaces.signals import SearchHit


def shared_items(sender: Any, user: Any, text: str, limit: int, **kwargs: Any) -> list[SearchHit]:
    items = (
        visible_items(user)
        .filter(name__icontains=text)
        .select_related("publisher__instance")
        .order_by("name")[:limit]
    )
    return [
        SearchHit(
            "Shared items",
            item.name,
            reverse("sharing:item", args=[item.pk]),
            f"{item.get_kind_display()} from {item.publisher}",  # "Space (instance)"
        )
        for item in items
    ]
