"""Root document, status endpoints, the current user and spaces."""

from __future__ import annotations

from typing import Any

from octosim import resources as R
from octosim.errors import ApiError, invalid, not_found
from octosim.paging import envelope, filter_common, q
from octosim.routing import Ctx, Reply, Router
from octosim.seed import add_space_defaults, add_space_references, add_space_teams
from octosim.state import Doc, now

SPACE_TEMPLATE = "/api/spaces{/id}" + q("skip", "ids", "take", "partialName", "name")


def root_links(ctx: Ctx) -> dict[str, str]:
    links = {
        "Self": "/api",
        "Spaces": SPACE_TEMPLATE,
        "SpaceHome": "/api/{spaceId}",
        "CurrentUser": "/api/users/me",
        "Users": "/api/users{/id}{?skip,take,ids,filter}",
        "Teams": "/api/teams{/id}"
        + q("skip", "take", "ids", "partialName", "spaces", "includeSystem"),
        "UserRoles": "/api/userroles{/id}{?skip,take,ids,partialName}",
        "ScopedUserRoles": "/api/scopeduserroles{/id}"
        + q("skip", "take", "ids", "partialName", "spaces", "includeSystem"),
        "Tasks": "/api/tasks{/id}"
        + q(
            "skip",
            "active",
            "environment",
            "tenant",
            "runbook",
            "project",
            "name",
            "node",
            "running",
            "states",
            "hasPendingInterruptions",
            "hasWarningsOrErrors",
            "take",
            "ids",
            "partialName",
            "spaces",
            "includeSystem",
            "fromCompletedDate",
            "toCompletedDate",
            "fromQueueDate",
            "toQueueDate",
            "fromStartDate",
            "toStartDate",
        ),
        "TaskTypes": "/api/tasks/tasktypes",
        "ServerStatus": "/api/serverstatus",
        "ServerHealthStatus": "/api/serverstatus/health",
        "OctopusServerNodes": "/api/octopusservernodes{/id}",
        "CommunityActionTemplates": "/api/communityactiontemplates{/id}{?skip,take,ids}",
        "CurrentLicenseStatus": "/api/licenses/licenses-current-status",
        "MaintenanceConfiguration": "/api/maintenanceconfiguration",
        "SmtpConfiguration": "/api/smtpconfiguration",
        "SmtpIsConfigured": "/api/smtpconfiguration/isconfigured",
        "Web": "/app",
    }
    default = ctx.st.default_space_id()
    if default:
        # system-wide Tasks/Teams/ScopedUserRoles keep their system form in the root document
        shared = {"Tasks", "Teams", "ScopedUserRoles"}
        links.update({k: v for k, v in space_links(default).items() if k not in shared})
    return links


