"""Teams and scoped user roles (system-level or belonging to a space)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from octosim import resources as R
from octosim.api_core import require_space
from octosim.errors import invalid, not_found
from octosim.paging import bool_param, csv_param, envelope, filter_common, q
from octosim.routing import Ctx, Reply, Router
from octosim.state import Doc, now

TEAM_QUERY = q("skip", "take", "ids", "partialName", "spaces", "includeSystem")


def lookup(coll: dict[str, Doc], ident: str) -> Doc:
    doc = coll.get(ident)
    if doc is None:
        doc = next((d for k, d in coll.items() if k.lower() == ident.lower()), None)
    if doc is None:
        raise not_found(ident)
    return doc


def _space_filter(ctx: Ctx, items: list[Doc]) -> list[Doc]:
    """``spaces``/``includeSystem`` for resources that may be system- or space-level."""
    include_system = bool_param(ctx.query, "includeSystem")
    if include_system is None:
        include_system = True
    if ctx.space_id is not None:
        require_space(ctx)
        spaces: set[str] | None = {ctx.space_id}
    else:
        wanted = csv_param(ctx.query, "spaces")
        spaces = None if not wanted or "all" in [w.lower() for w in wanted] else set(wanted)
    return [
        d
        for d in items
        if (d.get("SpaceId") is None and include_system)
        or (d.get("SpaceId") is not None and (spaces is None or d["SpaceId"] in spaces))
    ]


def _links(kind: str, doc: Doc) -> dict[str, str]:
    links = {"Self": f"/api/{kind}/{doc['Id']}"}
    if kind == "teams":
        links["ScopedUserRoles"] = f"/api/teams/{doc['Id']}/scopeduserroles{{?skip,take}}"
    return links


def render_doc(kind: str) -> Callable[[Doc], Doc]:
    def inner(doc: Doc) -> Doc:
        return {**doc, "Links": _links(kind, doc)}

    return inner


# ---------------------------------------------------------------- teams


def _teams(ctx: Ctx) -> list[Doc]:
    items = sorted(ctx.st.sys("teams").values(), key=lambda d: d["Name"].lower())
    items = _space_filter(ctx, items)
    return filter_common(items, ctx.query, lambda d: d["Name"], lambda d: d["Id"])


def list_teams(ctx: Ctx) -> Reply:
    path = f"{ctx.prefix}/teams"
    return 200, envelope(
        _teams(ctx), ctx.query, item_type="Team", path=path, template=path + "{/id}" + TEAM_QUERY,
        render=render_doc("teams"),
    )  # fmt: skip


def all_teams(ctx: Ctx) -> Reply:
    return 200, [render_doc("teams")(d) for d in _teams(ctx)]


def get_team(ctx: Ctx) -> Reply:
    return 200, render_doc("teams")(lookup(ctx.st.sys("teams"), ctx.params["id"]))


def _validate_team(ctx: Ctx, body: dict[str, Any], ident: str | None, space_id: str | None) -> None:
    errors = []
    name = body.get("Name")
    if not isinstance(name, str) or not name.strip():
        errors.append("The Name field is required.")
    elif len(name) > 200:
        errors.append("The team name must be 200 characters or less.")
    elif any(
        t["Name"].lower() == name.strip().lower()
        and t["Id"] != ident
        and t.get("SpaceId") == space_id
        for t in ctx.st.sys("teams").values()
    ):
        errors.append("A team with this name already exists. Please choose a different name.")
    for field in ("MemberUserIds", "ExternalSecurityGroups"):
        if not isinstance(body.get(field), list):
            errors.append(f"The {field} field is required.")
    for user_id in body.get("MemberUserIds") or []:
        if user_id not in ctx.st.sys("users"):
            errors.append(f"The user '{user_id}' does not exist.")
    if space_id is not None and space_id not in ctx.st.spaces:
        errors.append(f"The space '{space_id}' does not exist.")
    if errors:
        raise invalid(*errors)


def create_team(ctx: Ctx) -> Reply:
    body = ctx.json_body()
    space_id = body.get("SpaceId")
    if ctx.space_id is not None:
        require_space(ctx)
        space_id = space_id or ctx.space_id
    _validate_team(ctx, body, None, space_id)
    ident = ctx.st.next_id("Teams")
    doc = R.team(ident, body["Name"].strip(), space_id=space_id)
    R.apply_body(doc, body, ("CanBeDeleted", "CanBeRenamed", "CanChangeMembers", "CanChangeRoles"))
    if not doc.get("Slug"):
        doc["Slug"] = R.slug_of(doc["Name"])
    R.stamp(doc, ctx.username, now())
    ctx.st.sys("teams")[ident] = doc
    return 201, render_doc("teams")(doc)


def update_team(ctx: Ctx) -> Reply:
    doc = lookup(ctx.st.sys("teams"), ctx.params["id"])
    body = ctx.json_body()
    _validate_team(ctx, body, doc["Id"], doc.get("SpaceId"))
    if not doc["CanBeRenamed"] and body.get("Name") != doc["Name"]:
        raise invalid("This team cannot be renamed.")
    if not doc["CanChangeMembers"] and sorted(body.get("MemberUserIds") or []) != sorted(
        doc["MemberUserIds"]
    ):
        raise invalid("The members of this team cannot be changed.")
    R.apply_body(doc, body, ("CanBeDeleted", "CanBeRenamed", "CanChangeMembers", "CanChangeRoles"))
    R.stamp(doc, ctx.username, now())
    return 200, render_doc("teams")(doc)


def delete_team(ctx: Ctx) -> Reply:
    doc = lookup(ctx.st.sys("teams"), ctx.params["id"])
    if not doc["CanBeDeleted"]:
        raise invalid("This team cannot be deleted.")
    del ctx.st.sys("teams")[doc["Id"]]
    roles = ctx.st.sys("scopeduserroles")
    for key in [k for k, r in roles.items() if r["TeamId"] == doc["Id"]]:
        del roles[key]
    return 200, None


def team_roles(ctx: Ctx) -> Reply:
    team = lookup(ctx.st.sys("teams"), ctx.params["id"])
    items = [r for r in ctx.st.sys("scopeduserroles").values() if r["TeamId"] == team["Id"]]
    path = f"/api/teams/{team['Id']}/scopeduserroles"
    return 200, envelope(
        items, ctx.query, item_type="ScopedUserRole", path=path, template=path + "{?skip,take}",
        render=render_doc("scopeduserroles"),
    )  # fmt: skip


# ---------------------------------------------------------------- scoped user roles


def _srs(ctx: Ctx) -> list[Doc]:
    items = sorted(
        ctx.st.sys("scopeduserroles").values(), key=lambda d: int(d["Id"].rsplit("-", 1)[-1])
    )
    items = _space_filter(ctx, items)
    ids = set(csv_param(ctx.query, "ids"))
    return [d for d in items if d["Id"] in ids] if ids else items


def list_srs(ctx: Ctx) -> Reply:
    path = f"{ctx.prefix}/scopeduserroles"
    return 200, envelope(
        _srs(ctx), ctx.query, item_type="ScopedUserRole", path=path,
        template=path + "{/id}" + TEAM_QUERY, render=render_doc("scopeduserroles"),
    )  # fmt: skip


def get_sr(ctx: Ctx) -> Reply:
    return 200, render_doc("scopeduserroles")(
        lookup(ctx.st.sys("scopeduserroles"), ctx.params["id"])
    )


def _validate_sr(ctx: Ctx, body: dict[str, Any]) -> None:
    errors = []
    team = ctx.st.sys("teams").get(str(body.get("TeamId")))
    role = ctx.st.sys("userroles").get(str(body.get("UserRoleId")))
    if team is None:
        errors.append("The TeamId field is required and must name an existing team.")
    if role is None:
        errors.append("The UserRoleId field is required and must name an existing user role.")
    space_id = body.get("SpaceId")
    if space_id is not None and space_id not in ctx.st.spaces:
        errors.append(f"The space '{space_id}' does not exist.")
    if team is not None and team.get("SpaceId") and space_id != team["SpaceId"]:
        errors.append("A space-level team can only be given roles in its own space.")
    if (
        role is not None
        and space_id is None
        and role["GrantedSpacePermissions"]
        and not role["GrantedSystemPermissions"]
    ):
        errors.append("A role with space permissions must be scoped to a space.")
    if errors:
        raise invalid(*errors)


def create_sr(ctx: Ctx) -> Reply:
    body = ctx.json_body()
    if ctx.space_id is not None:
        require_space(ctx)
        body.setdefault("SpaceId", ctx.space_id)
    _validate_sr(ctx, body)
    ident = ctx.st.next_id("ScopedUserRoles")
    doc = R.scoped_user_role(ident, body["TeamId"], body["UserRoleId"], body.get("SpaceId"))
    R.apply_body(doc, body)
    doc["SpaceId"] = body.get("SpaceId")
    R.stamp(doc, ctx.username, now())
    ctx.st.sys("scopeduserroles")[ident] = doc
    return 201, render_doc("scopeduserroles")(doc)


def update_sr(ctx: Ctx) -> Reply:
    doc = lookup(ctx.st.sys("scopeduserroles"), ctx.params["id"])
    body = ctx.json_body()
    body.setdefault("SpaceId", doc["SpaceId"])
    _validate_sr(ctx, body)
    R.apply_body(doc, body)
    doc["SpaceId"] = body.get("SpaceId")
    R.stamp(doc, ctx.username, now())
    return 200, render_doc("scopeduserroles")(doc)


def delete_sr(ctx: Ctx) -> Reply:
    doc = lookup(ctx.st.sys("scopeduserroles"), ctx.params["id"])
    del ctx.st.sys("scopeduserroles")[doc["Id"]]
    return 200, None


def register(router: Router) -> None:
    router.system("GET", "/teams", list_teams)
    router.system("GET", "/teams/all", all_teams)
    router.system("GET", "/teams/{id}", get_team)
    router.system("POST", "/teams", create_team, permission="TeamCreate")
    router.system("PUT", "/teams/{id}", update_team, permission="TeamEdit")
    router.system("DELETE", "/teams/{id}", delete_team, permission="TeamDelete")
    router.system("GET", "/teams/{id}/scopeduserroles", team_roles)
    router.space("GET", "/teams", list_teams, with_default=False)
    router.space("GET", "/teams/all", all_teams, with_default=False)
    router.space("GET", "/teams/{id}", get_team, with_default=False)
    router.space("POST", "/teams", create_team, permission="TeamCreate", with_default=False)
    router.space("PUT", "/teams/{id}", update_team, permission="TeamEdit", with_default=False)
    router.space("DELETE", "/teams/{id}", delete_team, permission="TeamDelete", with_default=False)
    router.space("GET", "/teams/{id}/scopeduserroles", team_roles, with_default=False)

    router.system("GET", "/scopeduserroles", list_srs)
    router.system("GET", "/scopeduserroles/{id}", get_sr)
    router.system("POST", "/scopeduserroles", create_sr, permission="TeamEdit")
    router.system("PUT", "/scopeduserroles/{id}", update_sr, permission="TeamEdit")
    router.system("DELETE", "/scopeduserroles/{id}", delete_sr, permission="TeamEdit")
    router.space("GET", "/scopeduserroles", list_srs, with_default=False)
    router.space("GET", "/scopeduserroles/{id}", get_sr, with_default=False)
    router.space("POST", "/scopeduserroles", create_sr, permission="TeamEdit", with_default=False)
    router.space(
        "PUT", "/scopeduserroles/{id}", update_sr, permission="TeamEdit", with_default=False
    )
    router.space(
        "DELETE", "/scopeduserroles/{id}", delete_sr, permission="TeamEdit", with_default=False
    )
