"""Octopus permissions: what each key's user holds, and which permission a read needs.

Three keys per instance: the full-access key's user (``Users-1``, admin) holds every
permission, the read-only key's user (``Users-2``) every ``…View`` permission, and the
no-permission key's user (in no team) nothing, so every space or system read answers 403
``Missing permission: <X>View``, as Octopus answers a user without permissions.
"""

from __future__ import annotations

from typing import Any

from octosim.state import Doc, InstanceState

# The ``Permission`` enum of Octopus 2020.5 (UserPermissionSetResource.SystemPermissions).
ALL_PERMISSIONS = (
    "AccountCreate", "AccountDelete", "AccountEdit", "AccountView", "ActionTemplateCreate",
    "ActionTemplateDelete", "ActionTemplateEdit", "ActionTemplateView", "AdministerSystem",
    "ArtifactCreate", "ArtifactDelete", "ArtifactEdit", "ArtifactView",
    "BuildInformationAdminister", "BuildInformationPush", "BuiltInFeedAdminister",
    "BuiltInFeedDownload", "BuiltInFeedPush", "CertificateCreate", "CertificateDelete",
    "CertificateEdit", "CertificateExportPrivateKey", "CertificateView", "ConfigureServer",
    "DefectReport", "DefectResolve", "DeploymentCreate", "DeploymentDelete", "DeploymentView",
    "EnvironmentCreate", "EnvironmentDelete", "EnvironmentEdit", "EnvironmentView", "EventView",
    "FeedEdit", "FeedView", "InterruptionSubmit", "InterruptionView",
    "InterruptionViewSubmitResponsible", "LibraryVariableSetCreate", "LibraryVariableSetDelete",
    "LibraryVariableSetEdit", "LibraryVariableSetView", "LifecycleCreate", "LifecycleDelete",
    "LifecycleEdit", "LifecycleView", "MachineCreate", "MachineDelete", "MachineEdit",
    "MachinePolicyCreate", "MachinePolicyDelete", "MachinePolicyEdit", "MachinePolicyView",
    "MachineView", "ProcessEdit", "ProcessView", "ProjectCreate", "ProjectDelete", "ProjectEdit",
    "ProjectGroupCreate", "ProjectGroupDelete", "ProjectGroupEdit", "ProjectGroupView",
    "ProjectView", "ProxyCreate", "ProxyDelete", "ProxyEdit", "ProxyView", "ReleaseCreate",
    "ReleaseDelete", "ReleaseEdit", "ReleaseView", "RunbookEdit", "RunbookRunCreate",
    "RunbookRunDelete", "RunbookRunView", "RunbookView", "SpaceCreate", "SpaceDelete",
    "SpaceEdit", "SpaceView", "SubscriptionCreate", "SubscriptionDelete", "SubscriptionEdit",
    "SubscriptionView", "TagSetCreate", "TagSetDelete", "TagSetEdit", "TaskCancel", "TaskCreate",
    "TaskEdit", "TaskView", "TeamCreate", "TeamDelete", "TeamEdit", "TeamView", "TenantCreate",
    "TenantDelete", "TenantEdit", "TenantView", "TriggerCreate", "TriggerDelete", "TriggerEdit",
    "TriggerView", "UserEdit", "UserInvite", "UserRoleEdit", "UserRoleView", "UserView",
    "VariableEdit", "VariableEditUnscoped", "VariableView", "VariableViewUnscoped", "WorkerEdit",
    "WorkerView",
)  # fmt: skip
_SYSTEM_ONLY = {
    "AdministerSystem", "ConfigureServer", "SpaceCreate", "SpaceDelete", "SpaceEdit",
    "SpaceView", "UserEdit", "UserInvite", "UserRoleEdit", "UserRoleView", "UserView",
}  # fmt: skip
_BOTH_LEVELS = {
    "EventView", "TaskCancel", "TaskCreate", "TaskEdit", "TaskView", "TeamCreate", "TeamDelete",
    "TeamEdit", "TeamView",
}  # fmt: skip
SYSTEM_PERMISSIONS = tuple(p for p in ALL_PERMISSIONS if p in _SYSTEM_ONLY | _BOTH_LEVELS)
SPACE_PERMISSIONS = tuple(p for p in ALL_PERMISSIONS if p not in _SYSTEM_ONLY)

