"""Per-user favourites and recent visits, and what the switcher and the tiles show."""

from __future__ import annotations

import json
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from audit.services import record
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
    visible = Space.objects.visible_to(user).exclude(state=Space.State.GONE)
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


_SPACE_COLUMNS = ("id", "name", "octopus_id", "instance_id", "project_count", "target_count")
# On PostgreSQL the rows leave the database as one JSON text: no Python object per space, so
# 5,000 tiles cost one string (and no garbage-collector pauses).
_PG_ROWS = (
    "SELECT count(*), coalesce(json_agg(json_build_array(t.id::text, t.name, t.octopus_id, "
    "t.instance_id::text, t.project_count, t.target_count) ORDER BY t.name, t.id), "
    "'[]'::json)::text FROM ({inner}) AS t"
)


def _space_rows_json(spaces: Any) -> tuple[int, str]:
    query = spaces.order_by("name", "pk").values_list(*_SPACE_COLUMNS)
    if connection.vendor == "postgresql":
        inner, params = query.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(_PG_ROWS.format(inner=inner), params)
            count, text = cursor.fetchone()
        return int(count), str(text)
    rows = [[str(r[0]), r[1], r[2], str(r[3]), r[4], r[5]] for r in query]
    return len(rows), json.dumps(rows)


def tiles_json(user: Any) -> tuple[str, int]:
    """The tiles page's data as JSON text, and the number of spaces: ``instances`` (one
    object each, with tags), ``starred`` (space ids) and ``spaces`` as rows ``[id, name,
    octopus id, instance id, projects, targets]``. Four queries, whatever the count."""
    spaces = Space.objects.visible_to(user).filter(state=Space.State.ENLISTED)
    instance_ids = spaces.values("instance_id")
    instances = list(
        Instance.objects.filter(pk__in=instance_ids)
        .order_by("name")
        .values_list("id", "name", "region", "version", "status")
    )
    tags: dict[Any, list[str]] = {}
    for inst, tag in (
        Instance.tags.through.objects.filter(instance_id__in=instance_ids)
        .order_by("tag__name")
        .values_list("instance_id", "tag__name")
    ):
        tags.setdefault(inst, []).append(tag)
    starred = [
        str(pk) for pk in Favourite.objects.filter(user=user.pk).values_list("space_id", flat=True)
    ]
    count, rows = _space_rows_json(spaces)
    head = json.dumps(
        {
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
            "starred": starred,
        }
    )
    return head[:-1] + ', "spaces": ' + rows + "}", count


def search_filter(text: str) -> Q:
    """Space name, instance name, region or tag contains ``text`` (case-insensitive).

    The instance half is matched on instances (a few hundred rows, with their tags) and
    applied as one ``IN``: joining every space to its instance's tags first made the search
    compare thousands of space × tag rows."""
    instances = Instance.objects.filter(
        Q(name__icontains=text) | Q(region__icontains=text) | Q(tags__name__icontains=text)
    ).values("pk")
    return Q(name__icontains=text) | Q(instance_id__in=instances)
