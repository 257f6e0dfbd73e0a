"""Pushing one instance's planned teams into Octopus: HTTP only, no database.

Run by ``identity.services.teams.sync_spaces`` through ``execute_all``: every space at once in
fan-out threads (``odcm.fanout``). For each space it reads the space's teams, then creates,
repairs or deletes each managed team and its scoped user roles, and returns one
``TeamOutcome`` per team for the caller to record.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from identity.models import GRANT_SCOPES, Role
from octopus import NotFound, OctopusError
from odcm import fanout

# Where a space's named things are listed, by scope key.
SCOPE_PATHS = {
    "environments": "environments",
    "projects": "projects",
    "project_groups": "projectgroups",
    "tenants": "tenants",
}
MARKER = "Managed by ODCM: changes made here are put back. ref:"


@dataclass
class TeamPlan:
    managed_id: str
    version: int
    wanted: bool
    name: str
    octopus_team_id: str
    space_octopus_id: str
    role: str
    role_names: list[str]
    members: list[tuple[str, str]]  # (username, email) of the group's users
    external_groups: list[tuple[str, str]]  # (value, display name)
    applied_digest: str
    was_applied: bool
    # One entry per grant behind the team: names to narrow its scoped roles by ({}: the whole
    # space). See identity.models.GRANT_SCOPES.
    scopes: list[dict[str, list[str]]] = field(default_factory=lambda: [{}])

    @property
    def description(self) -> str:
        return f"{MARKER}{self.managed_id}"


@dataclass
class SpacePlan:
    space_id: str
    octopus_id: str
    label: str
    teams: list[TeamPlan]


@dataclass
class InstancePlan:
    instance: Any  # spaces.Instance (identity does not import spaces)
    spaces: list[SpacePlan]


@dataclass
class TeamOutcome:
    managed_id: str
    version: int
    wanted: bool
    ok: bool
    error: str = ""
    octopus_team_id: str = ""
    digest: str = ""
    drift: str = ""
    notes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------ execution (HTTP only)


class Calls(Protocol):
    """What the push needs of a client: ``OctopusClient`` or a fan-out's bridged client."""

    def get_all(self, path: str, params: dict[str, Any] | None = None) -> list[Any]: ...

    def paginate(
        self, path: str, params: dict[str, Any] | None = None, *, page_size: int | None = 100
    ) -> Iterator[Any]: ...

    def post(self, path: str, json: Any = None, *, idempotent: bool = False) -> Any: ...

    def put(self, path: str, json: Any = None) -> Any: ...

    def delete(self, path: str) -> Any: ...


class _Instance:
    """One instance's lookups, read once per sync (by whichever of its spaces' threads asks
    first; the others wait for that answer rather than asking again)."""

    def __init__(self, client: Calls) -> None:
        self.client = client
        self._lock = threading.Lock()
        self._users: dict[str, str] | None = None
        self._roles: dict[str, str] | None = None
        self._named: dict[tuple[str, str], dict[str, str]] = {}

    def users(self) -> dict[str, str]:
        with self._lock:
            if self._users is None:
                found: dict[str, str] = {}
                for user in self.client.get_all("/api/users"):
                    if user.get("Username"):
                        found.setdefault("u:" + str(user["Username"]).casefold(), user["Id"])
                    if user.get("EmailAddress"):
                        found.setdefault("e:" + str(user["EmailAddress"]).casefold(), user["Id"])
                self._users = found
            return self._users

    def roles(self) -> dict[str, str]:
        with self._lock:
            if self._roles is None:
                found: dict[str, str] = {}
                for role in self.client.get_all("/api/userroles"):
                    found[str(role["Id"]).casefold()] = role["Id"]
                    found.setdefault(str(role["Name"]).casefold(), role["Id"])
                self._roles = found
            return self._roles

    def named(self, space_octopus_id: str, key: str) -> dict[str, str]:
        """Name (casefolded) -> id of a space's environments, projects, project groups or
        tenants (``key`` of GRANT_SCOPES), read once per sync."""
        with self._lock:
            if (space_octopus_id, key) not in self._named:
                path = f"/api/{space_octopus_id}/{SCOPE_PATHS[key]}"
                found: dict[str, str] = {}
                for doc in self.client.get_all(path):
                    found.setdefault(str(doc.get("Name", "")).casefold(), str(doc["Id"]))
                self._named[(space_octopus_id, key)] = found
            return self._named[(space_octopus_id, key)]


# A scoped user role as compared and created: (UserRoleId, then the ids of each GRANT_SCOPES
# field, sorted).
Scoped = tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]]


