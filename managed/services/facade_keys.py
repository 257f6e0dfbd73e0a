"""The API key a customer's facade steps call the management space with, made by ODCM.

For each customer ODCM keeps a dedicated service-account user in the management instance
(``IsService``: no password, signs in with keys only), a team in the management space with
that user as its only member and the *Deployment creator* role scoped to the customer's
tenant (so the key may start deployments for that tenant and nothing else), and one API key
of that user, sealed in ODCM (:mod:`odcm.crypto`) and delivered to the facade space as a
sensitive variable. Once a key is delivered, the user's other keys are deleted: a rotation
(a new key, delivered, then the old one deleted) and a key made by a sync that died before
it wrote the key down both end that way.

A person may still enter a key by hand (``Customer.KeySource.MANUAL``) where ODCM's own key
for the management instance lacks the rights to manage users and teams; the service user's
keys are then deleted and its user and team kept until the customer goes or a rotation
takes ODCM's key back.
"""

from __future__ import annotations

import logging
from typing import Any

from audit.services import record
from managed.models import Customer
from octopus import OctopusClient
from octopus.errors import NotFound, PermissionDenied
from octopus.pipeline import sp
from odcm.crypto import seal
from odcm.work import Lease, mine

log = logging.getLogger(__name__)
ROLE_NAME = "Deployment creator"
REQUIRED = ("UserEdit", "TeamCreate", "TeamEdit")  # to make the user, its team and a key
Doc = dict[str, Any]


class KeyRightsMissing(ValueError):
    """ODCM's key for the management instance may not manage users, keys or teams."""


def username(customer: Customer) -> str:
    return f"odcm-facade-{customer.pk.hex[:12]}"


def team_name(customer: Customer) -> str:
    return f"Facade {customer.name} ({customer.pk.hex[:8]})"[:200]


def _lacking(customer: Customer, missing: list[str], undone: str = "") -> KeyRightsMissing:
    instance = customer.management_space.instance.name
    missing = missing or list(REQUIRED)
    names = ", ".join(missing[:-1]) + " and " + missing[-1] if len(missing) > 1 else missing[0]
    return KeyRightsMissing(
        f"ODCM's key for {instance} lacks the {names} permission{'s' if len(missing) > 1 else ''}"
        f", needed to make the facade's service account (a user, its team and an API key); "
        f"{undone or 'nothing was made'}. Give that key's user {names} there (UserEdit "
        "system-wide, TeamCreate and TeamEdit system-wide or in the management space), or "
        "enter a key by hand."
    )


def missing_rights(client: OctopusClient, space_id: str) -> list[str]:
    """Which of ``REQUIRED`` the key's own user lacks (``/api/users/{id}/permissions``), in
    the system or (team permissions) in the management space. Two reads; an instance that
    will not say gives [] (a refusal is then caught as it happens)."""
    try:
        me = client.get("/api/users/me")
        perms = client.get(f"/api/users/{me['Id']}/permissions")
    except (NotFound, PermissionDenied):
        return []
    system = set(perms.get("SystemPermissions") or [])
    space = perms.get("SpacePermissions") or {}

    def held(permission: str) -> bool:
        entries = space.get(permission) or []
        return permission in system or any(e.get("SpaceId") in (space_id, None) for e in entries)

    return [p for p in REQUIRED if not held(p)]


def _user(client: OctopusClient, customer: Customer) -> tuple[Doc, bool]:
    found: Doc | None = None
    if customer.service_user_id:  # one read when nothing moved
        try:
            found = client.get(f"/api/users/{customer.service_user_id}")
        except NotFound:
            found = None
    if found is None or str(found.get("Username", "")).lower() != username(customer):
        users = client.get_all("/api/users")
        found = next((u for u in users if str(u["Username"]).lower() == username(customer)), None)
    if found is not None:
        return found, False
    body = {
        "Username": username(customer),
        "DisplayName": f"ODCM facade of {customer.name}"[:200],
        "IsService": True,
        "IsActive": True,
    }
    return client.post("/api/users", body), True


def _role_id(client: OctopusClient) -> str:
    roles = client.get_all("/api/userroles")
    role = next((r for r in roles if str(r["Name"]).lower() == ROLE_NAME.lower()), None)
    if role is None:
        raise KeyRightsMissing(
            f"The management instance has no '{ROLE_NAME}' user role to scope the facade's "
            "service account to its tenant; enter a key by hand."
        )
    return str(role["Id"])


def _team(
    client: OctopusClient, customer: Customer, user_id: str, tenant_id: str, made: list[str]
) -> Doc:
    """The customer's team in the management space: the service user only, the role scoped
    to the tenant only (anything else on the team is ODCM's to remove). A team made here is
    noted in ``made`` before its role is given."""
    sid = customer.management_space.octopus_id
    teams = client.get_all(sp(sid, "teams"))
    team = next((t for t in teams if t["Id"] == customer.service_team_id), None) or next(
        (t for t in teams if str(t["Name"]).lower() == team_name(customer).lower()), None
    )
    if team is None:
        team = client.post(
            sp(sid, "teams"),
            {
                "Name": team_name(customer),
                "Description": f"ODCM: the facade space of {customer.name} deploys as this.",
                "MemberUserIds": [user_id],
                "ExternalSecurityGroups": [],
                "SpaceId": sid,
            },
        )
        made.append(str(team["Id"]))
    elif team.get("MemberUserIds") != [user_id]:
        team = client.put(sp(sid, "teams", team["Id"]), {**team, "MemberUserIds": [user_id]})
    role_id = _role_id(client)
    wanted = {"UserRoleId": role_id, "TenantIds": [tenant_id]}
    have = list(client.paginate(f"/api/teams/{team['Id']}/scopeduserroles"))
    keep = None
    for scoped in have:
        ok = scoped.get("UserRoleId") == role_id and scoped.get("TenantIds") == [tenant_id]
        ok = ok and not any(scoped.get(k) for k in ("ProjectIds", "EnvironmentIds"))
        if ok and keep is None:
            keep = scoped
        else:
            client.delete(sp(sid, "scopeduserroles", scoped["Id"]))
    if keep is None:
        client.post(
            sp(sid, "scopeduserroles"),
            {
                **wanted,
                "TeamId": team["Id"],
                "SpaceId": sid,
                "ProjectIds": [],
                "EnvironmentIds": [],
                "ProjectGroupIds": [],
            },
        )
    return team


