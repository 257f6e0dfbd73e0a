"""User roles, users and the community step-template library."""

from __future__ import annotations

from collections.abc import Callable

from octosim import resources as R
from octosim.api_apikeys import drop_user_keys
from octosim.api_core import has_revoke_sessions, render_user, require_space
from octosim.api_space import KINDS, render
from octosim.api_system import lookup, render_doc
from octosim.errors import invalid, not_found
from octosim.paging import envelope, filter_common
from octosim.permissions import permission_set
from octosim.routing import Ctx, Reply, Router
from octosim.state import Doc, now

# ---------------------------------------------------------------- user roles and users


def _simple_list(
    kind: str, item_type: str, query: str, name_field: str = "Name"
) -> Callable[[Ctx], Reply]:
    def handler(ctx: Ctx) -> Reply:
        items = sorted(ctx.st.sys(kind).values(), key=lambda d: str(d[name_field]).lower())
        items = filter_common(items, ctx.query, lambda d: str(d[name_field]), lambda d: d["Id"])
        path = f"/api/{kind}"
        renderer = render_doc(kind) if kind != "users" else (lambda d: render_user(ctx, d))
        return 200, envelope(
            items, ctx.query, item_type=item_type, path=path, template=path + "{/id}" + query,
            render=renderer,
        )  # fmt: skip

    return handler


def _simple_all(kind: str, name_field: str = "Name") -> Callable[[Ctx], Reply]:
    def handler(ctx: Ctx) -> Reply:
        items = sorted(ctx.st.sys(kind).values(), key=lambda d: str(d[name_field]).lower())
        if kind == "users":
            return 200, [render_user(ctx, d) for d in items]
        return 200, [render_doc(kind)(d) for d in items]

    return handler


def get_role(ctx: Ctx) -> Reply:
    return 200, render_doc("userroles")(lookup(ctx.st.sys("userroles"), ctx.params["id"]))


def create_role(ctx: Ctx) -> Reply:
    body = ctx.json_body()
    name = body.get("Name")
    if not isinstance(name, str) or not name.strip():
        raise invalid("The Name field is required.")
    if any(r["Name"].lower() == name.lower() for r in ctx.st.sys("userroles").values()):
        raise invalid("A user role with this name already exists. Please choose a different name.")
    ident = ctx.st.next_id("UserRoles")
    doc = R.user_role(ident, name, "", [], [], builtin=False)
    R.apply_body(doc, body, ("CanBeDeleted",))
    R.stamp(doc, ctx.username, now())
    ctx.st.sys("userroles")[ident] = doc
    return 201, render_doc("userroles")(doc)


def update_role(ctx: Ctx) -> Reply:
    doc = lookup(ctx.st.sys("userroles"), ctx.params["id"])
    body = ctx.json_body()
    if not isinstance(body.get("Name"), str) or not body["Name"].strip():
        raise invalid("The Name field is required.")
    R.apply_body(doc, body, ("CanBeDeleted",))
    R.stamp(doc, ctx.username, now())
    return 200, render_doc("userroles")(doc)


def delete_role(ctx: Ctx) -> Reply:
    doc = lookup(ctx.st.sys("userroles"), ctx.params["id"])
    if not doc["CanBeDeleted"]:
        raise invalid("This resource is read-only and cannot be deleted.")
    if any(r["UserRoleId"] == doc["Id"] for r in ctx.st.sys("scopeduserroles").values()):
        raise invalid("This user role is assigned to one or more teams.")
    del ctx.st.sys("userroles")[doc["Id"]]
    return 200, None


def get_user(ctx: Ctx) -> Reply:
    return 200, render_user(ctx, lookup(ctx.st.sys("users"), ctx.params["id"]))


def create_user(ctx: Ctx) -> Reply:
    body = ctx.json_body()
    errors = []
    username = body.get("Username")
    if not isinstance(username, str) or not username.strip():
        errors.append("The Username field is required.")
    elif any(u["Username"].lower() == username.lower() for u in ctx.st.sys("users").values()):
        errors.append("A user with this username already exists.")
    if not isinstance(body.get("DisplayName"), str) or not body["DisplayName"].strip():
        errors.append("The DisplayName field is required.")
    if errors:
        raise invalid(*errors)
    ident = ctx.st.next_id("Users")
    doc = R.user(ident, str(username), body["DisplayName"], service=bool(body.get("IsService")))
    R.apply_body(doc, body, ("IsRequestor", "CanPasswordBeEdited", "Password"))
    R.stamp(doc, ctx.username, now())
    ctx.st.sys("users")[ident] = doc
    return 201, render_user(ctx, doc)