# The permission a read (GET/HEAD) needs, by the first path segment after ``/api`` and the
# space. ``None``: any signed-in user may read it (the root document, the current user,
# server status and licence status, which Octopus's web UI loads for every user).
_VIEW = {
    "accounts": "AccountView",
    "certificates": "CertificateView",
    "workerpools": "WorkerView",
    "spaces": "SpaceView",
    "projects": "ProjectView",
    "projectgroups": "ProjectGroupView",
    "environments": "EnvironmentView",
    "machines": "MachineView",
    "lifecycles": "LifecycleView",
    "feeds": "FeedView",
    "tenants": "TenantView",
    "libraryvariablesets": "LibraryVariableSetView",
    "actiontemplates": "ActionTemplateView",
    "communityactiontemplates": "ActionTemplateView",
    "variables": "VariableView",
    "tasks": "TaskView",
    "teams": "TeamView",
    "scopeduserroles": "TeamView",
    "userroles": "UserRoleView",
    "users": "UserView",
    "deployments": "DeploymentView",
    "releases": "ReleaseView",
    "dashboard": "ProjectView",
    "reporting": "DeploymentView",
    "maintenanceconfiguration": "ConfigureServer",
    "smtpconfiguration": "ConfigureServer",
    "serverstatus": None,
    "authentication": None,  # the sign-in page reads it before anyone is signed in
    "configuration": "ConfigureServer",
    "octopusservernodes": "ConfigureServer",  # ping is anonymous (auth=False)
    "licenses": None,
    "packages": "FeedView",
    "deploymentprocesses": "ProcessView",
    "channels": "ProjectView",
    "interruptions": "InterruptionView",
    "runbooks": "RunbookView",
    "runbookprocesses": "RunbookView",
    "runbooksnapshots": "RunbookView",
    "runbookruns": "RunbookRunView",
    "runbook-runs": "RunbookRunView",
    # tag sets tag tenants; 2020.5 has no TagSetView, so reading them needs TenantView
    "tagsets": "TenantView",
    # Octopus 2021.3+ has GitCredentialView; the 2020.5 permission list has no such name
    "git-credentials": "FeedView",
    "subscriptions": "SubscriptionView",
    # Octopus 2025.1 has DeploymentFreezeView; anyone who may see deployments sees freezes
    "deploymentfreezes": "DeploymentView",
    "projecttriggers": "TriggerView",
}
# nested collections read with the permission of what they list
_NESTED_VIEW = {
    ("projects", "releases"): "ReleaseView",
    ("environments", "machines"): "MachineView",
    ("projects", "deploymentprocesses"): "ProcessView",
    ("projects", "runbooks"): "RunbookView",
    ("projects", "runbooksnapshots"): "RunbookView",
    ("projects", "runbookprocesses"): "RunbookView",
    ("projects", "triggers"): "TriggerView",
    ("tenants", "variables"): "TenantView",
    ("feeds", "packages"): "FeedView",
    ("runbooksnapshots", "runbookruns"): "RunbookRunView",
}


def view_permission(segments: list[str]) -> str | None:
    """The permission a GET of this route template needs (``segments`` of
    ``/api/{spaceId}/projects/{id}`` etc.); a KeyError for a route nobody classified."""
    parts = segments[1:]  # drop "api"
    if parts[:2] == ["spaces", "{spaceId}"]:
        parts = parts[2:]
    elif parts[:1] == ["{spaceId}"]:
        if len(parts) == 1:
            return "SpaceView"  # the space home document
        parts = parts[1:]
    if not parts or parts == ["users", "me"]:
        return None
    first = parts[0].lower()
    if len(parts) >= 3:
        nested = _NESTED_VIEW.get((first, parts[2].lower()))
        if nested:
            return nested
    return _VIEW[first]


