"""Releases: creation (classic and the executions API), frozen snapshots, selected package
versions, channel rules, listing, progression, re-snapshotting variables and deletion."""

from __future__ import annotations

from typing import Any

from octosim import lifecycles as L
from octosim import processes as P
from octosim.api_core import require_space
from octosim.api_packages import find_version, latest_version
from octosim.api_processes import next_version, package_slots, project_of
from octosim.errors import ApiError, invalid, not_found
from octosim.paging import bool_param, csv_param, envelope, param
from octosim.resources import iso
from octosim.routing import Ctx, Reply, Router
from octosim.state import Doc, ReleaseRec, now


def snapshot_ids(ctx: Ctx, rel: ReleaseRec) -> Doc:
    if rel.snapshot is not None:
        return rel.snapshot
    # generated history: ids of snapshots that are frozen lazily (octosim.processes)
    num = P.release_number(rel.id)
    project = ctx.st.col(rel.space_id, "projects").get(rel.project_id, {})
    return {
        "process": f"deploymentprocess-{rel.project_id}-s-{num}",
        "variables": f"variableset-{rel.project_id}-s-{num}",
        "libraries": [
            f"variableset-{i}-s-{num}" for i in project.get("IncludedLibraryVariableSetIds", [])
        ],
        "packages": [],
    }


def render_release(ctx: Ctx, rel: ReleaseRec) -> Doc:
    p = f"/api/{rel.space_id}"
    snap = snapshot_ids(ctx, rel)
    return {
        "Id": rel.id,
        "SpaceId": rel.space_id,
        "Version": rel.version,
        "ProjectId": rel.project_id,
        "ChannelId": rel.channel_id,
        "Assembled": iso(rel.assembled),
        "ReleaseNotes": rel.notes,
        "IgnoreChannelRules": bool(snap.get("ignore_rules")),
        "BuildInformation": [],
        "SelectedPackages": [
            {k: v for k, v in pkg.items() if k != "PackageId"} for pkg in snap["packages"]
        ],
        "ProjectVariableSetSnapshotId": snap["variables"],
        "LibraryVariableSetSnapshotIds": list(snap["libraries"]),
        "ProjectDeploymentProcessSnapshotId": snap["process"],
        "VersionControlReference": None,
        "LastModifiedOn": iso(rel.assembled),
        "LastModifiedBy": snap.get("by", "admin"),
        "Links": {
            "Self": f"{p}/releases/{rel.id}",
            "Project": f"{p}/projects/{rel.project_id}",
            "Channel": f"{p}/channels/{rel.channel_id}",
            "Progression": f"{p}/releases/{rel.id}/progression",
            "Deployments": f"{p}/releases/{rel.id}/deployments{{?skip,take}}",
            "DeploymentTemplate": f"{p}/releases/{rel.id}/deployments/template",
            "ProjectVariableSnapshot": f"{p}/variables/{snap['variables']}",
            "ProjectDeploymentProcessSnapshot": f"{p}/deploymentprocesses/{snap['process']}",
            "SnapshotVariables": f"{p}/releases/{rel.id}/snapshot-variables",
        },
    }


def get_release_rec(ctx: Ctx, ident: str) -> ReleaseRec:
    require_space(ctx)
    rel = ctx.st.releases.get(ident)
    if rel is None or rel.space_id != ctx.space_id:
        raise not_found(ident)
    return rel


# ---------------------------------------------------------------- creation


def choose_versions(
    ctx: Ctx, slots: list[Doc], chosen: dict[tuple[str, str], str], default: str | None
) -> list[Doc]:
    """The version of every package reference: asked for, else the default, else the
    latest in the built-in feed; a missing version is refused as Octopus does."""
    errors: list[str] = []
    selected = []
    space_id = str(ctx.space_id)
    for slot in slots:
        ref = slot["PackageReferenceName"] or ""
        version = (
            chosen.get((slot["ActionName"], ref))
            or chosen.get((slot["StepName"], ref))
            or chosen.get((slot["PackageId"], ""))
            or chosen.get(("*", ""))
            or default
        )
        builtin = slot["FeedId"] == "feeds-builtin"
        if version is None and builtin:
            version = latest_version(ctx.st, space_id, slot["PackageId"])
        if version is None:
            errors.append(
                f"Could not find any version of package '{slot['PackageId']}' in feed "
                f"'{slot['FeedName']}' for step '{slot['StepName']}'."
            )
            continue
        if builtin and find_version(ctx.st, space_id, slot["PackageId"], version) is None:
            errors.append(
                f"Could not find package '{slot['PackageId']}' version '{version}' in feed "
                f"'{slot['FeedName']}' for step '{slot['StepName']}'."
            )
            continue
        selected.append(
            {
                "ActionName": slot["ActionName"],
                "StepName": slot["StepName"],
                "PackageReferenceName": slot["PackageReferenceName"],
                "Version": version,
                "PackageId": slot["PackageId"],
            }
        )
    if errors:
        raise invalid(*errors)
    return selected