def space_links(space_id: str) -> dict[str, str]:
    p = f"/api/{space_id}"
    return {
        "Projects": p
        + "/projects{/id}"
        + q("name", "skip", "ids", "clone", "take", "partialName", "clonedFromProjectId"),
        "ProjectGroups": p + "/projectgroups{/id}{?skip,take,ids,partialName}",
        "Environments": p + "/environments{/id}" + q("name", "skip", "ids", "take", "partialName"),
        "Machines": p
        + "/machines{/id}"
        + q(
            "skip",
            "take",
            "name",
            "ids",
            "partialName",
            "roles",
            "isDisabled",
            "healthStatuses",
            "environmentIds",
            "tenantIds",
        ),
        "Lifecycles": p + "/lifecycles{/id}{?skip,take,ids,partialName}",
        "Feeds": p + "/feeds{/id}" + q("skip", "take", "ids", "partialName", "feedType", "name"),
        "Tenants": p
        + "/tenants{/id}"
        + q("skip", "projectId", "name", "tags", "take", "ids", "partialName"),
        "LibraryVariables": p
        + "/libraryvariablesets{/id}"
        + q("skip", "contentType", "take", "ids", "partialName", "name"),
        "Variables": p + "/variables{/id}{?ids}",
        "ActionTemplates": p + "/actiontemplates{/id}{?skip,take,ids,partialName}",
        "Releases": p + "/releases{/id}{?skip,take,ids}",
        "Deployments": p
        + "/deployments{/id}"
        + q(
            "skip",
            "take",
            "ids",
            "projects",
            "environments",
            "tenants",
            "channels",
            "taskState",
            "partialName",
        ),
        "Dashboard": p
        + "/dashboard"
        + q(
            "projectId",
            "releaseId",
            "selectedTenants",
            "selectedTags",
            "showAll",
            "highestLatestVersionPerProjectAndEnvironment",
        ),
        "Tasks": p
        + "/tasks{/id}"
        + q(
            "skip",
            "active",
            "environment",
            "tenant",
            "project",
            "name",
            "node",
            "running",
            "states",
            "take",
            "ids",
            "partialName",
            "fromCompletedDate",
            "toCompletedDate",
        ),
        "Teams": p + "/teams{/id}" + q("skip", "take", "ids", "partialName", "includeSystem"),
        "ScopedUserRoles": p
        + "/scopeduserroles{/id}"
        + q("skip", "take", "ids", "partialName", "includeSystem"),
        "DeploymentsXml": p
        + "/reporting/deployments/xml"
        + q(
            "fromCompletedTime",
            "toCompletedTime",
            "fromStartTime",
            "toStartTime",
            "projectId",
            "environmentId",
        ),
        # the release pipeline (clients such as Octopus.Client follow these links)
        "PackageUpload": p + "/packages/raw{?replace,overwriteMode}",
        "Packages": p + "/packages{/id}{?nuGetPackageId,filter,latest,skip,take,includeNotes}",
        "DeploymentProcesses": p + "/deploymentprocesses{/id}{?skip,take,ids}",
        "Channels": p + "/channels{/id}{?skip,take,ids,partialName}",
        "Interruptions": p + "/interruptions{/id}{?skip,take,regarding,pendingOnly,ids}",
        "Runbooks": p + "/runbooks{/id}{?skip,take,ids,partialName}",
        "RunbookProcesses": p + "/runbookProcesses{/id}{?skip,take,ids}",
        "RunbookSnapshots": p + "/runbookSnapshots{/id}{?skip,take,ids,publish}",
        "RunbookRuns": p + "/runbookRuns{/id}{?skip,take,ids}",
        "CreateReleaseCommandV1": p + "/releases/create/v1",
        "CreateDeploymentUntenantedCommandV1": p + "/deployments/create/untenanted/v1",
        "CreateDeploymentTenantedCommandV1": p + "/deployments/create/tenanted/v1",
        "CreateRunbookRunCommandV1": p + "/runbook-runs/create/v1",
    }


def get_root(ctx: Ctx) -> Reply:
    inst = ctx.inst
    return 200, {
        "Application": "Octopus Deploy",
        "Version": inst.version,
        "ApiVersion": "3.0.0",
        "InstallationId": inst.installation_id,
        "IsEarlyAccessProgram": False,
        "HasLongTermSupport": True,
        "Links": root_links(ctx),
    }


def get_server_status(ctx: Ctx) -> Reply:
    from octosim import api_admin  # api_admin imports this module

    faults = ctx.inst.faults
    return 200, {
        "Id": "ServerStatus",
        "IsDatabaseEncrypted": True,
        "IsMajorMinorUpgrade": False,
        "IsInMaintenanceMode": api_admin.in_maintenance(ctx),
        "IsUpgradeAvailable": False,
        "MaintenanceExpires": None,
        "MaximumAvailableVersion": ctx.inst.version,
        "MaximumAvailableVersionCoveredByLicense": ctx.inst.version,
        "IsPotentialClone": False,
        "IsOperatingNormally": not (faults.unhealthy or faults.draining),
        "Links": {
            "Self": "/api/serverstatus",
            "Health": "/api/serverstatus/health",
            "SystemInfo": "/api/serverstatus/system-info",
        },
    }


def get_health(ctx: Ctx) -> Reply:
    faults = ctx.inst.faults
    healthy = not faults.unhealthy and not faults.draining
    body = {
        "Id": "ServerStatusHealth",
        "IsOperatingNormally": healthy,
        "IsEntireClusterReadOnly": False,
        "IsEntireClusterDrainingTasks": faults.draining,
        "IsCompliantWithLicense": True,
        "Description": "Octopus Server is operating normally."
        if healthy
        else "Octopus Server is not operating normally.",
        "Links": {"Self": "/api/serverstatus/health"},
    }
    return (200 if healthy else 418), body


def get_ping(ctx: Ctx) -> Reply:
    if ctx.inst.faults.draining:
        return 418, {"ErrorMessage": "This node is draining tasks.", "Errors": []}
    return 200, {}


def has_revoke_sessions(version: str) -> bool:
    """Octopus 2022.1 and later can end a user's sessions (``RevokeSessions``)."""
    parts = [int(p) if p.isdigit() else 0 for p in version.split(".")[:2]]
    return tuple(parts + [0] * (2 - len(parts))) >= (2022, 1)


