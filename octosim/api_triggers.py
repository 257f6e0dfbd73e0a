"""Project triggers (``/projecttriggers``, space-scoped, and ``/projects/{id}/triggers``).

The 2020.5 ``ProjectTriggerResource``: ``Name``, ``Description``, ``ProjectId``,
``IsDisabled``, ``SpaceId``, a ``Filter`` and an ``Action``, each polymorphic on its type
(``FilterType``, ``ActionType``) with the fields go-octopusdeploy's ``filters`` and
``actions`` packages give them:

* ``MachineFilter`` (``EnvironmentIds``, ``Roles``, ``EventGroups``, ``EventCategories``) runs
  ``AutoDeploy`` (``ShouldRedeployWhenMachineHasBeenDeployedTo``);
* the schedules (``OnceDailySchedule``, ``ContinuousDailySchedule``, ``DaysPerWeekSchedule``,
  ``DaysPerMonthSchedule``, ``DailySchedule``, ``CronExpressionSchedule``; ``Timezone`` and
  their own timing fields) run ``DeployLatestRelease`` (``SourceEnvironmentIds``,
  ``DestinationEnvironmentId``, ``ShouldRedeployWhenReleaseIsCurrent``, ``Variables``),
  ``DeployNewRelease`` (``EnvironmentId``, ``Variables``) — both also ``ChannelId``,
  ``TenantIds``, ``TenantTags`` — or ``RunRunbook`` (``RunbookId``, ``EnvironmentIds``,
  ``TenantIds``, ``TenantTags``);
* ``FeedFilter`` (``Packages``: ``DeploymentAction`` and ``PackageReference``) runs
  ``CreateRelease`` (``ChannelId``).

References are checked as Octopus checks them (the environments, tenants, tags, channel and
runbook must exist, the channel and runbook in the trigger's project); names are unique per
project. octosim stores triggers but never fires them (no scheduler, no machine events).
"""

from __future__ import annotations

from typing import Any

from octosim import resources as R
from octosim.api_core import require_space
from octosim.errors import invalid, not_found
from octosim.paging import envelope, filter_common, q
from octosim.routing import Ctx, Reply, Router
from octosim.state import Doc, now

SCHEDULES = {
    "OnceDailySchedule": ("StartTime", "DaysOfWeek"),
    "ContinuousDailySchedule": (
        "Interval", "HourInterval", "MinuteInterval", "RunAfter", "RunUntil", "DaysOfWeek",
    ),
    "DaysPerWeekSchedule": ("StartTime", "DaysOfWeek"),
    "DaysPerMonthSchedule": (
        "StartTime", "MonthlyScheduleType", "DateOfMonth", "DayNumberOfMonth", "DayOfWeek",
    ),
    "DailySchedule": ("StartTime", "Interval", "HourInterval", "MinuteInterval"),
    "CronExpressionSchedule": ("CronExpression",),
}  # fmt: skip
FILTERS: dict[str, tuple[str, ...]] = {
    "MachineFilter": ("EnvironmentIds", "Roles", "EventGroups", "EventCategories"),
    "FeedFilter": ("Packages",),
    **{name: ("Timezone", *fields) for name, fields in SCHEDULES.items()},
}
SCOPED = ("ChannelId", "TenantIds", "TenantTags")
ACTIONS: dict[str, tuple[str, ...]] = {
    "AutoDeploy": ("ShouldRedeployWhenMachineHasBeenDeployedTo",),
    "DeployLatestRelease": (
        "SourceEnvironmentIds", "DestinationEnvironmentId", "ShouldRedeployWhenReleaseIsCurrent",
        "Variables", *SCOPED,
    ),
    "DeployNewRelease": ("EnvironmentId", "Variables", *SCOPED),
    "RunRunbook": ("RunbookId", "EnvironmentIds", "TenantIds", "TenantTags"),
    "CreateRelease": ("ChannelId",),
}  # fmt: skip
# which actions each kind of filter may run
ALLOWED = {
    "MachineFilter": ("AutoDeploy",),
    "FeedFilter": ("CreateRelease",),
    **{name: ("DeployLatestRelease", "DeployNewRelease", "RunRunbook") for name in SCHEDULES},
}
LISTS = {
    "EnvironmentIds", "Roles", "EventGroups", "EventCategories", "DaysOfWeek", "TenantIds",
    "TenantTags", "SourceEnvironmentIds",
}  # fmt: skip
BOOLS = {"ShouldRedeployWhenMachineHasBeenDeployedTo", "ShouldRedeployWhenReleaseIsCurrent"}