def update_user(ctx: Ctx) -> Reply:
    doc = lookup(ctx.st.sys("users"), ctx.params["id"])
    body = ctx.json_body()
    R.apply_body(doc, body, ("IsRequestor", "CanPasswordBeEdited", "Password", "Username"))
    R.stamp(doc, ctx.username, now())
    return 200, render_user(ctx, doc)


def delete_user(ctx: Ctx) -> Reply:
    doc = lookup(ctx.st.sys("users"), ctx.params["id"])
    if doc["Id"] == ctx.user_id:
        raise invalid("You cannot delete your own account.")
    del ctx.st.sys("users")[doc["Id"]]
    drop_user_keys(ctx.st, doc["Id"])
    for team in ctx.st.sys("teams").values():
        if doc["Id"] in team["MemberUserIds"]:
            team["MemberUserIds"].remove(doc["Id"])
    return 200, None


def revoke_sessions(ctx: Ctx) -> Reply:
    """End every browser session of the user (Octopus 2022.1+: the user's ``RevokeSessions``
    link, PUT with no body). API keys are not sessions and keep working. Older versions have
    neither the link nor the route."""
    if not has_revoke_sessions(ctx.inst.version):
        raise not_found()
    doc = lookup(ctx.st.sys("users"), ctx.params["id"])
    sessions = ctx.st.sys("sessions")
    for key in [k for k, v in sessions.items() if v["UserId"] == doc["Id"]]:
        del sessions[key]
    return 200, None


def user_teams(ctx: Ctx) -> Reply:
    doc = lookup(ctx.st.sys("users"), ctx.params["id"])
    teams = [
        t
        for t in ctx.st.sys("teams").values()
        if doc["Id"] in t["MemberUserIds"] or t["Id"] == "teams-everyone"
    ]
    return 200, [{"Id": t["Id"], "Name": t["Name"], "SpaceId": t["SpaceId"]} for t in teams]


def user_permissions(ctx: Ctx) -> Reply:
    """The user's permissions; a key's own user also holds what its key grants."""
    doc = lookup(ctx.st.sys("users"), ctx.params["id"])
    if ctx.space_id is not None:
        require_space(ctx)
    access = ctx.access if doc["Id"] == ctx.user_id else None
    return 200, permission_set(ctx.st, doc["Id"], access, ctx.space_id)


# ---------------------------------------------------------------- community step templates


def _render_cat(doc: Doc) -> Doc:
    ident = doc["Id"]
    return {
        **doc,
        "Links": {
            "Self": f"/api/communityactiontemplates/{ident}",
            "Logo": f"/api/communityactiontemplates/{ident}/logo",
            "InstallationAction": f"/api/communityactiontemplates/{ident}/installation{{/spaceId}}",
            "InstalledTemplate": f"/api/communityactiontemplates/{ident}/actiontemplate"
            + "{/spaceId}",
        },
    }


def list_cat(ctx: Ctx) -> Reply:
    items = sorted(ctx.st.sys("communityactiontemplates").values(), key=lambda d: d["Name"].lower())
    items = filter_common(items, ctx.query, lambda d: d["Name"], lambda d: d["Id"])
    path = "/api/communityactiontemplates"
    return 200, envelope(
        items, ctx.query, item_type="CommunityActionTemplate", path=path,
        template=path + "{/id}{?skip,take,ids}", render=_render_cat,
    )  # fmt: skip


def get_cat(ctx: Ctx) -> Reply:
    return 200, _render_cat(lookup(ctx.st.sys("communityactiontemplates"), ctx.params["id"]))


