"""Per-user favourites and recent visits, and what the switcher and the tiles show."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.services import record
from identity.access import visible_spaces
from spaces.models import Favourite, Instance, RecentVisit, Space

RECENT_LIMIT = 8


def set_favourite(user: Any, space: Space, starred: bool) -> bool:
    """Star or unstar ``space`` for ``user``. Returns whether it is starred now."""
    with transaction.atomic():
        if starred:
            _, created = Favourite.objects.get_or_create(user=user, space=space)
            if created:
                record("space.favourite", actor=user, obj=space)
        elif Favourite.objects.filter(user=user, space=space).delete()[0]:
            record("space.unfavourite", actor=user, obj=space)
    return starred


def record_visit(user: Any, space: Space) -> None:
    """Remember that ``user`` opened ``space`` now (one upsert)."""
    RecentVisit.objects.bulk_create(
        [RecentVisit(user=user, space=space, visited_at=timezone.now())],
        update_conflicts=True,
        unique_fields=["user", "space"],
        update_fields=["visited_at"],
    )


def switcher(user: Any) -> dict[str, list[Space]]:
    """Favourites, then the last visited spaces that are not favourites. Two queries."""
    visible = visible_spaces(user).exclude(state=Space.State.GONE)
    favourites = list(
        visible.filter(favourites__user=user.pk).select_related("instance").order_by("name")
    )
    fav_ids = [s.pk for s in favourites]
    recents = list(
        visible.filter(recent_visits__user=user.pk)
        .exclude(pk__in=fav_ids)
        .select_related("instance")
        .order_by("-recent_visits__visited_at")[:RECENT_LIMIT]
    )
    return {"favourites": favourites, "recents": recents}


def tiles(user: Any, *, include_all_states: bool = False) -> list[dict[str, Any]]:
    """One row per visible space for the tiles page, as plain values. Three queries."""
    spaces = visible_spaces(user).select_related("instance")
    if not include_all_states:
        spaces = spaces.filter(state=Space.State.ENLISTED)
    rows: list[dict[str, Any]] = [
        dict(r)
        for r in spaces.order_by("name", "instance__name").values(
            "id",
            "name",
            "octopus_id",
            "project_count",
            "target_count",
            "unhealthy_target_count",
            "is_default",
            "instance_id",
            "instance__name",
            "instance__region",
            "instance__version",
            "instance__status",
            "instance__base_url",
        )
    ]
    instance_ids = {r["instance_id"] for r in rows}
    tags: dict[Any, list[str]] = {}
    through = Instance.tags.through
    for inst, tag in through.objects.filter(instance_id__in=instance_ids).values_list(
        "instance_id", "tag__name"
    ):
        tags.setdefault(inst, []).append(tag)
    starred = set(
        Space.objects.filter(favourites__user=user.pk).values_list("pk", flat=True) if rows else []
    )
    for r in rows:
        r["tags"] = sorted(tags.get(r["instance_id"], []))
        r["starred"] = r["id"] in starred
    return rows


def search_filter(text: str) -> Q:
    """Space name, instance name, region or tag contains ``text`` (case-insensitive)."""
    return (
        Q(name__icontains=text)
        | Q(instance__name__icontains=text)
        | Q(instance__region__icontains=text)
        | Q(instance__tags__name__icontains=text)
    )