def render_user(ctx: Ctx, doc: Doc) -> Doc:
    out = dict(doc)
    out["IsRequestor"] = doc["Id"] == ctx.user_id
    out["Links"] = {
        "Self": f"/api/users/{doc['Id']}",
        "Permissions": f"/api/users/{doc['Id']}/permissions",
        "Spaces": f"/api/users/{doc['Id']}/spaces",
        "Teams": f"/api/users/{doc['Id']}/teams{{?spaces,includeSystem}}",
        "ApiKeys": f"/api/users/{doc['Id']}/apikeys{{/id}}{{?skip,take}}",
        "Avatar": "https://www.gravatar.com/avatar/00000000000000000000000000000000?d=blank",
    }
    if has_revoke_sessions(ctx.inst.version):
        # Octopus.Client 11.6 (2022.1): UserRepository.RevokeSessions PUTs this link.
        out["Links"]["RevokeSessions"] = f"/api/users/{doc['Id']}/revoke-sessions"
    return out


def get_me(ctx: Ctx) -> Reply:
    return 200, render_user(ctx, ctx.st.sys("users")[ctx.user_id])


# ---------------------------------------------------------------- spaces


def render_space(ctx: Ctx, doc: Doc) -> Doc:
    out = dict(doc)
    team = ctx.st.sys("teams").get(f"teams-spacemanagers-{doc['Id']}")
    if team is not None:
        out["SpaceManagersTeamMembers"] = list(team["MemberUserIds"])
    out["Links"] = {
        "Self": f"/api/spaces/{doc['Id']}",
        "SpaceHome": f"/api/{doc['Id']}",
        "Web": f"/app#/spaces/{doc['Id']}",
        "Logo": f"/api/spaces/{doc['Id']}/logo",
        "Search": f"/api/spaces/{doc['Id']}/search",
    }
    return out


def _spaces_sorted(ctx: Ctx) -> list[Doc]:
    return sorted(ctx.st.spaces.values(), key=lambda d: d["Name"].lower())


def list_spaces(ctx: Ctx) -> Reply:
    items = filter_common(_spaces_sorted(ctx), ctx.query, lambda d: d["Name"], lambda d: d["Id"])
    return 200, envelope(
        items,
        ctx.query,
        item_type="Space",
        path="/api/spaces",
        template=SPACE_TEMPLATE,
        render=lambda d: render_space(ctx, d),
    )


def all_spaces(ctx: Ctx) -> Reply:
    items = filter_common(_spaces_sorted(ctx), ctx.query, lambda d: d["Name"], lambda d: d["Id"])
    return 200, [render_space(ctx, d) for d in items]


def _get_space(ctx: Ctx, ident: str) -> Doc:
    for doc in ctx.st.spaces.values():
        if doc["Id"].lower() == ident.lower():
            return doc
    raise not_found(ident)


def get_space(ctx: Ctx) -> Reply:
    return 200, render_space(ctx, _get_space(ctx, ctx.params["id"]))


def _validate_space(ctx: Ctx, body: dict[str, Any], ident: str | None) -> None:
    errors = []
    name = body.get("Name")
    if not isinstance(name, str) or not name.strip():
        errors.append("Please provide a name for the space.")
    elif len(name) > 50:
        errors.append("The space name must be 50 characters or less.")
    elif any(
        d["Name"].lower() == name.lower() and d["Id"] != ident for d in ctx.st.spaces.values()
    ):
        errors.append("This name is already in use by another space.")
    teams = body.get("SpaceManagersTeams")
    members = body.get("SpaceManagersTeamMembers")
    if not isinstance(teams, list) or not isinstance(members, list):
        errors.append("SpaceManagersTeams and SpaceManagersTeamMembers are required.")
    else:
        internal = f"teams-spacemanagers-{ident}"
        if not [t for t in teams if t != internal] and not members:
            errors.append("At least one team or user must be a space manager.")
        for user_id in members:
            if user_id not in ctx.st.sys("users"):
                errors.append(f"The user '{user_id}' does not exist.")
        for team_id in teams:
            if team_id != internal and team_id not in ctx.st.sys("teams"):
                errors.append(f"The team '{team_id}' does not exist.")
    if errors:
        raise invalid(*errors)


def _make_default(ctx: Ctx, doc: Doc) -> None:
    for other in ctx.st.spaces.values():
        if other is not doc:
            other["IsDefault"] = False


def create_space(ctx: Ctx) -> Reply:
    body = ctx.json_body()
    _validate_space(ctx, body, None)
    if body.get("TaskQueueStopped"):
        raise invalid("A space cannot be created with its task queue stopped.")
    st = ctx.st
    ident = st.next_id("Spaces")
    doc = R.space(ident, body["Name"], is_default=bool(body.get("IsDefault")))
    R.apply_body(doc, body, ("SpaceManagersTeams", "SpaceManagersTeamMembers", "IsPrivate"))
    internal = f"teams-spacemanagers-{ident}"
    doc["SpaceManagersTeams"] = [t for t in body["SpaceManagersTeams"] if t != internal] + [
        internal
    ]
    if not doc.get("Slug"):
        doc["Slug"] = R.slug_of(doc["Name"])
    R.stamp(doc, ctx.username, now())
    st.add_space(doc)
    add_space_teams(st, ident, list(body["SpaceManagersTeamMembers"]))
    add_space_defaults(st, ident)
    add_space_references(st, ident)
    if doc["IsDefault"]:
        _make_default(ctx, doc)
    return 201, render_space(ctx, doc)