def make_release(
    ctx: Ctx,
    project: Doc,
    channel: Doc,
    version: str | None,
    *,
    notes: str = "",
    chosen: dict[tuple[str, str], str] | None = None,
    default_package_version: str | None = None,
    ignore_rules: bool = False,
) -> ReleaseRec:
    """Create a release: choose package versions, check channel rules and the version's
    uniqueness, and freeze the process and every variable set it reads."""
    st = ctx.st
    process = P.live_process(st, project, store=True)  # its LastSnapshotId changes
    slots = [s for s in package_slots(ctx, process) if not s["IsDisabled"]]
    selected = choose_versions(ctx, slots, chosen or {}, default_package_version)
    existing = [r for r in st.releases.values() if r.project_id == project["Id"]]
    if not version:
        last = max(existing, key=lambda r: r.assembled).version if existing else None
        version = next_version(last)
    if any(r.version == version for r in existing):
        raise invalid(f"A release with the version '{version}' already exists in this project.")
    if not ignore_rules:
        violations = L.rule_violations(channel, selected)
        if violations:
            raise invalid(*violations)
    previous = max(
        (r for r in existing if r.snapshot is not None), key=lambda r: r.assembled, default=None
    )
    before: Doc = previous.snapshot if previous is not None and previous.snapshot else {}
    rel_id = st.next_id("Releases")
    num = P.release_number(rel_id)
    variables = st.variable_sets[project["VariableSetId"]]
    snap: Doc = {
        "process": P.freeze(st, f"{process['Id']}-s-{num}", process, before.get("process")),
        "variables": P.freeze(
            st, f"variableset-{project['Id']}-s-{num}", variables, before.get("variables")
        ),
        "libraries": [],
        "packages": selected,
        "ignore_rules": ignore_rules,
        "by": ctx.username,
    }
    for lvs_id in project["IncludedLibraryVariableSetIds"]:
        lvs = st.col(project["SpaceId"], "libraryvariablesets").get(lvs_id)
        if lvs is not None:
            ident = f"variableset-{lvs_id}-s-{num}"
            like = next((i for i in before.get("libraries", []) if f"-{lvs_id}-" in i), None)
            lvs_set = st.variable_sets[lvs["VariableSetId"]]
            snap["libraries"].append(P.freeze(st, ident, lvs_set, like))
    process["LastSnapshotId"] = snap["process"]
    rel = ReleaseRec(
        rel_id, project["SpaceId"], project["Id"], channel["Id"], version, now(), notes, snap
    )
    st.releases[rel.id] = rel
    return rel


def default_channel(ctx: Ctx, project: Doc) -> Doc:
    channels = [c for c in ctx.col("channels").values() if c["ProjectId"] == project["Id"]]
    found = next((c for c in channels if c["IsDefault"]), channels[0] if channels else None)
    if found is None:
        raise invalid(f"The project '{project['Name']}' has no channel.")
    return found


def create_release(ctx: Ctx) -> Reply:
    require_space(ctx)
    body = ctx.json_body()
    project = ctx.col("projects").get(str(body.get("ProjectId")))
    if project is None:
        raise invalid("The ProjectId field is required and must name a project in this space.")
    channel = default_channel(ctx, project)
    if body.get("ChannelId"):
        channel = ctx.col("channels").get(str(body["ChannelId"])) or {}
        if channel.get("ProjectId") != project["Id"]:
            raise invalid(f"The channel '{body['ChannelId']}' is not a channel of this project.")
    if not body.get("Version"):
        raise invalid("The Version field is required.")
    chosen = {}
    for pkg in ctx.list_field(body, "SelectedPackages"):
        if isinstance(pkg, dict) and pkg.get("Version"):
            key = str(pkg.get("ActionName") or pkg.get("StepName") or "")
            chosen[(key, str(pkg.get("PackageReferenceName") or ""))] = str(pkg["Version"])
    rel = make_release(
        ctx,
        project,
        channel,
        str(body["Version"]),
        notes=str(body.get("ReleaseNotes") or ""),
        chosen=chosen,
        # the classic API takes it as a query parameter (?ignoreChannelRules=true) too
        ignore_rules=bool(
            body.get("IgnoreChannelRules") or bool_param(ctx.query, "ignoreChannelRules")
        ),
    )
    return 201, render_release(ctx, rel)


def _by_name(ctx: Ctx, collection: str, name: Any, what: str, **match: str) -> Doc:
    for doc in ctx.col(collection).values():
        if all(doc.get(k) == v for k, v in match.items()) and (
            str(doc["Name"]).lower() == str(name or "").lower() or doc["Id"] == name
        ):
            return doc
    raise invalid(f"The {what} '{name}' could not be found.")


