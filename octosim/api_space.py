"""Space-scoped collections with CRUD: projects, groups, environments, targets, ..."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from octosim import resources as R
from octosim.api_core import require_space
from octosim.errors import invalid, not_found
from octosim.lifecycles import normalize_phases
from octosim.paging import bool_param, csv_param, envelope, filter_common, param, q
from octosim.processes import new_process
from octosim.routing import Ctx, Reply, Router
from octosim.sensitive import seal_sensitive
from octosim.state import Doc, now

Builder = Callable[[Ctx, dict[str, Any]], Doc]


@dataclass
class Kind:
    """How one space-scoped collection behaves."""

    name: str  # URL segment
    item_type: str  # ItemType of the envelope
    noun: str  # for messages
    query: str  # URI template query part
    build: Builder
    perm: str  # permission stem, e.g. "Project" -> ProjectCreate/ProjectEdit/ProjectDelete
    sort: Callable[[Doc], Any] = lambda d: str(d["Name"]).lower()
    required: tuple[str, ...] = ()
    read_only: tuple[str, ...] = ()


def _links(ctx: Ctx, kind: Kind, doc: Doc) -> dict[str, str]:
    p = f"/api/{doc['SpaceId']}"
    ident = doc["Id"]
    links = {"Self": f"{p}/{kind.name}/{ident}"}
    if kind.name == "projects":
        links.update(
            {
                "Web": f"/app#/{doc['SpaceId']}/projects/{ident}",
                "Releases": f"{p}/projects/{ident}/releases{{/version}}"
                + q("skip", "take", "searchByVersion"),
                "Channels": f"{p}/projects/{ident}/channels{{?skip,take,partialName}}",
                "Triggers": f"{p}/projects/{ident}/triggers{{?skip,take,partialName}}",
                "Variables": f"{p}/variables/{doc['VariableSetId']}",
                "DeploymentProcess": f"{p}/deploymentprocesses/{doc['DeploymentProcessId']}",
                "Logo": f"{p}/projects/{ident}/logo",
            }
        )
    elif kind.name == "libraryvariablesets":
        links["Variables"] = f"{p}/variables/{doc['VariableSetId']}"
        links["Usages"] = f"{p}/libraryvariablesets/{ident}/usages"
    elif kind.name == "environments":
        links["Machines"] = (
            f"{p}/environments/{ident}/machines{{?skip,take,partialName,roles,isDisabled,healthStatuses}}"
        )
    elif kind.name == "projectgroups":
        links["Projects"] = f"{p}/projectgroups/{ident}/projects{{?skip,take}}"
    elif kind.name == "actiontemplates":
        links["Usage"] = f"{p}/actiontemplates/{ident}/usage"
        links["Versions"] = f"{p}/actiontemplates/{ident}/versions{{/version}}"
        links["Logo"] = f"{p}/actiontemplates/{ident}/logo"
    elif kind.name == "machines":
        links["Connection"] = f"{p}/machines/{ident}/connection"
        links["TasksTemplate"] = f"{p}/machines/{ident}/tasks{{?skip,take}}"
    elif kind.name == "lifecycles":
        links["Projects"] = f"{p}/lifecycles/{ident}/projects"
    return links


def render(ctx: Ctx, kind: Kind, doc: Doc) -> Doc:
    out = dict(doc)
    out["Links"] = _links(ctx, kind, doc)
    return out


# ---------------------------------------------------------------- builders


def _b_project(ctx: Ctx, body: dict[str, Any]) -> Doc:
    return R.project(
        ctx.st,
        ctx.space_id or "",
        body["Name"],
        group_id=body["ProjectGroupId"],
        lifecycle_id=body["LifecycleId"],
    )


def _b_group(ctx: Ctx, body: dict[str, Any]) -> Doc:
    return R.project_group(ctx.st, ctx.space_id or "", body["Name"])


def _b_env(ctx: Ctx, body: dict[str, Any]) -> Doc:
    order = max((e["SortOrder"] for e in ctx.col("environments").values()), default=-1) + 1
    return R.environment(ctx.st, ctx.space_id or "", body["Name"], order)


def _b_machine(ctx: Ctx, body: dict[str, Any]) -> Doc:
    return R.machine(
        ctx.st,
        ctx.space_id or "",
        body["Name"],
        env_ids=list(body.get("EnvironmentIds") or []),
        roles=list(body.get("Roles") or []),
        health="Unknown",
    )


def _b_lifecycle(ctx: Ctx, body: dict[str, Any]) -> Doc:
    return R.lifecycle(ctx.st, ctx.space_id or "", body["Name"], [])


def _b_feed(ctx: Ctx, body: dict[str, Any]) -> Doc:
    return R.feed(
        ctx.st.next_id("Feeds"),
        ctx.space_id or "",
        body["Name"],
        str(body.get("FeedType") or "NuGet"),
        body.get("FeedUri"),
    )


def _b_tenant(ctx: Ctx, body: dict[str, Any]) -> Doc:
    return R.tenant(ctx.st, ctx.space_id or "", body["Name"], {})


def _b_lvs(ctx: Ctx, body: dict[str, Any]) -> Doc:
    content = body.get("ContentType") or "Variables"
    if content not in ("Variables", "ScriptModule"):
        raise invalid("ContentType must be 'Variables' or 'ScriptModule'.")
    return R.library_variable_set(ctx.st, ctx.space_id or "", body["Name"], content=content)


def _b_template(ctx: Ctx, body: dict[str, Any]) -> Doc:
    doc = R.action_template(ctx.st, ctx.space_id or "", body["Name"])
    doc["Properties"] = {}
    return doc


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            "projects",
            "Project",
            "project",
            q("name", "skip", "ids", "clone", "take", "partialName", "clonedFromProjectId"),
            _b_project,
            "Project",
            required=("ProjectGroupId", "LifecycleId"),
            read_only=("VariableSetId", "DeploymentProcessId"),
        ),
        Kind(
            "projectgroups",
            "ProjectGroup",
            "project group",
            "{?skip,take,ids,partialName}",
            _b_group,
            "ProjectGroup",
        ),
        Kind(
            "environments",
            "Environment",
            "environment",
            q("name", "skip", "ids", "take", "partialName"),
            _b_env,
            "Environment",
            sort=lambda d: (d["SortOrder"], d["Name"].lower()),
        ),
        Kind(
            "machines",
            "Machine",
            "deployment target",
            q(
                "skip",
                "take",
                "name",
                "ids",
                "partialName",
                "roles",
                "isDisabled",
                "healthStatuses",
                "commStyles",
                "tenantIds",
                "tenantTags",
                "environmentIds",
                "thumbprint",
                "deploymentId",
                "shellNames",
            ),
            _b_machine,
            "Machine",
            required=("EnvironmentIds", "Roles"),
        ),
        Kind(
            "lifecycles",
            "Lifecycle",
            "lifecycle",
            "{?skip,take,ids,partialName}",
            _b_lifecycle,
            "Lifecycle",
        ),
        Kind(
            "feeds",
            "Feed",
            "feed",
            q("skip", "take", "ids", "partialName", "feedType", "name"),
            _b_feed,
            "Feed",
        ),
        Kind(
            "tenants",
            "Tenant",
            "tenant",
            q(
                "skip",
                "projectId",
                "name",
                "tags",
                "take",
                "ids",
                "clone",
                "partialName",
                "clonedFromTenantId",
            ),
            _b_tenant,
            "Tenant",
        ),
        Kind(
            "libraryvariablesets",
            "LibraryVariableSet",
            "library variable set",
            q("skip", "contentType", "take", "ids", "partialName", "name"),
            _b_lvs,
            "LibraryVariableSet",
            read_only=("VariableSetId", "ContentType"),
        ),
        Kind(
            "actiontemplates",
            "ActionTemplate",
            "step template",
            "{?skip,take,ids,partialName}",
            _b_template,
            "ActionTemplate",
            required=("ActionType",),
            read_only=("Version", "CommunityActionTemplateId"),
        ),
    )
}


# ---------------------------------------------------------------- filters


def _specific_filters(ctx: Ctx, kind: Kind, items: list[Doc]) -> list[Doc]:
    q = ctx.query
    if kind.name == "machines":
        roles = set(csv_param(q, "roles"))
        if roles:
            items = [d for d in items if roles.intersection(d["Roles"])]
        health = set(csv_param(q, "healthStatuses"))
        if health:
            items = [d for d in items if d["HealthStatus"] in health]
        envs = set(csv_param(q, "environmentIds"))
        if envs:
            items = [d for d in items if envs.intersection(d["EnvironmentIds"])]
        tenants = set(csv_param(q, "tenantIds"))
        if tenants:
            items = [d for d in items if tenants.intersection(d["TenantIds"])]
        disabled = bool_param(q, "isDisabled")
        if disabled is not None:
            items = [d for d in items if d["IsDisabled"] == disabled]
    elif kind.name == "feeds":
        types = {t.lower() for t in csv_param(q, "feedType")}
        if types:
            items = [d for d in items if d["FeedType"].lower() in types]
    elif kind.name == "libraryvariablesets":
        content = param(q, "contentType")
        if content:
            items = [d for d in items if d["ContentType"].lower() == content.lower()]
    elif kind.name == "tenants":
        project = param(q, "projectId")
        if project:
            items = [d for d in items if project in d["ProjectEnvironments"]]
    elif kind.name == "actiontemplates":
        community = bool_param(q, "isCommunityActionTemplate")
        if community is not None:
            items = [d for d in items if (d["CommunityActionTemplateId"] is not None) == community]
    return items


def _items(ctx: Ctx, kind: Kind) -> list[Doc]:
    require_space(ctx)
    items = sorted(ctx.col(kind.name).values(), key=kind.sort)
    items = filter_common(items, ctx.query, lambda d: d["Name"], lambda d: d["Id"])
    return _specific_filters(ctx, kind, items)


def make_list(kind: Kind) -> Callable[[Ctx], Reply]:
    def handler(ctx: Ctx) -> Reply:
        items = _items(ctx, kind)
        path = f"{ctx.prefix}/{kind.name}"
        return 200, envelope(
            items,
            ctx.query,
            item_type=kind.item_type,
            path=path,
            template=f"{path}{{/id}}{kind.query}",
            render=lambda d: render(ctx, kind, d),
        )

    return handler


def make_all(kind: Kind) -> Callable[[Ctx], Reply]:
    def handler(ctx: Ctx) -> Reply:
        return 200, [render(ctx, kind, d) for d in _items(ctx, kind)]

    return handler


def get_doc(ctx: Ctx, kind: Kind, ident: str) -> Doc:
    require_space(ctx)
    doc = ctx.col(kind.name).get(ident)
    if doc is None:
        lowered = ident.lower()
        doc = next((d for d in ctx.col(kind.name).values() if d["Id"].lower() == lowered), None)
    if doc is None:
        raise not_found(ident)
    return doc


def make_get(kind: Kind) -> Callable[[Ctx], Reply]:
    def handler(ctx: Ctx) -> Reply:
        return 200, render(ctx, kind, get_doc(ctx, kind, ctx.params["id"]))

    return handler


def _validate(ctx: Ctx, kind: Kind, body: dict[str, Any], ident: str | None) -> None:
    errors = []
    name = body.get("Name")
    if not isinstance(name, str) or not name.strip():
        errors.append("The Name field is required.")
    elif any(
        d["Name"].lower() == name.strip().lower() and d["Id"] != ident
        for d in ctx.col(kind.name).values()
    ):
        errors.append(
            f"A {kind.noun} with this name already exists. Please choose a different name."
        )
    for field in kind.required:
        if ident is None and not body.get(field):
            errors.append(f"The {field} field is required.")
    if kind.name == "projects":
        group = body.get("ProjectGroupId")
        if group and group not in ctx.col("projectgroups"):
            errors.append(f"The project group '{group}' does not exist.")
        lifecycle = body.get("LifecycleId")
        if lifecycle and lifecycle not in ctx.col("lifecycles"):
            errors.append(f"The lifecycle '{lifecycle}' does not exist.")
        for lvs in body.get("IncludedLibraryVariableSetIds") or []:
            if lvs not in ctx.col("libraryvariablesets"):
                errors.append(f"The library variable set '{lvs}' does not exist.")
    if kind.name == "tenants":
        errors += _tenant_errors(ctx, body)
    if kind.name == "machines":
        for env in body.get("EnvironmentIds") or []:
            if env not in ctx.col("environments"):
                errors.append(f"The environment '{env}' does not exist.")
    if errors:
        raise invalid(*errors)


def _tenant_errors(ctx: Ctx, body: dict[str, Any]) -> list[str]:
    """Octopus checks a tenant's connections and tags: the projects, environments and tags
    must exist in the space (a tag by its canonical name, "Tag set/Tag")."""
    errors = []
    connections = body.get("ProjectEnvironments")
    if connections is not None:
        if not isinstance(connections, dict) or not all(
            isinstance(v, list) for v in connections.values()
        ):
            return ["ProjectEnvironments must map project ids to lists of environment ids."]
        for project, envs in connections.items():
            if project not in ctx.col("projects"):
                errors.append(f"The project '{project}' does not exist.")
            errors += [
                f"The environment '{e}' does not exist."
                for e in envs
                if e not in ctx.col("environments")
            ]
    tags = body.get("TenantTags")
    if tags is not None:
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            return [*errors, "TenantTags must be a list of canonical tag names."]
        known = {
            str(t.get("CanonicalTagName") or f"{s['Name']}/{t['Name']}").lower()
            for s in ctx.col("tagsets").values()
            for t in s.get("Tags") or []
        }
        errors += [f"The tag '{t}' does not exist." for t in tags if t.lower() not in known]
    return errors


def make_create(kind: Kind) -> Callable[[Ctx], Reply]:
    def handler(ctx: Ctx) -> Reply:
        require_space(ctx)
        body = ctx.json_body()
        _validate(ctx, kind, body, None)
        doc = kind.build(ctx, body)
        R.apply_body(doc, body, kind.read_only)
        R.template_ids(doc)
        seal_sensitive(ctx.st, doc, None)
        if kind.name == "lifecycles":
            normalize_phases(ctx.col("environments"), doc)
        doc["Name"] = doc["Name"].strip()
        if "Slug" in doc and not doc.get("Slug"):
            doc["Slug"] = R.slug_of(doc["Name"])
        R.stamp(doc, ctx.username, now())
        ctx.col(kind.name)[doc["Id"]] = doc
        if kind.name == "projects":
            ident = doc["DeploymentProcessId"]
            ctx.st.processes[ident] = new_process(ident, doc["Id"], doc["SpaceId"])
        return 201, render(ctx, kind, doc)

    return handler


def make_update(kind: Kind) -> Callable[[Ctx], Reply]:
    def handler(ctx: Ctx) -> Reply:
        doc = get_doc(ctx, kind, ctx.params["id"])
        body = ctx.json_body()
        _validate(ctx, kind, body, doc["Id"])
        previous = dict(doc)
        if kind.name == "lifecycles":
            checked = {"Phases": body.get("Phases", doc["Phases"])}
            normalize_phases(ctx.col("environments"), checked)
            body = {**body, "Phases": checked["Phases"]}
        R.apply_body(doc, body, kind.read_only)
        R.template_ids(doc)
        seal_sensitive(ctx.st, doc, previous)
        doc["Name"] = doc["Name"].strip()
        if kind.name == "actiontemplates":
            # Octopus bumps a step template's Version on every save and keeps the old one.
            ctx.st.template_versions.setdefault(doc["Id"], []).append(previous)
            doc["Version"] = int(doc["Version"]) + 1
        R.stamp(doc, ctx.username, now())
        return 200, render(ctx, kind, doc)

    return handler


def make_delete(kind: Kind) -> Callable[[Ctx], Reply]:
    def handler(ctx: Ctx) -> Reply:
        doc = get_doc(ctx, kind, ctx.params["id"])
        st = ctx.st
        if kind.name == "projectgroups" and any(
            p["ProjectGroupId"] == doc["Id"] for p in ctx.col("projects").values()
        ):
            raise invalid("This project group contains projects. Move or delete them first.")
        if kind.name == "lifecycles" and any(
            p["LifecycleId"] == doc["Id"] for p in ctx.col("projects").values()
        ):
            raise invalid("This lifecycle is used by one or more projects.")
        if kind.name == "feeds" and doc["FeedType"] == "BuiltIn":
            raise invalid("This resource is read-only and cannot be deleted.")
        del ctx.col(kind.name)[doc["Id"]]
        if kind.name in ("projects", "libraryvariablesets"):
            st.variable_sets.pop(doc["VariableSetId"], None)
        if kind.name == "libraryvariablesets":
            for proj in ctx.col("projects").values():
                if doc["Id"] in proj["IncludedLibraryVariableSetIds"]:
                    proj["IncludedLibraryVariableSetIds"].remove(doc["Id"])
        if kind.name == "projects":
            _delete_project_history(ctx, doc["Id"])
            st.processes.pop(doc["DeploymentProcessId"], None)
        if kind.name == "environments":
            _forget_environment(ctx, doc["Id"])
        if kind.name == "actiontemplates":
            st.template_versions.pop(doc["Id"], None)
        return 200, None

    return handler


def _forget_environment(ctx: Ctx, env_id: str) -> None:
    """Octopus removes a deleted environment from targets, lifecycles and tenants."""
    for machine in ctx.col("machines").values():
        if env_id in machine["EnvironmentIds"]:
            machine["EnvironmentIds"].remove(env_id)
    for lifecycle in ctx.col("lifecycles").values():
        for phase in lifecycle["Phases"]:
            for key in ("AutomaticDeploymentTargets", "OptionalDeploymentTargets"):
                if env_id in phase[key]:
                    phase[key].remove(env_id)
    for tenant in ctx.col("tenants").values():
        for envs in tenant["ProjectEnvironments"].values():
            if env_id in envs:
                envs.remove(env_id)


def _delete_project_history(ctx: Ctx, project_id: str) -> None:
    st = ctx.st
    for cid in [c["Id"] for c in ctx.col("channels").values() if c["ProjectId"] == project_id]:
        del ctx.col("channels")[cid]
    triggers = ctx.col("projecttriggers")
    for tid in [t["Id"] for t in triggers.values() if t["ProjectId"] == project_id]:
        del triggers[tid]
    for rid in [r.id for r in st.releases.values() if r.project_id == project_id]:
        del st.releases[rid]
    for dep in [d for d in st.deployments.values() if d.project_id == project_id]:
        st.tasks.pop(dep.task_id, None)
        del st.deployments[dep.id]


# ---------------------------------------------------------------- sub-collections


def group_projects(ctx: Ctx) -> Reply:
    group = get_doc(ctx, KINDS["projectgroups"], ctx.params["id"])
    kind = KINDS["projects"]
    items = [d for d in _items(ctx, kind) if d["ProjectGroupId"] == group["Id"]]
    path = f"{ctx.prefix}/projectgroups/{group['Id']}/projects"
    return 200, envelope(
        items, ctx.query, item_type="Project", path=path, template=path + "{?skip,take}",
        render=lambda d: render(ctx, kind, d),
    )  # fmt: skip


def environment_machines(ctx: Ctx) -> Reply:
    env = get_doc(ctx, KINDS["environments"], ctx.params["id"])
    kind = KINDS["machines"]
    items = [d for d in _items(ctx, kind) if env["Id"] in d["EnvironmentIds"]]
    path = f"{ctx.prefix}/environments/{env['Id']}/machines"
    return 200, envelope(
        items, ctx.query, item_type="Machine", path=path, template=path + "{?skip,take}",
        render=lambda d: render(ctx, kind, d),
    )  # fmt: skip


def template_version(ctx: Ctx) -> Reply:
    kind = KINDS["actiontemplates"]
    doc = get_doc(ctx, kind, ctx.params["id"])
    try:
        wanted = int(ctx.params["version"])
    except ValueError:
        raise not_found() from None
    if wanted == doc["Version"]:
        return 200, render(ctx, kind, doc)
    for old in ctx.st.template_versions.get(doc["Id"], []):
        if old["Version"] == wanted:
            return 200, render(ctx, kind, old)
    raise not_found()


# The kinds above; other modules add theirs to KINDS (for lookups) and route them themselves.
BASE_KINDS = tuple(KINDS.values())


def register(router: Router) -> None:
    for kind in BASE_KINDS:
        base = f"/{kind.name}"
        stem = kind.perm
        router.space("GET", base, make_list(kind))
        router.space("GET", f"{base}/all", make_all(kind))
        router.space("GET", f"{base}/{{id}}", make_get(kind))
        router.space("POST", base, make_create(kind), permission=f"{stem}Create")
        router.space("PUT", f"{base}/{{id}}", make_update(kind), permission=f"{stem}Edit")
        router.space("DELETE", f"{base}/{{id}}", make_delete(kind), permission=f"{stem}Delete")
    router.space("GET", "/projectgroups/{id}/projects", group_projects)
    router.space("GET", "/environments/{id}/machines", environment_machines)
    router.space("GET", "/actiontemplates/{id}/versions/{version}", template_version)
