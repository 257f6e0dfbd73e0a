"""Builders for Octopus-shaped documents, shared by the seed generator and the API.

Each builder returns the full document Octopus stores (without ``Links``) with every
field Octopus returns for it, defaults included, so a created resource reads back the
same as a generated one.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from octosim.state import Doc, InstanceState

# Fields the server owns: a client may send them but they are not taken from the body.
READ_ONLY = {"Id", "Links", "LastModifiedOn", "LastModifiedBy", "SpaceId", "VariableSetId"}


def iso(ts: float | None) -> str | None:
    """Octopus's timestamp format: milliseconds and an explicit offset."""
    if ts is None:
        return None
    dt = datetime.fromtimestamp(ts, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}+00:00"


def slug_of(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def stamp(doc: Doc, user: str, ts: float) -> Doc:
    doc["LastModifiedOn"] = iso(ts)
    doc["LastModifiedBy"] = user
    return doc


def apply_body(doc: Doc, body: dict[str, Any], extra_read_only: tuple[str, ...] = ()) -> Doc:
    """Copy the writable fields Octopus knows about from ``body`` onto ``doc``."""
    skip = READ_ONLY.union(extra_read_only)
    for key, value in body.items():
        if key in doc and key not in skip:
            doc[key] = value
    return doc


def template_ids(doc: Doc) -> None:
    """Octopus gives a variable template (of a project or a library variable set) saved
    without an ``Id`` a new one; tenant variable values are keyed by it."""
    for template in doc.get("Templates") or []:
        if isinstance(template, dict) and not template.get("Id"):
            template["Id"] = str(uuid.uuid4())


def space(ident: str, name: str, *, is_default: bool, description: str = "") -> Doc:
    return {
        "Id": ident,
        "Name": name,
        "Slug": slug_of(name),
        "Description": description,
        "IsDefault": is_default,
        "IsPrivate": False,
        "TaskQueueStopped": False,
        "SpaceManagersTeams": [f"teams-spacemanagers-{ident}"],
        "SpaceManagersTeamMembers": [],
        "LastModifiedOn": None,
        "LastModifiedBy": None,
    }


def environment(st: InstanceState, space_id: str, name: str, sort_order: int) -> Doc:
    return {
        "Id": st.next_id("Environments"),
        "Name": name,
        "Slug": slug_of(name),
        "Description": "",
        "SortOrder": sort_order,
        "UseGuidedFailure": False,
        "AllowDynamicInfrastructure": False,
        "SpaceId": space_id,
        "ExtensionSettings": [],
        "LastModifiedOn": None,
        "LastModifiedBy": None,
    }


def project_group(st: InstanceState, space_id: str, name: str, description: str = "") -> Doc:
    return {
        "Id": st.next_id("ProjectGroups"),
        "Name": name,
        "Slug": slug_of(name),
        "Description": description,
        "EnvironmentIds": [],
        "RetentionPolicyId": None,
        "SpaceId": space_id,
        "LastModifiedOn": None,
        "LastModifiedBy": None,
    }


def phase(name: str, env_ids: list[str], optional: bool = False) -> Doc:
    return {
        "Id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"phase/{name}/{','.join(env_ids)}")),
        "Name": name,
        "AutomaticDeploymentTargets": [],
        "OptionalDeploymentTargets": list(env_ids),
        "MinimumEnvironmentsBeforePromotion": 0,
        "IsOptionalPhase": optional,
        "ReleaseRetentionPolicy": None,
        "TentacleRetentionPolicy": None,
    }


def retention(unit: str = "Days", quantity: int = 30) -> Doc:
    return {"Unit": unit, "QuantityToKeep": quantity, "ShouldKeepForever": quantity == 0}


def lifecycle(st: InstanceState, space_id: str, name: str, phases: list[Doc]) -> Doc:
    return {
        "Id": st.next_id("Lifecycles"),
        "Name": name,
        "Slug": slug_of(name),
        "Description": "",
        "Phases": phases,
        "ReleaseRetentionPolicy": retention("Days", 30),
        "TentacleRetentionPolicy": retention("Days", 30),
        "SpaceId": space_id,
        "LastModifiedOn": None,
        "LastModifiedBy": None,
    }


def feed(ident: str, space_id: str, name: str, feed_type: str, uri: str | None = None) -> Doc:
    doc: Doc = {
        "Id": ident,
        "Name": name,
        "Slug": slug_of(name),
        "FeedType": feed_type,
        "SpaceId": space_id,
        "PackageAcquisitionLocationOptions": ["Server", "ExecutionTarget"],
        "LastModifiedOn": None,
        "LastModifiedBy": None,
    }
    if feed_type == "BuiltIn":
        doc.update({"IsBuiltInRepoSyncEnabled": False, "DeleteUnreleasedPackagesAfterDays": 30})
    else:
        doc.update(
            {
                "FeedUri": uri,
                "Username": None,
                "Password": {"HasValue": False, "NewValue": None, "Hint": None},
                "DownloadAttempts": 5,
                "DownloadRetryBackoffSeconds": 10,
                "EnhancedMode": False,
            }
        )
    return doc


def variable_set(ident: str, owner_id: str, space_id: str) -> Doc:
    return {
        "Id": ident,
        "OwnerId": owner_id,
        "Version": 0,
        "Variables": [],
        "SpaceId": space_id,
        "LastModifiedOn": None,
        "LastModifiedBy": None,
    }


def variable(
    name: str,
    value: str | None,
    *,
    sensitive: bool = False,
    scope: dict[str, list[str]] | None = None,
    ident: str | None = None,
    description: str = "",
) -> Doc:
    return {
        "Id": ident or str(uuid.uuid4()),
        "Name": name,
        "Value": value,
        "Description": description,
        "Scope": scope or {},
        "IsEditable": True,
        "Prompt": None,
        "Type": "Sensitive" if sensitive else "String",
        "IsSensitive": sensitive,
    }


def project(
    st: InstanceState,
    space_id: str,
    name: str,
    *,
    group_id: str,
    lifecycle_id: str,
    description: str = "",
    library_sets: list[str] | None = None,
) -> Doc:
    ident = st.next_id("Projects")
    vs_id = f"variableset-{ident}"
    st.variable_sets[vs_id] = variable_set(vs_id, ident, space_id)
    channel_id = st.next_id("Channels")
    st.col(space_id, "channels")[channel_id] = {
        "Id": channel_id,
        "Name": "Default",
        "Description": "",
        "ProjectId": ident,
        "LifecycleId": None,
        "IsDefault": True,
        "Rules": [],
        "TenantTags": [],
        "SpaceId": space_id,
    }
    return {
        "Id": ident,
        "Name": name,
        "Slug": slug_of(name),
        "Description": description,
        "ProjectGroupId": group_id,
        "LifecycleId": lifecycle_id,
        "VariableSetId": vs_id,
        "DeploymentProcessId": f"deploymentprocess-{ident}",
        "IncludedLibraryVariableSetIds": list(library_sets or []),
        "IsDisabled": False,
        "IsVersionControlled": False,
        "TenantedDeploymentMode": "Untenanted",
        "DefaultGuidedFailureMode": "EnvironmentDefault",
        "DefaultToSkipIfAlreadyInstalled": False,
        "DiscreteChannelRelease": False,
        "AutoCreateRelease": False,
        "ClonedFromProjectId": None,
        "ReleaseNotesTemplate": None,
        "DeploymentChangesTemplate": None,
        "Templates": [],
        "AutoDeployReleaseOverrides": [],
        "ExtensionSettings": [],
        "ProjectConnectivityPolicy": {
            "SkipMachineBehavior": "None",
            "TargetRoles": [],
            "AllowDeploymentsToNoTargets": False,
            "ExcludeUnhealthyTargets": False,
        },
        "VersioningStrategy": {
            "Template": "#{Octopus.Version.LastMajor}.#{Octopus.Version.LastMinor}"
            ".#{Octopus.Version.NextPatch}",
            "DonorPackage": None,
        },
        "ReleaseCreationStrategy": {
            "ChannelId": None,
            "ReleaseCreationPackage": None,
        },
        "SpaceId": space_id,
        "LastModifiedOn": None,
        "LastModifiedBy": None,
    }


def machine(
    st: InstanceState,
    space_id: str,
    name: str,
    *,
    env_ids: list[str],
    roles: list[str],
    health: str,
    disabled: bool = False,
    tenant_ids: list[str] | None = None,
) -> Doc:
    ident = st.next_id("Machines")
    thumb = uuid.uuid5(uuid.NAMESPACE_DNS, f"{ident}/{name}").hex[:40].upper()
    summary = {
        "Healthy": "Octopus was able to successfully establish a connection with this machine.",
        "HasWarnings": "The machine is healthy but reported warnings.",
        "Unhealthy": "The health check failed for this machine.",
        "Unavailable": "The machine was unavailable during the last health check.",
        "Unknown": "This machine has not been health-checked yet.",
    }[health]
    status = {"Healthy": "Online", "HasWarnings": "Online", "Unhealthy": "Offline"}.get(
        health, "Unknown" if health == "Unknown" else "Offline"
    )
    uri = f"https://{slug_of(name)}.example.internal:10933/"
    return {
        "Id": ident,
        "Name": name,
        "Slug": slug_of(name),
        "EnvironmentIds": list(env_ids),
        "Roles": list(roles),
        "TenantedDeploymentParticipation": "TenantedOrUntenanted" if tenant_ids else "Untenanted",
        "TenantIds": list(tenant_ids or []),
        "TenantTags": [],
        "IsDisabled": disabled,
        "HealthStatus": health,
        "Status": status,
        "StatusSummary": summary,
        "HasLatestCalamari": True,
        "IsInProcess": False,
        "MachinePolicyId": "MachinePolicies-1",
        "Thumbprint": thumb,
        "Uri": uri,
        "OperatingSystem": "Linux",
        "ShellName": "Bash",
        "ShellVersion": "5.1.16",
        "Endpoint": {
            "Id": None,
            "CommunicationStyle": "TentaclePassive",
            "Uri": uri,
            "Thumbprint": thumb,
            "TentacleVersionDetails": {
                "UpgradeLocked": False,
                "Version": "6.3.417",
                "UpgradeSuggested": False,
                "UpgradeRequired": False,
            },
            "CertificateSignatureAlgorithm": "sha256RSA",
        },
        "SpaceId": space_id,
        "LastModifiedOn": None,
        "LastModifiedBy": None,
    }


def tenant(st: InstanceState, space_id: str, name: str, project_envs: dict[str, list[str]]) -> Doc:
    return {
        "Id": st.next_id("Tenants"),
        "Name": name,
        "Slug": slug_of(name),
        "Description": "",
        "TenantTags": [],
        "ProjectEnvironments": project_envs,
        "IsDisabled": False,
        "ClonedFromTenantId": None,
        "SpaceId": space_id,
        "LastModifiedOn": None,
        "LastModifiedBy": None,
    }


def library_variable_set(
    st: InstanceState, space_id: str, name: str, description: str = "", content: str = "Variables"
) -> Doc:
    ident = st.next_id("LibraryVariableSets")
    vs_id = f"variableset-{ident}"
    st.variable_sets[vs_id] = variable_set(vs_id, ident, space_id)
    return {
        "Id": ident,
        "Name": name,
        "Description": description,
        "ContentType": content,
        "VariableSetId": vs_id,
        "Templates": [],
        "SpaceId": space_id,
        "LastModifiedOn": None,
        "LastModifiedBy": None,
    }


def parameter(name: str, label: str, default: str = "", control: str = "SingleLineText") -> Doc:
    return {
        "Id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"param/{name}")),
        "Name": name,
        "Label": label,
        "HelpText": "",
        "DefaultValue": default,
        "DisplaySettings": {"Octopus.ControlType": control},
    }


def action_template(
    st: InstanceState,
    space_id: str,
    name: str,
    *,
    description: str = "",
    script: str = "echo hello",
    parameters: list[Doc] | None = None,
    version: int = 0,
    community_id: str | None = None,
) -> Doc:
    return {
        "Id": st.next_id("ActionTemplates"),
        "Name": name,
        "Description": description,
        "ActionType": "Octopus.Script",
        "Version": version,
        "CommunityActionTemplateId": community_id,
        "Packages": [],
        "Parameters": list(parameters or []),
        "Properties": {
            "Octopus.Action.Script.ScriptSource": "Inline",
            "Octopus.Action.Script.Syntax": "Bash",
            "Octopus.Action.Script.ScriptBody": script,
        },
        "SpaceId": space_id,
        "LastModifiedOn": None,
        "LastModifiedBy": None,
    }


def team(
    ident: str,
    name: str,
    *,
    space_id: str | None,
    members: list[str] | None = None,
    description: str = "",
    builtin: bool = False,
) -> Doc:
    return {
        "Id": ident,
        "Name": name,
        "Slug": slug_of(name),
        "Description": description,
        "SpaceId": space_id,
        "MemberUserIds": list(members or []),
        "ExternalSecurityGroups": [],
        "CanBeDeleted": not builtin,
        "CanBeRenamed": not builtin,
        "CanChangeMembers": ident != "teams-everyone",
        "CanChangeRoles": True,
        "LastModifiedOn": None,
        "LastModifiedBy": None,
    }


def user(ident: str, username: str, display: str, *, service: bool = False) -> Doc:
    return {
        "Id": ident,
        "Username": username,
        "DisplayName": display,
        "EmailAddress": None if service else f"{username}@example.com",
        "IsActive": True,
        "IsService": service,
        "IsRequestor": False,
        "CanPasswordBeEdited": not service,
        "Identities": []
        if service
        else [
            {
                "IdentityProviderName": "Octopus ID",
                "Claims": {
                    "email": {"Value": f"{username}@example.com", "IsIdentifyingClaim": True}
                },
            }
        ],
        "LastModifiedOn": None,
        "LastModifiedBy": None,
    }


def user_role(
    ident: str,
    name: str,
    description: str,
    space_perms: list[str],
    system_perms: list[str],
    *,
    builtin: bool = True,
) -> Doc:
    return {
        "Id": ident,
        "Name": name,
        "Description": description,
        "SupportedRestrictions": [],
        "SpacePermissionDescriptions": [],
        "SystemPermissionDescriptions": [],
        "GrantedSpacePermissions": list(space_perms),
        "GrantedSystemPermissions": list(system_perms),
        "CanBeDeleted": not builtin,
        "LastModifiedOn": None,
        "LastModifiedBy": None,
    }


def scoped_user_role(
    ident: str,
    team_id: str,
    role_id: str,
    space_id: str | None,
    *,
    environment_ids: list[str] | None = None,
) -> Doc:
    return {
        "Id": ident,
        "TeamId": team_id,
        "UserRoleId": role_id,
        "SpaceId": space_id,
        "EnvironmentIds": list(environment_ids or []),
        "ProjectIds": [],
        "ProjectGroupIds": [],
        "TenantIds": [],
        "LastModifiedOn": None,
        "LastModifiedBy": None,
    }


def worker_pool_doc(st: InstanceState, space_id: str, name: str) -> Doc:
    return {
        "Id": st.next_id("WorkerPools"),
        "Name": name,
        "Slug": slug_of(name),
        "Description": "",
        "IsDefault": False,
        "SortOrder": 0,
        "WorkerPoolType": "StaticWorkerPool",
        "CanAddWorkers": True,
        "SpaceId": space_id,
        "LastModifiedOn": None,
        "LastModifiedBy": None,
    }