def _scoped_roles(
    plan: TeamPlan, role_ids: list[str], inst: _Instance
) -> tuple[list[Scoped], list[str]]:
    """The team's scoped user roles: each role id once per grant scope, with the scope's names
    translated into this space's ids; and notes on names this space lacks.

    A scope none of whose names exist here is left out rather than pushed: an empty id list
    means "everything" to Octopus, so it would widen the grant instead of narrowing it."""
    wanted: set[Scoped] = set()
    notes: list[str] = []
    for scope in plan.scopes:
        ids: list[tuple[str, ...]] = []
        for key in GRANT_SCOPES:
            names = scope.get(key) or []
            if not names:
                ids.append(())
                continue
            known = inst.named(plan.space_octopus_id, key)
            found = sorted({known[n.casefold()] for n in names if n.casefold() in known})
            missing = [n for n in names if n.casefold() not in known]
            if missing:
                label = key.replace("_", " ")
                notes.append(f"no {label} named {', '.join(missing)} in this space")
            if not found:
                ids = []
                notes.append(
                    f"a grant narrowed to {key.replace('_', ' ')} {', '.join(names)} gives "
                    "nothing here (none of them exist)"
                )
                break
            ids.append(tuple(found))
        if len(ids) != len(GRANT_SCOPES):
            continue
        for role_id in role_ids:
            wanted.add((role_id, ids[0], ids[1], ids[2], ids[3]))
    return sorted(wanted), notes


def _current_scoped(role: dict[str, Any]) -> Scoped:
    fields = [tuple(sorted(role.get(f) or [])) for f in GRANT_SCOPES.values()]
    return (str(role.get("UserRoleId")), fields[0], fields[1], fields[2], fields[3])


def _desired_doc(plan: TeamPlan, inst: _Instance) -> tuple[dict[str, Any], list[str], list[str]]:
    """The team document, the role ids and notes (roles not found on this instance, members
    left out because Octopus has no user for them)."""
    users = inst.users() if plan.members else {}
    member_ids, left_out = set(), []
    for username, email in plan.members:
        uid = users.get("u:" + username.casefold()) or (
            users.get("e:" + email.casefold()) if email else None
        )
        if uid:
            member_ids.add(uid)
        else:
            left_out.append(username)
    roles = inst.roles()
    role_ids, missing = [], []
    for name in plan.role_names:
        rid = roles.get(name.casefold())
        if rid is None:
            missing.append(name)
        elif rid not in role_ids:
            role_ids.append(rid)
    doc = {
        "Name": plan.name,
        "SpaceId": plan.space_octopus_id,
        "Description": plan.description,
        "MemberUserIds": sorted(member_ids),
        "ExternalSecurityGroups": [
            {"Id": value, "DisplayName": display or value, "DisplayIdAndName": False}
            for value, display in plan.external_groups
        ],
    }
    notes = [f"Octopus role {m!r} not found" for m in missing]
    if left_out:
        notes.append(_left_out_note(sorted(left_out)))
    return doc, sorted(role_ids), notes


def _left_out_note(usernames: list[str], shown: int = 10) -> str:
    """Members with no Octopus user of the same username or email cannot be put in the team."""
    names = ", ".join(usernames[:shown])
    more = f" and {len(usernames) - shown} more" if len(usernames) > shown else ""
    return (
        f"left out {names}{more}: no Octopus user with the same username or email on this "
        "instance (an external group of the team may still let them in)"
    )


def _digest(doc: dict[str, Any], role_ids: list[Any]) -> str:
    raw = json.dumps([doc, role_ids], sort_keys=True).encode()
    return hashlib.sha256(raw).hexdigest()


def _differences(actual: dict[str, Any], doc: dict[str, Any]) -> list[str]:
    diffs = []
    for key in ("Name", "Description"):
        if (actual.get(key) or "") != doc[key]:
            diffs.append(key)
    if sorted(actual.get("MemberUserIds") or []) != doc["MemberUserIds"]:
        diffs.append("MemberUserIds")
    groups = sorted(str(g.get("Id")) for g in actual.get("ExternalSecurityGroups") or [])
    if groups != sorted(g["Id"] for g in doc["ExternalSecurityGroups"]):
        diffs.append("ExternalSecurityGroups")
    return diffs