def ensure_key(
    client: OctopusClient, customer: Customer, lease: Lease, tenant_id: str
) -> list[str]:
    """Make (or find) the service account, its team and a key, sealing a new key on the
    row. Returns notes for people. Called by the sync, in the management instance."""
    if customer.key_source != Customer.KeySource.ODCM:
        return []
    asked = customer.rotate_requested_at
    settled = customer.service_user_id and customer.service_team_id and customer.api_key_id
    if not (settled and customer.api_key) or asked is not None:
        # Something is to be made: find out first whether the key may make all of it, so
        # that a key lacking a right leaves nothing half-made (a user without its team).
        missing = missing_rights(client, customer.management_space.octopus_id)
        if missing:
            raise _lacking(customer, missing)
    made: list[str] = []  # made by this call, undone if a later step is refused
    try:
        user, new_user = _user(client, customer)
        if new_user:
            made.append(str(user["Id"]))
        team = _team(client, customer, str(user["Id"]), tenant_id, made)
        keys = list(client.paginate(f"/api/users/{user['Id']}/apikeys"))
    except PermissionDenied as exc:
        raise _undo(client, customer, made, exc) from None
    changes: dict[str, Any] = {"service_user_id": str(user["Id"]), "service_team_id": team["Id"]}
    current = customer.api_key_id in {k["Id"] for k in keys}
    if customer.api_key and current and asked is None:
        if new_user or customer.service_team_id != team["Id"]:
            mine(Customer.objects.all(), lease).update(**changes)
        return []
    try:
        created = client.post(
            f"/api/users/{user['Id']}/apikeys", {"Purpose": f"ODCM facade of {customer.name}"}
        )
    except PermissionDenied as exc:
        raise _undo(client, customer, made, exc) from None
    seal(customer, "api_key", str(created["ApiKey"]))
    customer.api_key_id = str(created["Id"])
    changes.update(api_key=customer.api_key, api_key_id=customer.api_key_id)
    mine(Customer.objects.all(), lease).update(**changes)
    if asked is not None:
        mine(Customer.objects.all(), lease).filter(rotate_requested_at=asked).update(
            rotate_requested_at=None
        )
    record(
        "managed.customer.key_made",
        obj=customer,
        after={"service_user": user["Id"], "team": team["Id"], "key_id": created["Id"]},
    )
    return []


def _undo(
    client: OctopusClient, customer: Customer, made: list[str], exc: PermissionDenied
) -> KeyRightsMissing:
    """Octopus refused a step after others were made (a right the up-front check could not
    see): delete what this call made (team first, then user), so nothing is left half-made;
    the message says what, if anything, could not be deleted."""
    sid = customer.management_space.octopus_id
    left = []
    for ident in reversed(made):
        path = (
            f"/api/users/{ident}" if ident.lower().startswith("users") else sp(sid, "teams", ident)
        )
        try:
            client.delete(path)
        except NotFound:
            continue
        except PermissionDenied:
            left.append(ident)
    undone = "what was made was deleted again" if made and not left else ""
    if left:
        undone = f"{', '.join(left)} could not be deleted again: delete it by hand"
    return _lacking(customer, [exc.missing_permission] if exc.missing_permission else [], undone)


def drop_other_keys(client: OctopusClient, customer: Customer) -> int:
    """After delivery: delete every key of the service user but the one delivered (all of
    them when a person's key is in use). Returns how many were deleted."""
    uid = customer.service_user_id
    if not uid:
        return 0
    keep = customer.api_key_id if customer.key_source == Customer.KeySource.ODCM else None
    try:
        keys = list(client.paginate(f"/api/users/{uid}/apikeys"))
    except NotFound:
        return 0
    gone = 0
    for key in keys:
        if key["Id"] != keep:
            try:
                client.delete(f"/api/users/{uid}/apikeys/{key['Id']}")
            except NotFound:
                continue
            gone += 1
    if gone:
        record("managed.customer.keys_deleted", obj=customer, after={"deleted": gone})
    return gone


def remove_account(client: OctopusClient, customer: Customer) -> list[str]:
    """Delete the customer's service user (its keys first) and team in the management
    instance; what was already gone is fine. Returns what was deleted."""
    done = []
    sid = customer.management_space.octopus_id
    if customer.service_user_id:
        uid = customer.service_user_id
        try:
            for key in list(client.paginate(f"/api/users/{uid}/apikeys")):
                client.delete(f"/api/users/{uid}/apikeys/{key['Id']}")
        except NotFound:
            pass
    if customer.service_team_id:
        try:
            client.delete(sp(sid, "teams", customer.service_team_id))
            done.append(customer.service_team_id)
        except NotFound:
            pass
    if customer.service_user_id:
        try:
            client.delete(f"/api/users/{customer.service_user_id}")
            done.append(customer.service_user_id)
        except NotFound:
            pass
    return done