def update_space(ctx: Ctx) -> Reply:
    doc = _get_space(ctx, ctx.params["id"])
    body = ctx.json_body()
    _validate_space(ctx, body, doc["Id"])
    R.apply_body(doc, body, ("SpaceManagersTeams", "SpaceManagersTeamMembers", "IsPrivate"))
    internal = f"teams-spacemanagers-{doc['Id']}"
    doc["SpaceManagersTeams"] = [t for t in body["SpaceManagersTeams"] if t != internal] + [
        internal
    ]
    team = ctx.st.sys("teams").get(internal)
    if team is not None:
        team["MemberUserIds"] = list(body["SpaceManagersTeamMembers"])
    if doc["IsDefault"]:
        _make_default(ctx, doc)
    R.stamp(doc, ctx.username, now())
    return 200, render_space(ctx, doc)


def delete_space(ctx: Ctx) -> Reply:
    doc = _get_space(ctx, ctx.params["id"])
    st = ctx.st
    if len(st.spaces) <= 1:
        raise invalid("The last space cannot be deleted. At least one space must exist.")
    if not doc.get("TaskQueueStopped"):
        raise invalid(
            "The task queue for this space must be stopped before the space can be deleted."
        )
    if doc.get("IsDefault"):
        raise invalid("The default space cannot be deleted. Make another space the default first.")
    remove_space(ctx, doc["Id"])
    return 200, None


def remove_space(ctx: Ctx, space_id: str) -> None:
    st = ctx.st
    del st.spaces[space_id]
    del st.space_docs[space_id]
    for name in ("teams", "scopeduserroles"):
        coll = st.sys(name)
        for key in [k for k, d in coll.items() if d.get("SpaceId") == space_id]:
            del coll[key]
    for key in [k for k, d in st.variable_sets.items() if d.get("SpaceId") == space_id]:
        del st.variable_sets[key]
    for recs in (st.releases, st.deployments, st.tasks):
        for key in [k for k, r in recs.items() if r.space_id == space_id]:
            del recs[key]
    # the release pipeline's documents of the space (package files are left to the folder)
    for docs in (st.processes, st.frozen, st.packages, st.interruptions):
        for key in [k for k, d in docs.items() if d.get("SpaceId") == space_id]:
            del docs[key]
    for key in [k for k in st.runs if k not in st.tasks]:
        del st.runs[key]
        st.active.discard(key)


def space_home(ctx: Ctx) -> Reply:
    space_id = ctx.space_id
    assert space_id is not None
    links = {"Self": f"/api/{space_id}", **space_links(space_id)}
    return 200, {"Id": space_id, "Links": links}


def require_space(ctx: Ctx) -> None:
    """404 for an unknown space in the URL, 400 for a legacy route without a default space."""
    if ctx.space_id is None:
        raise ApiError(
            400,
            "There is no default space. Please specify a space in the URL, "
            "for example /api/Spaces-1/projects.",
        )
    if ctx.space_id not in ctx.st.spaces:
        match = next((s for s in ctx.st.spaces if s.lower() == ctx.space_id.lower()), None)
        if match is None:
            raise ApiError(
                404,
                f"The requested space {ctx.space_id} does not exist "
                "or you do not have access to it.",
            )
        ctx.space_id = match


def register(router: Router) -> None:
    router.system("GET", "", get_root, auth=False)
    router.system("GET", "/serverstatus", get_server_status)
    router.system("GET", "/serverstatus/health", get_health, auth=False)
    router.system("GET", "/octopusservernodes/ping", get_ping, auth=False)
    router.system("GET", "/users/me", get_me)
    router.system("GET", "/spaces", list_spaces)
    router.system("GET", "/spaces/all", all_spaces)
    router.system("POST", "/spaces", create_space, permission="SpaceCreate")
    router.system("GET", "/spaces/{id}", get_space)
    router.system("PUT", "/spaces/{id}", update_space, permission="SpaceEdit")
    router.system("DELETE", "/spaces/{id}", delete_space, permission="SpaceDelete")
    router.add("GET", "/api/{spaceId}", space_home, swagger="/api/{spaceId}", form="space")