def _restriction(space_id: str, scoped: Doc | None = None) -> Doc:
    scoped = scoped or {}
    return {
        "SpaceId": space_id,
        "RestrictedToProjectIds": list(scoped.get("ProjectIds") or []),
        "RestrictedToEnvironmentIds": list(scoped.get("EnvironmentIds") or []),
        "RestrictedToTenantIds": list(scoped.get("TenantIds") or []),
        "RestrictedToProjectGroupIds": list(scoped.get("ProjectGroupIds") or []),
    }


def external_groups_of(st: InstanceState, user_id: str) -> set[str]:
    """The groups an external provider claimed for the user at their last sign-in (Octopus
    keeps them with the user and matches them against teams' external security groups)."""
    stored = st.sys("usergroups").get(user_id) or {}
    return {str(g).casefold() for g in stored.get("Groups") or []}


def _group_id(group: Any) -> str:
    return str(group.get("Id", "")).casefold() if isinstance(group, dict) else ""


def _teams_of(st: InstanceState, user_id: str) -> list[Doc]:
    groups = external_groups_of(st, user_id)
    return [
        t
        for t in st.sys("teams").values()
        if t["Id"] == "teams-everyone"
        or user_id in t["MemberUserIds"]
        or (
            bool(groups)
            and any(_group_id(g) in groups for g in t.get("ExternalSecurityGroups") or [])
        )
    ]


def _baseline(access: str | None) -> set[str]:
    """What a key's own user holds regardless of teams."""
    if access == "full":
        return set(ALL_PERMISSIONS)
    if access == "read":
        return {p for p in ALL_PERMISSIONS if p.endswith("View")}
    return set()


def permission_set(
    st: InstanceState, user_id: str, access: str | None, space_id: str | None = None
) -> Doc:
    """A ``UserPermissionSetResource``: the key owner's baseline (``access`` "full", "read"
    or None for anyone else) plus what the user's teams grant through scoped user roles.
    With ``space_id``, only that space's space permissions."""
    baseline = _baseline(access)
    system = {p for p in SYSTEM_PERMISSIONS if p in baseline}
    space: dict[str, list[Doc]] = {
        p: [_restriction(s) for s in st.spaces] for p in SPACE_PERMISSIONS if p in baseline
    }
    teams = _teams_of(st, user_id)
    by_team = {t["Id"]: t for t in teams}
    roles = st.sys("userroles")
    for scoped in st.sys("scopeduserroles").values():
        team = by_team.get(scoped["TeamId"])
        role = roles.get(scoped["UserRoleId"])
        if team is None or role is None:
            continue
        where = scoped.get("SpaceId") or team.get("SpaceId")
        if where is None:
            system.update(role.get("GrantedSystemPermissions") or [])
            continue
        for perm in role.get("GrantedSpacePermissions") or []:
            entries = space.setdefault(perm, [])
            restriction = _restriction(where, scoped)
            if restriction not in entries:
                entries.append(restriction)
    if space_id is not None:
        space = {
            p: kept
            for p, entries in space.items()
            if (kept := [e for e in entries if e["SpaceId"] == space_id])
        }
        teams = [t for t in teams if t.get("SpaceId") in (None, space_id)]
    return {
        "Id": user_id,
        "SystemPermissions": [p for p in ALL_PERMISSIONS if p in system],
        "SpacePermissions": {p: space[p] for p in ALL_PERMISSIONS if p in space},
        "Teams": [_team_ref(t, user_id) for t in teams],
        "IsTeamsComplete": True,
        "IsPermissionsComplete": True,
        "LastModifiedOn": None,
        "LastModifiedBy": None,
        "Links": {
            "Self": f"/api/users/{user_id}/permissions",
            "Export": f"/api/users/{user_id}/permissions/export",
        },
    }


def _team_ref(team: Doc, user_id: str) -> dict[str, Any]:
    return {
        "Id": team["Id"],
        "Name": team["Name"],
        "SpaceId": team.get("SpaceId"),
        "ExternalSecurityGroups": list(team.get("ExternalSecurityGroups") or []),
        "IsDirectlyAssigned": user_id in team["MemberUserIds"],
    }
