"""The projects of enlisted spaces, as stored for finding them by name.

Monitoring's inventory sweep reads each space's projects from Octopus and hands them here;
nothing in this module calls Octopus. A space's rows are replaced as a whole, in one
transaction per space, and only what changed is written: a sweep of an unchanged fleet
writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from spaces.models import Project, Space


@dataclass(frozen=True)
class ProjectRow:
    """One project as Octopus listed it (``/api/{space}/projects/all``)."""

    octopus_id: str
    name: str
    slug: str = ""
    group_name: str = ""
    is_disabled: bool = False

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any], groups: Mapping[str, str]) -> ProjectRow:
        """From an Octopus project document; ``groups`` maps project group ids to names."""
        return cls(
            octopus_id=str(doc.get("Id") or "")[:50],
            name=str(doc.get("Name") or "")[:200],
            slug=str(doc.get("Slug") or "")[:200],
            group_name=str(groups.get(str(doc.get("ProjectGroupId") or ""), ""))[:200],
            is_disabled=bool(doc.get("IsDisabled")),
        )


_FIELDS = ("name", "slug", "group_name", "is_disabled")


def replace_projects(found: Mapping[Any, Sequence[ProjectRow]]) -> dict[str, int]:
    """Make each space's stored projects those of ``found`` (space pk -> rows): new ones
    added, renamed or changed ones updated, missing ones removed. Spaces no longer enlisted
    by now are left alone (they keep no projects). Returns what changed."""
    summary = {"added": 0, "changed": 0, "removed": 0}
    if not found:
        return summary
    enlisted = set(
        Space.objects.filter(pk__in=list(found), state=Space.State.ENLISTED).values_list(
            "pk", flat=True
        )
    )
    stored: dict[Any, dict[str, tuple[Any, ...]]] = {}
    existing = Project.objects.filter(space_id__in=enlisted)
    for space_id, octopus_id, *values in existing.values_list("space_id", "octopus_id", *_FIELDS):
        stored.setdefault(space_id, {})[octopus_id] = tuple(values)
    for space_id, rows in found.items():
        if space_id in enlisted:
            _apply(space_id, rows, stored.get(space_id, {}), summary)
    return summary


def _apply(
    space_id: Any,
    rows: Sequence[ProjectRow],
    stored: dict[str, tuple[Any, ...]],
    summary: dict[str, int],
) -> None:
    wanted = {row.octopus_id: row for row in rows if row.octopus_id and row.name}
    gone = [octopus_id for octopus_id in stored if octopus_id not in wanted]
    writes = [
        Project(space_id=space_id, octopus_id=octopus_id,
                **{f: getattr(row, f) for f in _FIELDS})
        for octopus_id, row in wanted.items()
        if stored.get(octopus_id) != tuple(getattr(row, f) for f in _FIELDS)
    ]  # fmt: skip
    if not gone and not writes:
        return
    with transaction.atomic():
        if gone:
            Project.objects.filter(space_id=space_id, octopus_id__in=gone).delete()
        if writes:
            Project.objects.bulk_create(
                writes,
                update_conflicts=True,
                unique_fields=["space", "octopus_id"],
                update_fields=list(_FIELDS),
                batch_size=500,
            )
    summary["removed"] += len(gone)
    added = sum(1 for p in writes if p.octopus_id not in stored)
    summary["added"] += added
    summary["changed"] += len(writes) - added


def drop_projects(space_ids: Iterable[Any]) -> int:
    """Forget the projects of spaces that are gone from Octopus or no longer enlisted: no
    sweep refreshes them any more, so they would only go stale."""
    ids = list(space_ids)
    if not ids:
        return 0
    return int(Project.objects.filter(space_id__in=ids).delete()[0])
