"""Channels: full CRUD, one default per project, a lifecycle, version rules and tenant tags
(checked against the space's tag sets) each."""

from __future__ import annotations

import uuid
from typing import Any

from octosim import resources as R
from octosim.api_core import require_space
from octosim.errors import invalid, not_found
from octosim.lifecycles import in_range
from octosim.paging import envelope, filter_common, q
from octosim.routing import Ctx, Reply, Router
from octosim.state import Doc, now


def render_channel(doc: Doc) -> Doc:
    p = f"/api/{doc['SpaceId']}"
    return {
        **doc,
        "Links": {
            "Self": f"{p}/channels/{doc['Id']}",
            "Project": f"{p}/projects/{doc['ProjectId']}",
            "Releases": f"{p}/channels/{doc['Id']}/releases{{?skip,take,searchByVersion}}",
        },
    }


def new_channel(ident: str, space_id: str, project_id: str, name: str) -> Doc:
    return {
        "Id": ident,
        "Name": name,
        "Description": "",
        "ProjectId": project_id,
        "LifecycleId": None,
        "IsDefault": False,
        "Rules": [],
        "TenantTags": [],
        "SpaceId": space_id,
        "LastModifiedOn": None,
        "LastModifiedBy": None,
    }


def get_channel(ctx: Ctx, ident: str) -> Doc:
    require_space(ctx)
    doc = ctx.col("channels").get(ident)
    if doc is None:
        raise not_found(ident)
    return doc


def _sorted(items: list[Doc]) -> list[Doc]:
    return sorted(items, key=lambda c: (c["ProjectId"], not c["IsDefault"], c["Name"].lower()))


def _listing(ctx: Ctx, items: list[Doc], path: str) -> Reply:
    items = filter_common(_sorted(items), ctx.query, lambda d: d["Name"], lambda d: d["Id"])
    return 200, envelope(
        items, ctx.query, item_type="Channel", path=path,
        template=path + "{/id}" + q("skip", "take", "ids", "partialName"),
        render=render_channel,
    )  # fmt: skip


def list_channels(ctx: Ctx) -> Reply:
    require_space(ctx)
    return _listing(ctx, list(ctx.col("channels").values()), f"{ctx.prefix}/channels")


def all_channels(ctx: Ctx) -> Reply:
    require_space(ctx)
    return 200, [render_channel(c) for c in _sorted(list(ctx.col("channels").values()))]


def project_channels(ctx: Ctx) -> Reply:
    require_space(ctx)
    project = ctx.col("projects").get(ctx.params["id"])
    if project is None:
        raise not_found(ctx.params["id"])
    items = [c for c in ctx.col("channels").values() if c["ProjectId"] == project["Id"]]
    return _listing(ctx, items, f"{ctx.prefix}/projects/{project['Id']}/channels")


def read_channel(ctx: Ctx) -> Reply:
    return 200, render_channel(get_channel(ctx, ctx.params["id"]))


def _clean_rules(raw: Any, errors: list[str]) -> list[Doc]:
    rules: list[Doc] = []
    for rule in raw or []:
        if not isinstance(rule, dict):
            errors.append("Each channel rule must be an object.")
            continue
        spec = str(rule.get("VersionRange") or "")
        try:
            in_range("1.0.0", spec)
        except ValueError as err:
            errors.append(str(err))
        packages = [
            {
                "DeploymentAction": str(ap.get("DeploymentAction") or ""),
                "PackageReference": str(ap.get("PackageReference") or ""),
            }
            for ap in rule.get("ActionPackages") or []
            if isinstance(ap, dict)
        ]
        if not packages:
            errors.append("A channel rule must name at least one step package (ActionPackages).")
        rules.append(
            {
                "Id": rule.get("Id") or str(uuid.uuid4()),
                "VersionRange": spec,
                "Tag": str(rule.get("Tag") or ""),
                "ActionPackages": packages,
                "Links": {},
            }
        )
    return rules


