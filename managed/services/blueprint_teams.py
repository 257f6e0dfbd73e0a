"""A blueprint's ``teams``: ODCM groups given a role on each target space, as identity
grants. ODCM, not the blueprint, then keeps the Octopus team of each grant (identity's team
sync pushes "ODCM · <group> (<role>)" with the group's members and external groups), so a
blueprint reuses the grants people already manage rather than writing Octopus teams itself.

Planned and applied beside the Octopus kinds, in the database: a missing active grant is a
"create"; prune revokes only grants this blueprint made (``created["teams"]``, grant ids).
"""

from __future__ import annotations

from typing import Any

from identity.models import Grant, Group
from identity.services import GrantError, grant, revoke
from managed.services.content import BlueprintInvalid
from managed.services.octopus_side import Action
from spaces.models import Space

KIND = "teams"


def label(item: dict[str, str]) -> str:
    return f"{item['group']} ({item['role']})"


def _name(row: Grant) -> str:
    holder = row.group.name if row.group is not None else str(row.user)
    return f"{holder} ({row.role})"


def _active(space: Space) -> dict[tuple[str, str], Grant]:
    rows = Grant.objects.filter(
        space=space, revoked_at__isnull=True, group__isnull=False
    ).select_related("group")
    return {(g.group.name.lower(), g.role): g for g in rows if g.group is not None}


def plan_teams(
    content: dict[str, Any],
    space: Space,
    *,
    created: dict[str, dict[str, str]] | None = None,
    prune: bool = False,
) -> list[Action]:
    active = _active(space)
    actions = []
    wanted = set()
    for item in content.get(KIND, []):
        key = (item["group"].lower(), item["role"])
        wanted.add(key)
        verb = "keep" if key in active else "create"
        actions.append(Action(KIND, label(item), verb))
    if prune:
        ours = set((created or {}).get(KIND, {}).values())
        for key, row in active.items():
            if key not in wanted and str(row.pk) in ours:
                actions.append(Action(KIND, _name(row), "delete"))
    return actions


def apply_teams(
    content: dict[str, Any],
    space: Space,
    actions: list[Action],
    created: dict[str, dict[str, str]],
) -> None:
    """Grant what is missing and revoke what prune removes; ``created`` is updated."""
    todo = [a for a in actions if a.kind == KIND and a.verb != "keep"]
    if not todo:
        return
    items = {label(i).lower(): i for i in content.get(KIND, [])}
    mine = created.setdefault(KIND, {})
    active = _active(space)
    for action in todo:
        if action.verb == "delete":
            ours = set(mine.values())
            row = next(
                (g for g in active.values() if str(g.pk) in ours and _name(g) == action.name),
                None,
            )
            if row is not None:
                revoke(row)
                mine.pop(action.name.lower(), None)
            continue
        item = items[action.name.lower()]
        group = Group.objects.filter(name__iexact=item["group"]).first()
        if group is None:
            raise BlueprintInvalid(f"teams: no ODCM group named '{item['group']}'.")
        try:
            row = grant(group, item["role"], space=space)
        except GrantError:  # granted meanwhile (by a person or a concurrent apply)
            continue
        mine[action.name.lower()] = str(row.pk)