def render_trigger(doc: Doc) -> Doc:
    p = f"/api/{doc['SpaceId']}"
    return {
        **doc,
        "Links": {
            "Self": f"{p}/projecttriggers/{doc['Id']}",
            "Project": f"{p}/projects/{doc['ProjectId']}",
        },
    }


def _part(raw: Any, what: str, types: dict[str, tuple[str, ...]], errors: list[str]) -> Doc:
    """The filter or action as stored: its type and that type's fields (defaults filled)."""
    key = f"{what}Type"
    if not isinstance(raw, dict) or raw.get(key) not in types:
        errors.append(
            f"The {what} field must be an object whose {key} is one of {', '.join(types)}."
        )
        return {key: None}
    out: Doc = {key: raw[key]}
    for name in types[raw[key]]:
        value = raw.get(name)
        if name in LISTS:
            if value is not None and (
                not isinstance(value, list) or not all(isinstance(v, str) for v in value)
            ):
                errors.append(f"{what}.{name} must be a list of strings.")
                value = []
            out[name] = list(value or [])
        elif name in BOOLS:
            out[name] = bool(value)
        elif name == "Packages":
            packages = value or []
            if not isinstance(packages, list) or not all(isinstance(p, dict) for p in packages):
                errors.append("Filter.Packages must be a list of objects.")
                packages = []
            out[name] = [
                {
                    "DeploymentAction": str(p.get("DeploymentAction") or ""),
                    "PackageReference": str(p.get("PackageReference") or ""),
                }
                for p in packages
            ]
        else:
            out[name] = value if value not in ("",) else None
    return out


def _references(ctx: Ctx, project_id: str, doc: Doc, errors: list[str]) -> None:
    filt, action = doc["Filter"], doc["Action"]
    envs = ctx.col("environments")
    env_ids = [
        *filt.get("EnvironmentIds", []),
        *action.get("EnvironmentIds", []),
        *action.get("SourceEnvironmentIds", []),
        *[action[k] for k in ("DestinationEnvironmentId", "EnvironmentId") if action.get(k)],
    ]
    errors += [f"The environment '{e}' does not exist." for e in env_ids if e not in envs]
    tenants = ctx.col("tenants")
    errors += [
        f"The tenant '{t}' does not exist." for t in action.get("TenantIds", []) if t not in tenants
    ]
    tags = {
        str(t.get("CanonicalTagName") or f"{s['Name']}/{t['Name']}")
        for s in ctx.col("tagsets").values()
        for t in s.get("Tags") or []
    }
    errors += [
        f"The tag '{t}' does not exist." for t in action.get("TenantTags", []) if t not in tags
    ]
    channel = action.get("ChannelId")
    if channel and (ctx.col("channels").get(channel) or {}).get("ProjectId") != project_id:
        errors.append(f"The channel '{channel}' does not exist in this project.")
    if action.get("ActionType") == "RunRunbook":
        runbook = action.get("RunbookId")
        if not runbook or (ctx.col("runbooks").get(runbook) or {}).get("ProjectId") != project_id:
            errors.append(f"The runbook '{runbook}' does not exist in this project.")
    if action.get("ActionType") == "DeployLatestRelease" and not action.get(
        "DestinationEnvironmentId"
    ):
        errors.append("The DestinationEnvironmentId field is required.")
    if filt.get("FilterType") == "CronExpressionSchedule" and not filt.get("CronExpression"):
        errors.append("The CronExpression field is required.")


