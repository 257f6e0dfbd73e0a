"""Finding a space (or an instance, a project, or what other apps hold) by name: the navbar
switcher's type-ahead and the search page. A few queries, whatever the size of the fleet;
only what ``identity.access`` lets the user see; nothing calls Octopus (projects are the
ones the inventory sweep stored)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Case, IntegerField, Value, When

from spaces import signals
from spaces.models import Instance, Project, Space
from spaces.services.people import search_filter

LIMIT = 20


@dataclass
class Results:
    text: str
    spaces: list[Space] = field(default_factory=list)
    instances: list[Instance] = field(default_factory=list)
    projects: list[Project] = field(default_factory=list)
    # Other apps' hits by group ("Shared items": [...]).
    others: dict[str, list[signals.SearchHit]] = field(default_factory=dict)

    @property
    def count(self) -> int:
        others = sum(len(hits) for hits in self.others.values())
        return len(self.spaces) + len(self.instances) + len(self.projects) + others


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


def find_projects(user: Any, text: str, limit: int = LIMIT) -> list[Project]:
    """Projects whose name contains ``text`` (case-insensitive), in enlisted spaces the user
    may see; names that start with ``text`` first. One query, ``space`` and its
    ``instance`` selected."""
    text = clean(text)
    if not text:
        return []
    spaces = Space.objects.visible_to(user).filter(state=Space.State.ENLISTED).values("pk")
    prefix = Case(
        When(name__istartswith=text, then=Value(0)), default=Value(1), output_field=IntegerField()
    )
    return list(
        Project.objects.filter(space_id__in=spaces, name__icontains=text)
        .select_related("space__instance")
        .order_by(prefix, "name", "space__instance__name", "space__name", "pk")[:limit]
    )


def search(user: Any, text: str, limit: int = LIMIT) -> Results:
    """Spaces, instances, projects, and what the apps above the registry contribute."""
    text = clean(text)
    results = Results(text)
    if not text:
        return results
    results.spaces = find_spaces(user, text, limit)
    results.projects = find_projects(user, text, limit)
    results.instances = list(
        Instance.objects.visible_to(user).filter(name__icontains=text).order_by("name")[:limit]
    )
    for _receiver, hits in signals.search.send(sender=None, user=user, text=text, limit=limit):
        for hit in hits or []:
            if isinstance(hit, signals.SearchHit):
                results.others.setdefault(hit.kind, []).append(hit)
    return results
