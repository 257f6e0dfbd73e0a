"""Finding a space (or an instance, or what other apps hold) by name: the navbar switcher's
type-ahead and the search page. A few queries, whatever the size of the fleet; only what
``identity.access`` lets the user see; nothing calls Octopus."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from spaces import signals
from spaces.models import Instance, Space
from spaces.services.people import search_filter

LIMIT = 20


@dataclass
class Results:
    text: str
    spaces: list[Space] = field(default_factory=list)
    instances: list[Instance] = field(default_factory=list)
    # Other apps' hits by group ("Shared items": [...]).
    others: dict[str, list[signals.SearchHit]] = field(default_factory=dict)

    @property
    def count(self) -> int:
        others = sum(len(hits) for hits in self.others.values())
        return len(self.spaces) + len(self.instances) + others


def clean(text: Any) -> str:
    # PostgreSQL refuses NUL in text; a very long query matches nothing useful.
    return str(text or "").replace("\x00", "").strip()[:100]


def find_spaces(user: Any, text: str, limit: int = LIMIT) -> list[Space]:
    """Visible spaces (not gone from Octopus) whose name, instance, region or tag matches;
    names that start with ``text`` first. One query."""
    text = clean(text)
    if not text:
        return []
    ids = (
        Space.objects.visible_to(user)
        .exclude(state=Space.State.GONE)
        .filter(search_filter(text))
        .values("pk")
    )
    return sorted(
        Space.objects.filter(pk__in=ids).select_related("instance")[: limit * 5],
        key=lambda s: (not s.name.lower().startswith(text.lower()), s.name.lower(),
                       s.instance.name.lower()),
    )[:limit]  # fmt: skip


def search(user: Any, text: str, limit: int = LIMIT) -> Results:
    """Spaces, instances, and what the apps above the registry contribute."""
    text = clean(text)
    results = Results(text)
    if not text:
        return results
    results.spaces = find_spaces(user, text, limit)
    results.instances = list(
        Instance.objects.visible_to(user).filter(name__icontains=text).order_by("name")[:limit]
    )
    for _receiver, hits in signals.search.send(sender=None, user=user, text=text, limit=limit):
        for hit in hits or []:
            if isinstance(hit, signals.SearchHit):
                results.others.setdefault(hit.kind, []).append(hit)
    return results