def parse_packages(values: Any) -> dict[tuple[str, str], str]:
    """``Packages`` of the executions API: "step:version", "step:package:version" or
    "package:version"; the step or package name ``*`` means every package."""
    out: dict[tuple[str, str], str] = {}
    for item in values or []:
        parts = [p.strip() for p in str(item).replace("=", ":").split(":")]
        if len(parts) == 2:
            out[(parts[0], "")] = parts[1]
        elif len(parts) == 3:
            out[(parts[0], parts[1])] = parts[2]
        else:
            raise invalid(
                f"The package '{item}' must be given as step:version or step:package:version."
            )  # noqa: E501
    return out


def create_release_v1(ctx: Ctx) -> Reply:
    require_space(ctx)
    body = ctx.json_body()
    project = _by_name(ctx, "projects", body.get("ProjectName"), "project")
    channel = default_channel(ctx, project)
    if body.get("ChannelName"):
        channel = _by_name(ctx, "channels", body["ChannelName"], "channel", ProjectId=project["Id"])
    version = body.get("ReleaseVersion")
    if version and body.get("IgnoreIfAlreadyExists"):
        for rel in ctx.st.releases.values():
            if rel.project_id == project["Id"] and rel.version == version:
                return 200, {"ReleaseId": rel.id, "ReleaseVersion": rel.version}
    rel = make_release(
        ctx,
        project,
        channel,
        str(version) if version else None,
        notes=str(body.get("ReleaseNotes") or ""),
        chosen=parse_packages(ctx.list_field(body, "Packages")),
        default_package_version=body.get("PackageVersion") or None,
        ignore_rules=bool(body.get("IgnoreChannelRules")),
    )
    return 200, {"ReleaseId": rel.id, "ReleaseVersion": rel.version}


# ---------------------------------------------------------------- reading and changing


def releases_of(ctx: Ctx, **match: str) -> list[ReleaseRec]:
    require_space(ctx)
    items = [r for r in ctx.st.releases.values() if r.space_id == ctx.space_id]
    for attr, value in match.items():
        items = [r for r in items if getattr(r, attr) == value]
    ids = set(csv_param(ctx.query, "ids"))
    if ids:
        items = [r for r in items if r.id in ids]
    search = param(ctx.query, "searchByVersion")
    if search:
        items = [r for r in items if search in r.version]
    items.sort(key=lambda r: (r.assembled, r.id), reverse=True)
    return items


def _listing(ctx: Ctx, items: list[ReleaseRec], path: str, template: str) -> Reply:
    return 200, envelope(
        items, ctx.query, item_type="Release", path=path, template=path + template,
        render=lambda r: render_release(ctx, r),
    )  # fmt: skip


def list_releases(ctx: Ctx) -> Reply:
    return _listing(
        ctx, releases_of(ctx), f"{ctx.prefix}/releases", "{/id}{?skip,ignoreChannelRules,take,ids}"
    )


def project_releases(ctx: Ctx) -> Reply:
    project = project_of(ctx, ctx.params["id"])
    path = f"{ctx.prefix}/projects/{project['Id']}/releases"
    return _listing(
        ctx,
        releases_of(ctx, project_id=project["Id"]),
        path,
        "{/version}{?skip,take,searchByVersion}",
    )


def channel_releases(ctx: Ctx) -> Reply:
    require_space(ctx)
    channel = ctx.col("channels").get(ctx.params["id"])
    if channel is None:
        raise not_found(ctx.params["id"])
    path = f"{ctx.prefix}/channels/{channel['Id']}/releases"
    return _listing(
        ctx, releases_of(ctx, channel_id=channel["Id"]), path, "{?skip,take,searchByVersion}"
    )


def project_release_by_version(ctx: Ctx) -> Reply:
    project = project_of(ctx, ctx.params["id"])
    wanted = ctx.params["version"]
    for rel in releases_of(ctx, project_id=project["Id"]):
        if rel.version == wanted:
            return 200, render_release(ctx, rel)
    raise not_found(wanted)


def get_release(ctx: Ctx) -> Reply:
    return 200, render_release(ctx, get_release_rec(ctx, ctx.params["id"]))