def _apply_team(plan: TeamPlan, teams: dict[str, dict[str, Any]], inst: _Instance) -> TeamOutcome:
    client = inst.client
    out = TeamOutcome(plan.managed_id, plan.version, plan.wanted, ok=False)
    existing = teams.get(plan.octopus_team_id) if plan.octopus_team_id else None
    if existing is None:  # adopt our own team if its id was lost (e.g. an answer never came)
        existing = next(
            (t for t in teams.values() if plan.description in (t.get("Description") or "")),
            None,
        )
    if not plan.wanted:
        if existing is not None:
            with suppress(NotFound):
                client.delete(f"/api/teams/{existing['Id']}")
        out.ok = True
        return out
    doc, role_ids, notes = _desired_doc(plan, inst)
    out.notes = notes
    if not role_ids:
        names = ", ".join(plan.role_names) or "none"
        out.error = f"None of the Octopus roles mapped to {Role(plan.role).label} exist ({names})."
        return out
    scoped, scope_notes = _scoped_roles(plan, role_ids, inst)
    out.notes = notes + scope_notes
    if not scoped:
        out.error = "; ".join(scope_notes) or "No scoped user role to give."
        return out
    narrowed = any(plan.scopes)
    # Unnarrowed teams keep the digest they had before grants could be narrowed.
    digest = _digest(doc, role_ids) if not narrowed else _digest(doc, [list(r) for r in scoped])
    unchanged = plan.was_applied and digest == plan.applied_digest
    drift: list[str] = []
    if existing is None:
        if plan.octopus_team_id and plan.was_applied:
            drift.append("team deleted in Octopus; recreated")
        created = client.post("/api/teams", doc)
        team_id = str(created["Id"])
        current_roles: list[dict[str, Any]] = []
    else:
        team_id = str(existing["Id"])
        diffs = _differences(existing, doc)
        if diffs:
            client.put(f"/api/teams/{team_id}", {**existing, **doc})
            if unchanged:
                drift.append("team edited in Octopus (" + ", ".join(diffs) + "); put back")
        current_roles = list(client.paginate(f"/api/teams/{team_id}/scopeduserroles"))
    missing = set(scoped)
    for role in current_roles:
        key = _current_scoped(role)
        if key in missing and role.get("SpaceId") == plan.space_octopus_id:
            missing.discard(key)
            continue
        client.delete(f"/api/scopeduserroles/{role['Id']}")
        if unchanged:
            drift.append(f"scoped role {key[0]} removed")
    for role_id, *ids in sorted(missing):
        body: dict[str, Any] = {
            "TeamId": team_id,
            "UserRoleId": role_id,
            "SpaceId": plan.space_octopus_id,
        }
        body.update({field: list(v) for field, v in zip(GRANT_SCOPES.values(), ids, strict=True)})
        client.post("/api/scopeduserroles", body)
        if unchanged and existing is not None:
            drift.append(f"scoped role {role_id} put back")
    out.ok, out.octopus_team_id, out.digest, out.drift = True, team_id, digest, "; ".join(drift)
    return out


def _execute_space(space: SpacePlan, inst: _Instance) -> list[TeamOutcome]:
    try:
        teams = {
            str(t["Id"]): t
            for t in inst.client.paginate(
                "/api/teams", {"spaces": space.octopus_id, "includeSystem": "false"}
            )
            if t.get("SpaceId") == space.octopus_id
        }
    except OctopusError as exc:
        return [_failed(p, exc) for p in space.teams]
    outcomes = []
    for plan in space.teams:
        try:
            outcomes.append(_apply_team(plan, teams, inst))
        except OctopusError as exc:
            outcomes.append(_failed(plan, exc))
    return outcomes


def _failed(plan: TeamPlan, exc: BaseException) -> TeamOutcome:
    return TeamOutcome(plan.managed_id, plan.version, plan.wanted, ok=False, error=str(exc)[:2000])


def execute(plan: InstancePlan, client: Calls) -> list[TeamOutcome]:
    """Apply one instance's plans, one space after another (HTTP only)."""
    inst = _Instance(client)
    outcomes: list[TeamOutcome] = []
    for space in plan.spaces:
        outcomes += _execute_space(space, inst)
    return outcomes


def execute_all(plans: list[InstancePlan]) -> list[TeamOutcome]:
    """Apply every instance's plans, every space at once (``odcm.fanout``: at most
    ``ODCM_OCTOPUS_PER_INSTANCE_CONCURRENCY`` requests at a time to one instance)."""
    jobs: list[fanout.Job[list[TeamOutcome]]] = []
    spaces: list[SpacePlan] = []
    for plan in plans:
        lookups = _Lookups()
        for space in plan.spaces:
            jobs.append((plan.instance, partial(_space_job, space, lookups)))
            spaces.append(space)
    outcomes: list[TeamOutcome] = []
    for space, result in zip(spaces, fanout.run(jobs), strict=True):
        if isinstance(result, BaseException):  # not an Octopus error: still one per team
            outcomes += [_failed(p, result) for p in space.teams]
        else:
            outcomes += result
    return outcomes


class _Lookups:
    """The ``_Instance`` of one instance, made by the first of its spaces' jobs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inst: _Instance | None = None

    def of(self, client: Calls) -> _Instance:
        with self._lock:
            if self._inst is None:
                self._inst = _Instance(client)
            return self._inst


def _space_job(space: SpacePlan, lookups: _Lookups, client: Calls) -> list[TeamOutcome]:
    return _execute_space(space, lookups.of(client))