def _tag_errors(ctx: Ctx, tags: Any) -> list[str]:
    """Octopus checks a channel's tenant tags as it checks a tenant's: canonical names
    ("Tag set/Tag", any case) of tags in the space."""
    if tags is None:
        return []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        return ["TenantTags must be a list of canonical tag names."]
    known = {
        str(t.get("CanonicalTagName") or f"{s['Name']}/{t['Name']}").lower()
        for s in ctx.col("tagsets").values()
        for t in s.get("Tags") or []
    }
    return [f"The tag '{t}' does not exist." for t in tags if t.lower() not in known]


def _validate(ctx: Ctx, body: dict[str, Any], current: Doc | None) -> list[Doc]:
    errors: list[str] = []
    name = str(body.get("Name") or "").strip()
    project_id = current["ProjectId"] if current else body.get("ProjectId")
    if not name:
        errors.append("The Name field is required.")
    if not project_id or project_id not in ctx.col("projects"):
        errors.append("The ProjectId field is required and must name a project in this space.")
    elif any(
        c["ProjectId"] == project_id
        and c["Name"].lower() == name.lower()
        and (current is None or c["Id"] != current["Id"])
        for c in ctx.col("channels").values()
    ):
        errors.append("A channel with this name already exists in this project.")
    lifecycle = body.get("LifecycleId")
    if lifecycle and lifecycle not in ctx.col("lifecycles"):
        errors.append(f"The lifecycle '{lifecycle}' does not exist.")
    rules = _clean_rules(body.get("Rules"), errors)
    errors += _tag_errors(ctx, body.get("TenantTags"))
    if errors:
        raise invalid(*errors)
    return rules


def _apply(ctx: Ctx, doc: Doc, body: dict[str, Any], rules: list[Doc]) -> None:
    doc["Name"] = str(body["Name"]).strip()
    doc["Description"] = body.get("Description") or ""
    doc["LifecycleId"] = body.get("LifecycleId") or None
    doc["TenantTags"] = list(body.get("TenantTags") or [])
    doc["Rules"] = rules
    if body.get("IsDefault"):
        for other in ctx.col("channels").values():
            if other["ProjectId"] == doc["ProjectId"]:
                other["IsDefault"] = False
        doc["IsDefault"] = True
    R.stamp(doc, ctx.username, now())


def create_channel(ctx: Ctx) -> Reply:
    require_space(ctx)
    body = ctx.json_body()
    rules = _validate(ctx, body, None)
    doc = new_channel(
        ctx.st.next_id("Channels"), str(ctx.space_id), str(body["ProjectId"]), body["Name"]
    )
    ctx.col("channels")[doc["Id"]] = doc
    _apply(ctx, doc, body, rules)
    return 201, render_channel(doc)


def update_channel(ctx: Ctx) -> Reply:
    doc = get_channel(ctx, ctx.params["id"])
    body = ctx.json_body()
    rules = _validate(ctx, body, doc)
    if doc["IsDefault"] and body.get("IsDefault") is False:
        raise invalid("A project must have a default channel: make another channel the default.")
    _apply(ctx, doc, body, rules)
    return 200, render_channel(doc)


def delete_channel(ctx: Ctx) -> Reply:
    doc = get_channel(ctx, ctx.params["id"])
    if doc["IsDefault"]:
        raise invalid("The default channel of a project cannot be deleted.")
    if any(r.channel_id == doc["Id"] for r in ctx.st.releases.values()):
        raise invalid("This channel has releases; delete them before deleting the channel.")
    del ctx.col("channels")[doc["Id"]]
    return 200, None


def register(router: Router) -> None:
    router.space("GET", "/channels", list_channels)
    router.space("GET", "/channels/all", all_channels)
    router.space("GET", "/channels/{id}", read_channel)
    router.space("POST", "/channels", create_channel, permission="ProjectEdit")
    router.space("PUT", "/channels/{id}", update_channel, permission="ProjectEdit")
    router.space("DELETE", "/channels/{id}", delete_channel, permission="ProjectEdit")
    router.space("GET", "/projects/{id}/channels", project_channels)
