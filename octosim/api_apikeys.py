"""API keys of users (``/api/users/{id}/apikeys``) and what a user's own key may do.

Octopus keeps a hash of each key and shows the key once, in the answer to its creation; a
list or a read of a key gives its id, purpose, user and dates, never the key. A request
signed with a user's key acts as that user, with exactly what the user's teams grant
(scoped user roles, restricted to projects, environments and tenants): octosim checks the
view permission of a read, the permission of a write, and for a deployment the
``DeploymentCreate`` restriction to the project, environment and tenant deployed.
"""

from __future__ import annotations

import hashlib
import secrets
import string

from octosim import resources as R
from octosim.api_system import lookup
from octosim.errors import forbidden, invalid, not_found
from octosim.paging import envelope
from octosim.permissions import permission_set
from octosim.routing import Ctx, Reply, Router
from octosim.state import Doc, InstanceState, now

_ALPHABET = string.ascii_uppercase + string.digits


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def user_of_key(st: InstanceState, key: str) -> str | None:
    """The id of the (active) user whose key this is, or None."""
    wanted = digest(key)
    for doc in st.sys("apikeys").values():
        if secrets.compare_digest(doc["KeyHash"], wanted):
            user = st.sys("users").get(doc["UserId"])
            return str(user["Id"]) if user is not None and user.get("IsActive", True) else None
    return None


def _render(doc: Doc, key: str | None = None) -> Doc:
    out = {
        "Id": doc["Id"],
        "Purpose": doc["Purpose"],
        "UserId": doc["UserId"],
        "Created": doc["Created"],
        "Links": {"Self": f"/api/users/{doc['UserId']}/apikeys/{doc['Id']}"},
    }
    if key is not None:  # the key itself only in the answer to its creation
        out["ApiKey"] = key
    return out


def _of_user(ctx: Ctx, user: Doc) -> Doc:
    doc = ctx.st.sys("apikeys").get(ctx.params["keyId"])
    if doc is None:
        raise not_found(ctx.params["keyId"])
    if doc["UserId"] != user["Id"]:
        raise invalid("This ApiKey does not belong to the specified user.")
    return doc


def _own_or(ctx: Ctx, user: Doc) -> None:
    """Another user's keys need UserEdit (an administrator's, for a service account)."""
    if user["Id"] != ctx.user_id and ctx.access != "full" and not holds(ctx, "UserEdit"):
        raise forbidden("UserEdit")


def _keys(ctx: Ctx, user_id: str) -> list[Doc]:
    rows = [k for k in ctx.st.sys("apikeys").values() if k["UserId"] == user_id]
    return sorted(rows, key=lambda k: (k["Created"], k["Id"]))


def list_keys(ctx: Ctx) -> Reply:
    user = lookup(ctx.st.sys("users"), ctx.params["id"])
    _own_or(ctx, user)
    path = f"/api/users/{user['Id']}/apikeys"
    return 200, envelope(
        _keys(ctx, user["Id"]), ctx.query, item_type="ApiKey", path=path,
        template=path + "{/id}{?skip,take}", render=_render,
    )  # fmt: skip


def get_key(ctx: Ctx) -> Reply:
    user = lookup(ctx.st.sys("users"), ctx.params["id"])
    _own_or(ctx, user)
    return 200, _render(_of_user(ctx, user))


def create_key(ctx: Ctx) -> Reply:
    user = lookup(ctx.st.sys("users"), ctx.params["id"])
    _own_or(ctx, user)
    body = ctx.json_body()
    purpose = body.get("Purpose")
    if not isinstance(purpose, str) or not purpose.strip():
        raise invalid("The Purpose field is required.")
    key = "API-" + "".join(secrets.choice(_ALPHABET) for _ in range(27))
    ident = ctx.st.next_id("ApiKeys")
    doc = {
        "Id": ident,
        "Purpose": purpose.strip(),
        "UserId": user["Id"],
        "KeyHash": digest(key),
        "Created": R.iso(now()),
    }
    ctx.st.sys("apikeys")[ident] = doc
    return 200, _render(doc, key)  # 2020.5 answers 200, the key shown this once


def delete_key(ctx: Ctx) -> Reply:
    user = lookup(ctx.st.sys("users"), ctx.params["id"])
    _own_or(ctx, user)
    doc = _of_user(ctx, user)
    del ctx.st.sys("apikeys")[doc["Id"]]
    return 200, None


def drop_user_keys(st: InstanceState, user_id: str) -> None:
    """A deleted user's keys stop working with it."""
    keys = st.sys("apikeys")
    for ident in [k for k, v in keys.items() if v["UserId"] == user_id]:
        del keys[ident]


# ---------------------------------------------------------------- a user's key: permissions


def holds(ctx: Ctx, permission: str, space_id: str | None = None) -> bool:
    """Whether the key's user holds ``permission`` (anywhere in the space, or system-wide)."""
    perms = permission_set(ctx.st, ctx.user_id, None, space_id or ctx.space_id)
    return permission in perms["SystemPermissions"] or bool(
        perms["SpacePermissions"].get(permission)
    )


def require_scoped(
    ctx: Ctx, permission: str, space_id: str, project: Doc, env: Doc, tenant_id: str | None
) -> None:
    """A user's key must hold ``permission`` for this project, environment and tenant (an
    empty restriction list allows all); a tenant restriction refuses untenanted ones."""
    if ctx.key_user is None:
        return
    entries = permission_set(ctx.st, ctx.user_id, None, space_id)["SpacePermissions"]
    for entry in entries.get(permission) or []:
        projects = entry["RestrictedToProjectIds"]
        envs = entry["RestrictedToEnvironmentIds"]
        tenants = entry["RestrictedToTenantIds"]
        groups = entry["RestrictedToProjectGroupIds"]
        if projects and project["Id"] not in projects:
            continue
        if groups and project.get("ProjectGroupId") not in groups:
            continue
        if envs and env["Id"] not in envs:
            continue
        if tenants and (tenant_id is None or tenant_id not in tenants):
            continue
        return
    raise forbidden(permission)


def register(router: Router) -> None:
    swagger = "/api/users/{userId}/apikeys"
    router.system("GET", "/users/{id}/apikeys", list_keys, swagger=swagger)
    # Octopus lets any user manage their own keys; octosim asks UserEdit of every key write
    router.system("POST", "/users/{id}/apikeys", create_key, swagger=swagger, permission="UserEdit")
    router.system("GET", "/users/{id}/apikeys/{keyId}", get_key, swagger=swagger + "/{id}")
    router.system(
        "DELETE", "/users/{id}/apikeys/{keyId}", delete_key, swagger=swagger + "/{id}",
        permission="UserEdit",
    )  # fmt: skip
