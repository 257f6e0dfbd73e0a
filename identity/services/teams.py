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
from django.db.models import Exists, F, OuterRef, Q
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


def _holder_filter(holder: str, prefix: str = "") -> dict[str, Any]:
    kind, _, pk = holder.partition(":")
    if kind == "g":
        return {f"{prefix}group": pk, f"{prefix}user__isnull": True}
    if kind == "u":
        return {f"{prefix}user": pk, f"{prefix}group__isnull": True}
    return {f"{prefix}group__isnull": True, f"{prefix}user__isnull": True}


# ------------------------------------------------------------------ desired state (rows)


def covered_spaces(grant: Grant) -> list[Any]:
    """The enlisted spaces a grant reaches (one space, or every space of an instance)."""
    if grant.space_id is not None:
        return list(
            space_model().objects.filter(pk=grant.space_id, state=space_model().State.ENLISTED)
        )
    return list(
        space_model().objects.filter(instance=grant.instance_id, state=space_model().State.ENLISTED)
    )


def _desired(space_ids: list[uuid.UUID]) -> set[tuple[str, str, str]]:
    """(space id, holder, role) for every active grant reaching these enlisted spaces."""
    spaces = space_model().objects.filter(pk__in=space_ids, state=space_model().State.ENLISTED)
    by_instance: dict[Any, list[str]] = {}
    for pk, inst in spaces.values_list("pk", "instance_id"):
        by_instance.setdefault(inst, []).append(str(pk))
    wanted: set[tuple[str, str, str]] = set()
    active = Grant.objects.filter(revoked_at__isnull=True).filter(
        Q(space__in=[s for ids in by_instance.values() for s in ids])
        | Q(instance__in=list(by_instance))
    )
    for space_id, instance_id, group_id, user_id, role in active.values_list(
        "space_id", "instance_id", "group_id", "user_id", "role"
    ):
        for target in [str(space_id)] if space_id else by_instance.get(instance_id, []):
            wanted.add((target, holder_of(group_id, user_id), role))
    return wanted


def ensure_rows(space_ids: Iterable[Any]) -> list[str]:
    """Bring ``ManagedTeam`` and ``GrantTarget`` rows in line with the grants for these spaces.

    Returns the ids of spaces that now have work to do. Call inside a transaction.
    """
    ids = _uuids(space_ids)
    if not ids:
        return []
    wanted = _desired(ids)
    holders = {h for _, h, _ in wanted}
    group_ids = [h[2:] for h in holders if h.startswith("g:")]
    user_ids = [h[2:] for h in holders if h.startswith("u:")]
    names = {
        f"g:{pk}": name
        for pk, name in Group.objects.filter(pk__in=group_ids).values_list("pk", "name")
    }
    usernames = {
        f"u:{pk}": name
        for pk, name in User.objects.filter(pk__in=user_ids).values_list("pk", "username")
    }
    rows = {
        (str(mt.space_id), holder_of(mt.group_id, mt.user_id), mt.role): mt
        for mt in ManagedTeam.objects.filter(space__in=ids).order_by("pk").select_for_update()
        if mt.group_id is not None or mt.user_id is not None
    }
    touched: set[str] = set()
    new = []
    for key in sorted(wanted - rows.keys()):
        space_id, holder, role = key
        if holder in names:
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
                    name=person_team_name(usernames[holder], role),
                )
            )
        touched.add(space_id)
    ManagedTeam.objects.bulk_create(new)  # one statement: a grant on 200 spaces made 200
    flips: dict[bool, list[Any]] = {}
    for key, mt in rows.items():
        should = key in wanted
        if mt.wanted != should:
            flips.setdefault(should, []).append(mt.pk)
            touched.add(key[0])
    # One bump per direction, not one per team: revoking a grant on 200 spaces made 200.
    for should, pks in sorted(flips.items()):
        _bump(ManagedTeam.objects.filter(pk__in=pks), wanted=should)
    # Rows whose group (or person) was deleted: the team goes.
    orphans = ManagedTeam.objects.filter(
        space__in=ids, group__isnull=True, user__isnull=True, wanted=True
    )
    touched.update(str(s) for s in orphans.values_list("space_id", flat=True))
    _bump(orphans, wanted=False)
    _ensure_targets(ids)
    touched.update(
        str(s)
        for s in ManagedTeam.objects.filter(space__in=ids)
        .exclude(state=SyncState.APPLIED)
        .values_list("space_id", flat=True)
    )
    return sorted(touched)


def _uuids(values: Iterable[Any]) -> list[uuid.UUID]:
    return [v if isinstance(v, uuid.UUID) else uuid.UUID(str(v)) for v in values]


def lock(rows: Any) -> list[Any]:
    """Lock managed team rows in primary-key order, the one order every writer takes (a
    revoke bumping a group's teams and a worker recording a push would otherwise deadlock).
    Returns their primary keys."""
    return list(rows.order_by("pk").select_for_update(of=("self",)).values_list("pk", flat=True))


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


def _pend_targets(rows: Any) -> None:
    """Set the (grant, space) rows served by these managed teams back to pending."""
    teams = ManagedTeam.objects.filter(
        pk__in=rows.values("pk"), space=OuterRef("space"), role=OuterRef("grant__role")
    )
    served = Exists(teams.filter(group=OuterRef("grant__group"))) | Exists(
        teams.filter(user=OuterRef("grant__user"))
    )
    GrantTarget.objects.filter(served).update(
        state=SyncState.PENDING, next_retry_at=None, attempts=0
    )


def _ensure_targets(space_ids: list[uuid.UUID]) -> None:
    """One GrantTarget per (active grant, enlisted space it reaches)."""
    spaces = space_model().objects.filter(pk__in=space_ids, state=space_model().State.ENLISTED)
    pairs = list(spaces.values_list("pk", "instance_id"))
    instance_ids = {inst for _, inst in pairs}
    existing = set(
        GrantTarget.objects.filter(space__in=space_ids).values_list("grant_id", "space_id")
    )
    new = []
    for grant_id, space_id, instance_id in Grant.objects.filter(
        Q(space__in=space_ids) | Q(instance__in=instance_ids), revoked_at__isnull=True
    ).values_list("pk", "space_id", "instance_id"):
        targets = [space_id] if space_id else [pk for pk, inst in pairs if inst == instance_id]
        new += [
            GrantTarget(grant_id=grant_id, space_id=target)
            for target in targets
            if (grant_id, target) not in existing
        ]
    GrantTarget.objects.bulk_create(new, ignore_conflicts=True)


def bump_teams(
    space_ids: Iterable[Any], group_id: Any, role: str, *, user_id: Any = None
) -> list[str]:
    """Re-push the group's (or, with ``user_id``, the person's) existing teams for ``role`` in
    these spaces (a grant reaching them was added or revoked, so their scoped roles change).
    Returns the spaces touched."""
    rows = ManagedTeam.objects.filter(
        space__in=_uuids(space_ids), role=role, **_holder_filter(holder_of(group_id, user_id))
    )
    touched = sorted({str(s) for s in rows.values_list("space_id", flat=True)})
    _bump(rows)
    return touched


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