def _install_target(ctx: Ctx) -> tuple[Doc, str, Doc | None]:
    cat = lookup(ctx.st.sys("communityactiontemplates"), ctx.params["id"])
    space_id = ctx.params.get("spaceId") or ctx.st.default_space_id()
    ctx.space_id = space_id
    require_space(ctx)
    assert ctx.space_id is not None
    installed = next(
        (
            t
            for t in ctx.col("actiontemplates").values()
            if t["CommunityActionTemplateId"] == cat["Id"]
        ),
        None,
    )
    return cat, ctx.space_id, installed


def _copy_from_community(doc: Doc, cat: Doc) -> None:
    doc.update(
        {
            "Name": cat["Name"],
            "Description": cat["Description"],
            "ActionType": cat["Type"],
            "Version": cat["Version"],
            "CommunityActionTemplateId": cat["Id"],
            "Parameters": [dict(p) for p in cat["Parameters"]],
            "Properties": dict(cat["Properties"]),
            "Packages": [],
        }
    )


def installed_cat(ctx: Ctx) -> Reply:
    _, _, installed = _install_target(ctx)
    if installed is None:
        raise not_found()
    return 200, render(ctx, KINDS["actiontemplates"], installed)


def install_cat(ctx: Ctx) -> Reply:
    cat, space_id, installed = _install_target(ctx)
    if installed is not None:
        raise invalid("Action Template already installed.")
    if any(t["Name"].lower() == cat["Name"].lower() for t in ctx.col("actiontemplates").values()):
        raise invalid(
            "A step template with this name already exists. Please choose a different name."
        )
    doc = R.action_template(ctx.st, space_id, cat["Name"])
    _copy_from_community(doc, cat)
    R.stamp(doc, ctx.username, now())
    ctx.col("actiontemplates")[doc["Id"]] = doc
    return 201, render(ctx, KINDS["actiontemplates"], doc)


def update_installed_cat(ctx: Ctx) -> Reply:
    cat, _, installed = _install_target(ctx)
    if installed is None:
        raise invalid("Action template not yet installed.")
    ctx.st.template_versions.setdefault(installed["Id"], []).append(dict(installed))
    _copy_from_community(installed, cat)
    R.stamp(installed, ctx.username, now())
    return 200, render(ctx, KINDS["actiontemplates"], installed)


def register(router: Router) -> None:
    router.system(
        "GET", "/userroles", _simple_list("userroles", "UserRole", "{?skip,take,ids,partialName}")
    )
    router.system("GET", "/userroles/all", _simple_all("userroles"))
    router.system("GET", "/userroles/{id}", get_role)
    router.system("POST", "/userroles", create_role, permission="UserRoleEdit")
    router.system("PUT", "/userroles/{id}", update_role, permission="UserRoleEdit")
    router.system("DELETE", "/userroles/{id}", delete_role, permission="UserRoleEdit")

    router.system(
        "GET", "/users", _simple_list("users", "User", "{?skip,take,ids,filter}", "Username")
    )
    router.system("GET", "/users/all", _simple_all("users", "Username"))
    router.system("GET", "/users/{id}", get_user)
    router.system("POST", "/users", create_user, permission="UserEdit")
    router.system("PUT", "/users/{id}", update_user, permission="UserEdit")
    router.system("DELETE", "/users/{id}", delete_user, permission="UserEdit")
    router.system(
        "PUT", "/users/{id}/revoke-sessions", revoke_sessions, permission="UserEdit", swagger=None
    )
    router.system("GET", "/users/{id}/teams", user_teams)
    router.system("GET", "/users/{id}/permissions", user_permissions)
    router.space("GET", "/users/{id}/permissions", user_permissions, with_default=False)

    router.system("GET", "/communityactiontemplates", list_cat)
    router.system("GET", "/communityactiontemplates/{id}", get_cat)
    for suffix in ("", "/{spaceId}"):
        router.system(
            "GET", f"/communityactiontemplates/{{id}}/actiontemplate{suffix}", installed_cat
        )
        router.system(
            "POST",
            f"/communityactiontemplates/{{id}}/installation{suffix}",
            install_cat,
            permission="ActionTemplateCreate",
        )
        router.system(
            "PUT",
            f"/communityactiontemplates/{{id}}/installation{suffix}",
            update_installed_cat,
            permission="ActionTemplateEdit",
        )