def update_release(ctx: Ctx) -> Reply:
    """Change a release's version, notes or package versions (the snapshots stay)."""
    rel = get_release_rec(ctx, ctx.params["id"])
    body = ctx.json_body()
    st = ctx.st
    version = str(body.get("Version") or rel.version)
    if any(
        r.project_id == rel.project_id and r.version == version and r.id != rel.id
        for r in st.releases.values()
    ):
        raise invalid(f"A release with the version '{version}' already exists in this project.")
    snap = dict(snapshot_ids(ctx, rel))
    current = render_release(ctx, rel)["SelectedPackages"]
    changed = "SelectedPackages" in body and body["SelectedPackages"] != current
    if changed:
        process = P.frozen_doc(st, snap["process"]) or {"Steps": []}
        slots = [s for s in package_slots(ctx, process) if not s["IsDisabled"]]
        chosen = {
            (str(p.get("ActionName") or p.get("StepName") or ""),
             str(p.get("PackageReferenceName") or "")): str(p["Version"])
            for p in ctx.list_field(body, "SelectedPackages")
            if isinstance(p, dict) and p.get("Version")
        }  # fmt: skip
        selected = choose_versions(ctx, slots, chosen, None)
        channel = ctx.col("channels").get(rel.channel_id) or {}
        ignore = bool(body.get("IgnoreChannelRules"))
        violations = [] if ignore or not channel else L.rule_violations(channel, selected)
        if violations:
            raise invalid(*violations)
        snap["packages"], snap["ignore_rules"] = selected, ignore
    rel.version = version
    rel.notes = str(body.get("ReleaseNotes") if body.get("ReleaseNotes") is not None else rel.notes)
    if rel.snapshot is None and changed:
        # a generated release gets its own record now: freeze what it still shares first
        for ident in [snap["process"], snap["variables"], *snap["libraries"]]:
            doc = P.frozen_doc(st, ident)
            if doc is not None and ident not in st.frozen:
                P.freeze(st, ident, doc)
    if rel.snapshot is not None or changed:
        rel.snapshot = snap
    return 200, render_release(ctx, rel)


def snapshot_variables(ctx: Ctx) -> Reply:
    """Take a fresh snapshot of the project's and library variable sets for a release."""
    rel = get_release_rec(ctx, ctx.params["id"])
    st = ctx.st
    snap = dict(snapshot_ids(ctx, rel))
    if rel.snapshot is None:  # generated: freeze its process before it gets its own copy
        doc = P.frozen_doc(st, snap["process"])
        if doc is not None:
            P.freeze(st, snap["process"], doc)
    project = st.col(rel.space_id, "projects")[rel.project_id]
    stamp = st.next_number("VariableSnapshots")
    num = P.release_number(rel.id)
    snap["variables"] = P.freeze(
        st,
        f"variableset-{project['Id']}-s-{num}-{stamp}",
        st.variable_sets[project["VariableSetId"]],
    )
    snap["libraries"] = []
    for lvs_id in project["IncludedLibraryVariableSetIds"]:
        lvs = st.col(rel.space_id, "libraryvariablesets").get(lvs_id)
        if lvs is not None:
            snap["libraries"].append(
                P.freeze(
                    st,
                    f"variableset-{lvs_id}-s-{num}-{stamp}",
                    st.variable_sets[lvs["VariableSetId"]],
                )
            )
    rel.snapshot = snap
    return 200, render_release(ctx, rel)


def delete_release(ctx: Ctx) -> Reply:
    rel = get_release_rec(ctx, ctx.params["id"])
    st = ctx.st
    moment = now()
    for dep in [d for d in st.deployments.values() if d.release_id == rel.id]:
        task = st.tasks.get(dep.task_id)
        if task is not None and task.state(moment) in ("Queued", "Executing"):
            raise ApiError(400, "This release has a deployment in progress; cancel it first.", [])
    for dep in [d for d in st.deployments.values() if d.release_id == rel.id]:
        st.tasks.pop(dep.task_id, None)
        st.runs.pop(dep.task_id, None)
        del st.deployments[dep.id]
    if rel.snapshot is not None:
        for ident in [
            rel.snapshot["process"],
            rel.snapshot["variables"],
            *rel.snapshot["libraries"],
        ]:
            st.frozen.pop(ident, None)
    del st.releases[rel.id]
    return 200, None


def register(router: Router) -> None:
    router.space("GET", "/releases", list_releases)
    router.space("POST", "/releases", create_release, permission="ReleaseCreate")
    router.space(
        "POST", "/releases/create/v1", create_release_v1, permission="ReleaseCreate",
        swagger=None, legacy_swagger=None, with_default=False,
    )  # fmt: skip
    router.space("GET", "/releases/{id}", get_release)
    router.space("DELETE", "/releases/{id}", delete_release, permission="ReleaseDelete")
    router.space("PUT", "/releases/{id}", update_release, permission="ReleaseEdit")
    router.space(
        "POST", "/releases/{id}/snapshot-variables", snapshot_variables, permission="ReleaseEdit"
    )
    router.space("GET", "/projects/{id}/releases", project_releases)
    router.space("GET", "/projects/{id}/releases/{version}", project_release_by_version)
    router.space("GET", "/channels/{id}/releases", channel_releases)