def _checked(ctx: Ctx, body: dict[str, Any], current: Doc | None) -> Doc:
    errors: list[str] = []
    name = str(body.get("Name") or "").strip()
    project_id = current["ProjectId"] if current else body.get("ProjectId")
    if not name:
        errors.append("The Name field is required.")
    if not isinstance(project_id, str) or project_id not in ctx.col("projects"):
        errors.append("The ProjectId field is required and must name a project in this space.")
        raise invalid(*errors)
    if any(
        t["ProjectId"] == project_id
        and t["Name"].lower() == name.lower()
        and (current is None or t["Id"] != current["Id"])
        for t in ctx.col("projecttriggers").values()
    ):
        errors.append("A trigger with this name already exists in this project.")
    if "IsDisabled" in body and not isinstance(body["IsDisabled"], bool):
        errors.append("The IsDisabled field must be true or false.")
    filt = _part(body.get("Filter"), "Filter", FILTERS, errors)
    action = _part(body.get("Action"), "Action", ACTIONS, errors)
    allowed = ALLOWED.get(str(filt.get("FilterType")), ())
    if filt.get("FilterType") and action.get("ActionType") and action["ActionType"] not in allowed:
        errors.append(
            f"A {filt['FilterType']} trigger cannot run {action['ActionType']}: "
            f"use {', '.join(allowed)}."
        )
    out = {"Filter": filt, "Action": action}
    if not errors:
        _references(ctx, project_id, out, errors)
    if errors:
        raise invalid(*errors)
    return {
        "Name": name,
        "Description": str(body.get("Description") or ""),
        "ProjectId": project_id,
        "IsDisabled": bool(body.get("IsDisabled", current["IsDisabled"] if current else False)),
        **out,
    }


def get_trigger(ctx: Ctx, ident: str) -> Doc:
    require_space(ctx)
    doc = ctx.col("projecttriggers").get(ident)
    if doc is None:
        raise not_found(ident)
    return doc


def _listing(ctx: Ctx, items: list[Doc], path: str) -> Reply:
    items = sorted(items, key=lambda t: (t["ProjectId"], t["Name"].lower()))
    items = filter_common(items, ctx.query, lambda d: d["Name"], lambda d: d["Id"])
    return 200, envelope(
        items, ctx.query, item_type="ProjectTrigger", path=path,
        template=path + "{/id}" + q("skip", "take", "ids", "partialName"),
        render=render_trigger,
    )  # fmt: skip


def list_triggers(ctx: Ctx) -> Reply:
    require_space(ctx)
    return _listing(ctx, list(ctx.col("projecttriggers").values()), f"{ctx.prefix}/projecttriggers")


def project_triggers(ctx: Ctx) -> Reply:
    require_space(ctx)
    project = ctx.col("projects").get(ctx.params["id"])
    if project is None:
        raise not_found(ctx.params["id"])
    items = [t for t in ctx.col("projecttriggers").values() if t["ProjectId"] == project["Id"]]
    return _listing(ctx, items, f"{ctx.prefix}/projects/{project['Id']}/triggers")


def read_trigger(ctx: Ctx) -> Reply:
    return 200, render_trigger(get_trigger(ctx, ctx.params["id"]))


def create_trigger(ctx: Ctx) -> Reply:
    require_space(ctx)
    fields = _checked(ctx, ctx.json_body(), None)
    doc: Doc = {
        "Id": ctx.st.next_id("ProjectTriggers"),
        **fields,
        "SpaceId": str(ctx.space_id),
        "LastModifiedOn": None,
        "LastModifiedBy": None,
    }
    R.stamp(doc, ctx.username, now())
    ctx.col("projecttriggers")[doc["Id"]] = doc
    return 201, render_trigger(doc)


def update_trigger(ctx: Ctx) -> Reply:
    doc = get_trigger(ctx, ctx.params["id"])
    doc.update(_checked(ctx, ctx.json_body(), doc))
    R.stamp(doc, ctx.username, now())
    return 200, render_trigger(doc)


def delete_trigger(ctx: Ctx) -> Reply:
    doc = get_trigger(ctx, ctx.params["id"])
    del ctx.col("projecttriggers")[doc["Id"]]
    return 200, None


def register(router: Router) -> None:
    router.space("GET", "/projecttriggers", list_triggers)
    router.space("GET", "/projecttriggers/{id}", read_trigger)
    router.space("POST", "/projecttriggers", create_trigger, permission="TriggerCreate")
    router.space("PUT", "/projecttriggers/{id}", update_trigger, permission="TriggerEdit")
    router.space("DELETE", "/projecttriggers/{id}", delete_trigger, permission="TriggerDelete")
    router.space("GET", "/projects/{id}/triggers", project_triggers)
