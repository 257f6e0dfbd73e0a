"""Grants pushed into Octopus: one managed team per (space, group, role), or per (space,
person, role) for grants given to one person.

The HTTP side lives in ``identity.services.team_push``; this module owns the rows, plans
and outcomes.

The work is split in three so that only the middle part waits on the network:

1. ``plan_spaces`` (database): what every managed team of the given spaces should look like.
2. ``execute_all`` (HTTP only, every space at once through ``odcm.fanout``): read the
   instance's users, roles and the space's teams, then create, repair or delete the managed
   teams and their scoped roles.
3. ``record`` (database): each team's outcome, recorded only if nobody changed what it
   should look like in the meantime; failures get a retry time with backoff.

A managed team's row exists before Octopus is touched (``ManagedTeam``), so a revoke is never
lost: the row stays, ``wanted=False``, until the team is gone from Octopus. Teams without a
row are never touched.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, F, OuterRef, Q
from django.utils import timezone

from audit.services import entry as audit_entry
from audit.services import record_many
from identity.models import (
    ExternalGroup,
    Grant,
    GrantTarget,
    Group,
    ManagedTeam,
    Role,
    RoleMapping,
    SyncState,
    TeamSync,
    User,
    UserExternalGroup,
    default_role_mapping,
    group_claim_value,
    person_claim_value,
    space_model,
)
from identity.services.team_push import (
    InstancePlan,
    SpacePlan,
    TeamOutcome,
    TeamPlan,
    execute_all,
)
from odcm import fanout, work
from odcm.bulk import update_each

log = logging.getLogger(__name__)

# Renewed while a push runs (odcm.work.kept, every quarter of it): a push of any length keeps
# its spaces, and a killed worker's spaces wait at most this long for the next push.
LOCK_SECONDS = 15


def team_name(group_name: str, role: str) -> str:
    return f"ODCM · {group_name} ({Role(role).label})"[:200]


def person_team_name(username: str, role: str) -> str:
    return f"ODCM · {username} alone ({Role(role).label})"[:200]


# Who holds a grant or a managed team: "g:<group id>" or "u:<user id>". Teams, grants and
# their outcomes are matched on (space, holder, role).


def holder_of(group_id: Any, user_id: Any) -> str:
    if group_id is not None:
        return f"g:{group_id}"
    return f"u:{user_id}" if user_id is not None else "-:"  # "-": its group or person is gone


# ------------------------------------------------------------------ desired state (rows)


def reach(grant: Grant, *, with_targets: bool = False) -> tuple[list[Any], dict[Any, Any]]:
    """The spaces a grant's change concerns, and the enlisted ones of them with their instance
    (for ``ensure_rows(..., enlisted=...)``), in one query: the enlisted spaces it reaches (one
    space, or every space of an instance) and, ``with_targets``, every space it has a
    ``GrantTarget`` in (a revoke: spaces since un-enlisted too)."""
    state = space_model().State.ENLISTED
    covered = Q(pk=grant.space_id) if grant.space_id is not None else Q(instance=grant.instance_id)
    where = covered & Q(state=state)
    if with_targets:
        where |= Q(pk__in=GrantTarget.objects.filter(grant=grant.pk).values("space"))
    ids: list[Any] = []
    enlisted: dict[Any, Any] = {}
    found = space_model().objects.filter(where).order_by()
    for pk, instance_id, space_state in found.values_list("pk", "instance_id", "state"):
        ids.append(pk)
        if space_state == state:
            enlisted[pk] = instance_id
    return ids, enlisted


def _holds(mt: ManagedTeam, holder: str) -> bool:
    """Whether ``holder`` ("g:<id>", "u:<id>", "-:") holds this team, and it alone."""
    kind, _, pk = holder.partition(":")
    if kind == "g":
        return mt.user_id is None and str(mt.group_id) == pk
    if kind == "u":
        return mt.group_id is None and str(mt.user_id) == pk
    return mt.group_id is None and mt.user_id is None


def ensure_rows(
    space_ids: Iterable[Any],
    *,
    enlisted: dict[Any, Any] | None = None,
    bump: tuple[str, str] | None = None,
) -> list[str]:
    """Bring ``ManagedTeam`` and ``GrantTarget`` rows in line with the grants for these spaces.

    ``enlisted``: the enlisted spaces among them and their instance, if the caller has read
    them already (``reach``). ``bump``: (holder, role) whose existing teams in these spaces
    are pushed again (a grant reaching them was added or revoked: their scoped roles change).

    Returns the ids of spaces that now have work to do. Call inside a transaction. A few
    statements whatever the number of spaces, teams and grants: every team of the spaces
    locked and read at once (in ``lock``'s order), the grants and their targets read in one
    query, one statement per kind of write.
    """
    ids = _uuids(space_ids)
    if not ids:
        return []
    rows = locked(ManagedTeam.objects.filter(space__in=ids))
    if enlisted is None:
        spaces = space_model().objects.filter(pk__in=ids, state=space_model().State.ENLISTED)
        enlisted = dict(spaces.order_by().values_list("pk", "instance_id"))
    by_instance: dict[Any, list[Any]] = {}
    for pk, inst in enlisted.items():
        by_instance.setdefault(inst, []).append(pk)
    # (space id, holder, role) for every active grant reaching these enlisted spaces, and
    # the GrantTarget rows (grant, space) it should have: one per space it names (a space
    # grant), or per enlisted space of its instance.
    wanted: set[tuple[str, str, str]] = set()
    names: dict[str, str] = {}
    new_targets: list[tuple[Any, Any]] = []
    partial: dict[Any, list[Any]] = {}
    enlisted_ids = list(enlisted)
    grants = (
        Grant.objects.filter(revoked_at__isnull=True)
        .filter(Q(space__in=ids) | Q(instance__in=list(by_instance)))
        .order_by()
        .values_list(
            "pk",
            "space_id",
            "instance_id",
            "group_id",
            "user_id",
            "role",
            "group__name",
            "user__username",
        )
        .annotate(
            # Of those target rows, how many exist: all (nothing to write), none (all to
            # write), or some (read which).
            have=Count(
                "targets",
                filter=Q(space__isnull=False, targets__space=F("space"))
                | Q(instance__isnull=False, targets__space__in=enlisted_ids),
            ),
        )
    )
    for grant_id, space_id, instance_id, group_id, user_id, role, name, username, have in grants:
        holder = holder_of(group_id, user_id)
        names[holder] = name if group_id is not None else username
        if space_id is not None:
            targets = [space_id]
            reaches = targets if space_id in enlisted else []
        else:
            targets = reaches = by_instance.get(instance_id, [])
        wanted.update((str(space), holder, role) for space in reaches)
        if not have:
            new_targets += [(grant_id, space) for space in targets]
        elif have != len(targets):
            partial[grant_id] = targets
    if partial:
        existing = set(
            GrantTarget.objects.filter(grant__in=list(partial), space__in=ids)
            .order_by()
            .values_list("grant_id", "space_id")
        )
        new_targets += [
            (grant_id, space)
            for grant_id, targets in partial.items()
            for space in targets
            if (grant_id, space) not in existing
        ]
    current: dict[tuple[str, str, str], ManagedTeam] = {}
    flips: dict[Any, bool] = {}
    bumped: set[Any] = set()
    for mt in rows:
        if mt.group_id is None and mt.user_id is None:
            # Its group (or person) was deleted: the team goes.
            if mt.wanted:
                flips[mt.pk] = False
            continue
        key = (str(mt.space_id), holder_of(mt.group_id, mt.user_id), mt.role)
        current[key] = mt
        if mt.wanted != (key in wanted):
            flips[mt.pk] = key in wanted
        if bump is not None and mt.role == bump[1] and _holds(mt, bump[0]):
            bumped.add(mt.pk)
    new = []
    for space_id, holder, role in sorted(wanted - current.keys()):
        if holder.startswith("g:"):
            new.append(
                ManagedTeam(
                    space_id=space_id,
                    group_id=holder[2:],
                    role=role,
                    name=team_name(names[holder], role),
                )
            )
        else:
            new.append(
                ManagedTeam(
                    space_id=space_id,
                    user_id=holder[2:],
                    role=role,
                    name=person_team_name(names[holder], role),
                )
            )
    ManagedTeam.objects.bulk_create(new)  # one statement: a grant on 200 spaces made 200
    # The bumped and flipped teams in one statement, as _bump would (pending, a new version
    # for each change, retried at once), the rows being locked since they were read.
    changed = [mt for mt in rows if mt.pk in bumped or mt.pk in flips]
    if changed:
        _pend_targets(
            ManagedTeam.objects.filter(pk__in=[mt.pk for mt in changed]),
            sorted({mt.space_id for mt in changed}),
        )
        update_each(
            ManagedTeam,
            [
                {
                    "id": mt.pk,
                    "version": mt.version + (mt.pk in bumped) + (mt.pk in flips),
                    "wanted": flips.get(mt.pk, mt.wanted),
                }
                for mt in changed
            ],
            fields=["version", "wanted"],
            also={"state": SyncState.PENDING, "next_retry_at": None, "attempts": 0},
        )
    GrantTarget.objects.bulk_create(
        [GrantTarget(grant_id=g, space_id=s) for g, s in new_targets], ignore_conflicts=True
    )
    touched = {str(mt.space_id) for mt in new}
    touched.update(
        str(mt.space_id)
        for mt in rows
        if mt.pk in bumped or mt.pk in flips or mt.state != SyncState.APPLIED
    )
    return sorted(touched)


def _uuids(values: Iterable[Any]) -> list[uuid.UUID]:
    return [v if isinstance(v, uuid.UUID) else uuid.UUID(str(v)) for v in values]


def lock(rows: Any) -> list[Any]:
    """Lock managed team rows in primary-key order, the one order every writer takes (a
    revoke bumping a group's teams and a worker recording a push would otherwise deadlock).
    Returns their primary keys."""
    return list(rows.order_by("pk").select_for_update(of=("self",)).values_list("pk", flat=True))


def locked(rows: Any) -> list[ManagedTeam]:
    """``lock``, returning the rows themselves (what ``ensure_rows`` reads of them)."""
    return list(
        rows.order_by("pk")
        .select_for_update(of=("self",))
        .only("pk", "space_id", "group_id", "user_id", "role", "wanted", "version", "state")
    )


def _bump(rows: Any, **changes: Any) -> int:
    """Mark rows as changed: pending, a new version, retried at once. The grants they serve
    are pending in those spaces too until the push lands (a group's new member is not yet in
    its teams: the grant's page must not say "applied")."""
    with transaction.atomic():
        if not lock(rows):
            return 0  # nothing to bump (a new grant's teams): skip the targets' UPDATE
        _pend_targets(rows)
        return int(
            rows.update(
                version=F("version") + 1,
                state=SyncState.PENDING,
                next_retry_at=None,
                attempts=0,
                **changes,
            )
        )


def _pend_targets(rows: Any, spaces: list[Any] | None = None) -> None:
    """Set the (grant, space) rows served by these managed teams back to pending. ``spaces``:
    the teams' spaces if known (a target is only ever served in its own space: only those
    spaces' targets are looked at, not every target of every grant)."""
    teams = ManagedTeam.objects.filter(
        pk__in=rows.values("pk"), space=OuterRef("space"), role=OuterRef("grant__role")
    )
    served = Exists(teams.filter(group=OuterRef("grant__group"))) | Exists(
        teams.filter(user=OuterRef("grant__user"))
    )
    targets = GrantTarget.objects.filter(
        space__in=rows.values("space") if spaces is None else spaces
    )
    targets.filter(served).update(state=SyncState.PENDING, next_retry_at=None, attempts=0)


def _scopes(rows: list[ManagedTeam]) -> dict[str, list[dict[str, list[str]]]]:
    """Per managed team: the scopes of the active grants behind it (``{}`` for a grant on the
    whole space), one scoped user role set each, in a stable order."""
    group_ids = {mt.group_id for mt in rows if mt.group_id is not None}
    user_ids = {mt.user_id for mt in rows if mt.user_id is not None}
    active = (
        Grant.objects.filter(Q(group__in=group_ids) | Q(user__in=user_ids))
        .filter(revoked_at__isnull=True)
        .values_list("group_id", "user_id", "role", "space_id", "instance_id", "scope")
    )
    by_key: dict[tuple[str, str], list[tuple[Any, Any, dict[str, list[str]]]]] = {}
    for group_id, user_id, role, space_id, instance_id, scope in active:
        by_key.setdefault((holder_of(group_id, user_id), role), []).append(
            (space_id, instance_id, scope or {})
        )
    found: dict[str, list[dict[str, list[str]]]] = {}
    for mt in rows:
        holder = holder_of(mt.group_id, mt.user_id)
        scopes = {
            json.dumps(scope, sort_keys=True)
            for space_id, instance_id, scope in by_key.get((holder, mt.role), [])
            if space_id == mt.space_id or instance_id == mt.space.instance_id
        }
        found[str(mt.pk)] = [json.loads(raw) for raw in sorted(scopes)] or [{}]
    return found


def bump_group(group: Group) -> list[str]:
    """The group's name, members or external groups changed: its teams need a push."""
    rows = ManagedTeam.objects.filter(group=group)
    with transaction.atomic():
        lock(rows)
        for mt in rows.only("pk", "role"):
            ManagedTeam.objects.filter(pk=mt.pk).update(name=team_name(group.name, mt.role))
        spaces = sorted({str(s) for s in rows.values_list("space_id", flat=True)})
        _bump(rows)
    return spaces


def bump_user(user: Any) -> list[str]:
    """The person's account changed (deactivated, renamed): their own teams need a push."""
    rows = ManagedTeam.objects.filter(user=user.pk)
    with transaction.atomic():
        lock(rows)
        for mt in rows.only("pk", "role"):
            ManagedTeam.objects.filter(pk=mt.pk).update(
                name=person_team_name(user.username, mt.role)
            )
        spaces = sorted({str(s) for s in rows.values_list("space_id", flat=True)})
        _bump(rows)
    return spaces


def bump_role(role: str) -> list[str]:
    """The Octopus roles mapped to ``role`` changed."""
    rows = ManagedTeam.objects.filter(role=role, wanted=True)
    spaces = sorted({str(s) for s in rows.values_list("space_id", flat=True)})
    _bump(rows)
    return spaces


def role_mapping() -> dict[str, list[str]]:
    mapping = default_role_mapping()
    for row in RoleMapping.objects.all():
        mapping[row.role] = list(row.octopus_roles)
    return mapping


def _group_members(group_ids: set[Any]) -> dict[str, list[tuple[str, str]]]:
    """(username, email) of every active user of each group: direct members and users whose
    stored external groups match one of the group's."""
    members: dict[str, set[tuple[str, str]]] = {str(g): set() for g in group_ids}
    direct = User.objects.filter(is_active=True, odcm_groups__in=group_ids).values_list(
        "odcm_groups", "username", "email"
    )
    for group_id, username, email in direct:
        members[str(group_id)].add((username, email))
    ext = ExternalGroup.objects.filter(group__in=group_ids).values_list("group_id", "key")
    by_key: dict[str, set[str]] = {}
    for ext_group, key in ext:
        by_key.setdefault(key, set()).add(str(ext_group))
    if by_key:
        via = UserExternalGroup.objects.filter(key__in=list(by_key), user__is_active=True)
        for key, username, email in via.values_list("key", "user__username", "user__email"):
            for gid in by_key[key]:
                members[gid].add((username, email))
    return {g: sorted(m) for g, m in members.items()}


def plan_spaces(space_ids: Iterable[Any], *, only_due: bool = False) -> list[InstancePlan]:
    """Plans for every managed team of these spaces, grouped by instance."""
    rows = ManagedTeam.objects.filter(space__in=_uuids(space_ids)).select_related(
        "space", "space__instance"
    )
    if only_due:
        rows = rows.exclude(state=SyncState.APPLIED)
    rows_list = list(rows)
    group_ids = {mt.group_id for mt in rows_list if mt.group_id is not None}
    members = _group_members(group_ids)
    # A grant to one person: the team carries that person while they are active, and their
    # own claim value (sign-in through ODCM), as a group's team carries the group's.
    people = {
        pk: (username, email, person_uuid)
        for pk, username, email, person_uuid in User.objects.filter(
            pk__in={mt.user_id for mt in rows_list if mt.user_id is not None}
        ).values_list("pk", "username", "email", "uuid")
    }
    active_people = set(
        User.objects.filter(pk__in=list(people), is_active=True).values_list("pk", flat=True)
    )
    externals: dict[str, list[tuple[str, str]]] = {}
    # The group's own value in the id_tokens ODCM issues (identity.idp): a person signing in
    # to Octopus through ODCM lands in exactly the teams of their ODCM groups.
    for group_id, name in Group.objects.filter(pk__in=group_ids).values_list("pk", "name"):
        externals.setdefault(str(group_id), []).append(
            (group_claim_value(group_id), f"ODCM: {name}")
        )
    for group_id, value, display in ExternalGroup.objects.filter(group__in=group_ids).values_list(
        "group_id", "value", "display_name"
    ):
        externals.setdefault(str(group_id), []).append((value, display))
    mapping = role_mapping()
    scopes = _scopes(rows_list)
    instances: dict[Any, InstancePlan] = {}
    spaces: dict[Any, SpacePlan] = {}
    for mt in rows_list:
        space = mt.space
        if space.pk not in spaces:
            spaces[space.pk] = SpacePlan(str(space.pk), space.octopus_id, str(space), [])
            inst = instances.setdefault(space.instance_id, InstancePlan(space.instance, []))
            inst.spaces.append(spaces[space.pk])
        gid = str(mt.group_id) if mt.group_id else ""
        team_members = members.get(gid, [])
        team_externals = sorted(externals.get(gid, []))
        if mt.user_id is not None and mt.user_id in people:
            username, email, person_uuid = people[mt.user_id]
            team_members = [(username, email)] if mt.user_id in active_people else []
            team_externals = [(person_claim_value(person_uuid), f"ODCM: {username}")]
        spaces[space.pk].teams.append(
            TeamPlan(
                managed_id=str(mt.pk),
                version=mt.version,
                wanted=mt.wanted and space.state == space_model().State.ENLISTED,
                name=mt.name,
                octopus_team_id=mt.octopus_team_id,
                space_octopus_id=space.octopus_id,
                role=mt.role,
                role_names=mapping.get(mt.role, []),
                members=team_members,
                external_groups=team_externals,
                applied_digest=mt.applied_digest,
                was_applied=mt.applied_version > 0,
                scopes=scopes[str(mt.pk)],
            )
        )
    return list(instances.values())


# ------------------------------------------------------------------ recording


def _retry_delay(attempts: int) -> timedelta:
    return timedelta(
        seconds=work.backoff(
            attempts,
            base=settings.ODCM_TEAM_SYNC_RETRY_BASE_SECONDS,
            cap=settings.ODCM_TEAM_SYNC_RETRY_MAX_SECONDS,
        )
    )


def record(outcomes: list[TeamOutcome], plans: dict[str, TeamPlan]) -> None:
    """Record a push's outcomes, each only if its team's version is still the one planned
    (otherwise a newer push is queued). One transaction and a few statements for the whole
    push, whatever its size: one statement per team cost 4 s of a 100-space push on a busy
    database, more than the requests to Octopus."""
    with transaction.atomic():
        _record(outcomes, plans)


def _record(outcomes: list[TeamOutcome], plans: dict[str, TeamPlan]) -> None:
    now = timezone.now()
    # Every team of the push locked at once, in lock()'s order (primary key).
    current = {
        str(mt.pk): mt
        for mt in ManagedTeam.objects.filter(pk__in=[o.managed_id for o in outcomes])
        .order_by("pk")
        .select_for_update(of=("self",))
        .select_related("space")
    }
    applied: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    gone: list[ManagedTeam] = []
    entries = []
    # (ok, wanted, error, attempts) -> the teams whose grants get that outcome
    targets: dict[tuple[bool, bool, str, int], list[Any]] = {}
    for out in sorted(outcomes, key=lambda o: uuid.UUID(o.managed_id)):
        mt = current.get(out.managed_id)
        if mt is None or mt.version != out.version:
            continue  # changed meanwhile: a newer sync is queued
        if out.ok and not out.wanted:
            targets.setdefault((True, mt.wanted, "", 0), []).append(mt.pk)
            gone.append(mt)
            entries.append(
                audit_entry(
                    "octopus_team.delete",
                    obj=mt.space,
                    message=f"managed team {mt.name!r} removed from {mt.space}",
                )
            )
        elif out.ok:
            notes = "; ".join(out.notes)
            applied.append(
                {
                    "id": mt.pk,
                    "last_error": notes,
                    "octopus_team_id": out.octopus_team_id,
                    "applied_digest": out.digest,
                    "applied_version": mt.version,
                }
            )
            targets.setdefault((True, mt.wanted, notes, 0), []).append(mt.pk)
            if not plans[out.managed_id].was_applied:
                entries.append(
                    audit_entry(
                        "octopus_team.apply",
                        obj=mt.space,
                        message=f"managed team {mt.name!r} ({out.octopus_team_id}) in {mt.space}",
                    )
                )
            if out.drift:
                entries.append(
                    audit_entry(
                        "octopus_team.repair",
                        obj=mt.space,
                        message=f"drift in managed team {mt.name!r} in {mt.space}: {out.drift}",
                    )
                )
        else:
            attempts = mt.attempts + 1
            failed.append(
                {
                    "id": mt.pk,
                    "attempts": attempts,
                    "last_error": out.error,
                    "next_retry_at": now + _retry_delay(attempts),
                }
            )
            targets.setdefault((False, mt.wanted, out.error, attempts), []).append(mt.pk)
    # The grants' rows first, while every team they are matched with still exists.
    for (ok, wanted, error, attempts), pks in targets.items():
        _set_targets(pks, wanted=wanted, ok=ok, error=error, now=now, attempts=attempts)
    update_each(
        ManagedTeam,
        applied,
        fields=["last_error", "octopus_team_id", "applied_digest", "applied_version"],
        also={
            "state": SyncState.APPLIED,
            "attempts": 0,
            "next_retry_at": None,
            "applied_at": now,
        },
    )
    update_each(
        ManagedTeam,
        failed,
        fields=["attempts", "last_error", "next_retry_at"],
        also={"state": SyncState.FAILED},
    )
    if gone:
        ManagedTeam.objects.filter(pk__in=[mt.pk for mt in gone]).delete()
    record_many(entries)


def _set_targets(
    team_pks: list[Any], *, wanted: bool, ok: bool, error: str, now: Any, attempts: int
) -> None:
    """Copy an outcome onto the (grant, space) rows these teams serve (all ``wanted`` or
    all not: the active grants, or the revoked ones)."""
    teams = ManagedTeam.objects.filter(
        pk__in=team_pks, space=OuterRef("space"), role=OuterRef("grant__role")
    )
    served = Exists(teams.filter(group=OuterRef("grant__group"))) | Exists(
        teams.filter(user=OuterRef("grant__user"))
    )
    rows = GrantTarget.objects.filter(served, grant__revoked_at__isnull=wanted)
    if ok:
        rows.update(
            state=SyncState.APPLIED,
            attempts=0,
            last_error=error,
            next_retry_at=None,
            applied_at=now,
        )
    else:
        rows.update(
            state=SyncState.FAILED,
            attempts=attempts or 1,
            last_error=error,
            next_retry_at=now + _retry_delay(attempts or 1),
        )


def settle_revoked_targets() -> None:
    """A revoked grant whose team another grant still wants, or whose team is gone, has
    nothing left to do. One statement, whatever the number of revoked grants."""
    teams = ManagedTeam.objects.filter(space=OuterRef("space"), role=OuterRef("grant__role"))

    def held(rows: Any) -> Q:
        return Exists(rows.filter(group=OuterRef("grant__group"))) | Exists(
            rows.filter(user=OuterRef("grant__user"))
        )

    still, remains = held(teams.filter(wanted=True)), held(teams)
    GrantTarget.objects.filter(grant__revoked_at__isnull=False).exclude(
        state=SyncState.APPLIED
    ).filter(still | ~remains).update(
        state=SyncState.APPLIED, applied_at=timezone.now(), last_error=""
    )


# ------------------------------------------------------------------ entry points


@contextmanager
def _space_locks(space_ids: list[str]) -> Iterator[list[str]]:
    """Claim spaces so two workers never push the same space at once; yields those claimed.
    The lease is renewed while the push runs (``work.kept``): a worker that dies frees its
    spaces when the lease (``LOCK_SECONDS``) runs out."""
    known = list(
        space_model().objects.filter(pk__in=_uuids(space_ids)).values_list("pk", flat=True)
    )
    TeamSync.objects.bulk_create([TeamSync(space_id=pk) for pk in known], ignore_conflicts=True)
    leases = work.claim_each(TeamSync.objects.all(), known, seconds=LOCK_SECONDS)
    # A space that no longer exists has nothing to push: nobody needs to hold it.
    gone = set(space_ids) - {str(pk) for pk in known}
    try:
        with work.kept(TeamSync.objects.all(), leases, seconds=LOCK_SECONDS):
            yield sorted(gone | {str(lease.pk) for lease in leases})
    finally:
        work.release_each(TeamSync.objects.all(), leases)


def sync_spaces(space_ids: Iterable[Any], *, only_due: bool = False) -> list[str]:
    """Push the managed teams of these spaces to Octopus. Returns spaces left for later
    because another worker holds them."""
    wanted = sorted({str(s) for s in space_ids})
    started = time.monotonic()
    with _space_locks(wanted) as claimed:
        with transaction.atomic():
            ensure_rows(claimed)
        settle_revoked_targets()
        plans = plan_spaces(claimed, only_due=only_due)
        by_id = {t.managed_id: t for p in plans for s in p.spaces for t in s.teams}
        # Every space at once, a few requests at a time per instance (odcm.fanout).
        outcomes = execute_all(plans)
        record(outcomes, by_id)
        settle_revoked_targets()
    log.info(
        "team sync: %d spaces, %d teams, %d failed, %.2fs",
        len(claimed),
        len(outcomes),
        sum(1 for o in outcomes if not o.ok),
        time.monotonic() - started,
    )
    return sorted(set(wanted) - set(claimed))


def due_spaces() -> list[str]:
    """Spaces with a managed team waiting for a (re)try."""
    now = timezone.now()
    due = ManagedTeam.objects.exclude(state=SyncState.APPLIED).filter(
        Q(next_retry_at__isnull=True) | Q(next_retry_at__lte=now)
    )
    return sorted({str(s) for s in due.values_list("space_id", flat=True)})


def all_managed_spaces() -> list[str]:
    """Every enlisted space that has, or should have, a managed team."""
    spaces = set(ManagedTeam.objects.values_list("space_id", flat=True))
    active = Grant.objects.filter(revoked_at__isnull=True)
    spaces.update(active.filter(space__isnull=False).values_list("space_id", flat=True))
    spaces.update(
        space_model()
        .objects.filter(
            instance__in=active.filter(instance__isnull=False).values("instance"),
            state=space_model().State.ENLISTED,
        )
        .values_list("pk", flat=True)
    )
    return sorted(str(s) for s in spaces)


def split_by_instance(space_ids: Iterable[Any]) -> list[list[str]]:
    """Space ids grouped by their instance."""
    groups: dict[Any, list[str]] = {}
    for pk, instance_id in (
        space_model().objects.filter(pk__in=_uuids(space_ids)).values_list("pk", "instance_id")
    ):
        groups.setdefault(instance_id, []).append(str(pk))
    return [sorted(ids) for _, ids in sorted(groups.items(), key=lambda kv: str(kv[0]))]


def batches(space_ids: Iterable[Any], size: int | None = None) -> list[list[str]]:
    """Space ids in about equal batches of at most ``size`` (``ODCM_FANOUT_BATCH_SIZE``), an
    instance's spaces together unless it alone has more: one Celery task each, its spaces
    pushed concurrently, so one push keeps the per-instance request limit in one process."""
    size = int(size or settings.ODCM_FANOUT_BATCH_SIZE)
    return [sorted(b) for b in fanout.pack(split_by_instance(space_ids), size)]
