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


def tiles(user: Any) -> dict[str, Any]:
    """What the tiles page needs for every visible enlisted space, compact enough for 5,000
    spaces: ``instances`` (one dict each) and ``spaces`` as rows ``[id, name, octopus id,
    instance index, projects, targets, starred]``. Four queries, whatever the count."""
    rows = list(
        visible_spaces(user)
        .filter(state=Space.State.ENLISTED)
        .order_by("name", "pk")
        .values_list("id", "name", "octopus_id", "instance_id", "project_count", "target_count")
    )
    instance_ids = {r[3] for r in rows}
    instances = list(
        Instance.objects.filter(pk__in=instance_ids)
        .order_by("name")
        .values_list("id", "name", "region", "version", "status")
    )
    tags: dict[Any, list[str]] = {}
    through = Instance.tags.through
    for inst, tag in (
        through.objects.filter(instance_id__in=instance_ids)
        .order_by("tag__name")
        .values_list("instance_id", "tag__name")
    ):
        tags.setdefault(inst, []).append(tag)
    starred = set(Favourite.objects.filter(user=user.pk).values_list("space_id", flat=True))
    index = {pk: n for n, (pk, *_rest) in enumerate(instances)}
    return {
        "instances": [
            {
                "id": str(pk),
                "name": name,
                "region": region,
                "version": version,
                "status": status,
                "tags": tags.get(pk, []),
            }
            for pk, name, region, version, status in instances
        ],  # fmt: skip
        "spaces": [
            [str(pk), name, octopus_id, index[inst], projects, targets, pk in starred]
            for pk, name, octopus_id, inst, projects, targets in rows
        ],
    }


def search_filter(text: str) -> Q:
    """Space name, instance name, region or tag contains ``text`` (case-insensitive)."""
    return (
        Q(name__icontains=text)
        | Q(instance__name__icontains=text)
        | Q(instance__region__icontains=text)
        | Q(instance__tags__name__icontains=text)
    )
