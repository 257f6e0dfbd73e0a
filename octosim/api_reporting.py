"""The space dashboard and the ``reporting/deployments/xml`` feed."""

from __future__ import annotations

from datetime import UTC, datetime
from xml.sax.saxutils import escape

from octosim.api_core import require_space
from octosim.api_tasks import render_task
from octosim.errors import invalid
from octosim.paging import param
from octosim.resources import iso
from octosim.routing import Ctx, RawBody, Reply, Router
from octosim.state import FINAL_STATES, DeploymentRec, Doc, TaskRec, now


def _dashboard_item(ctx: Ctx, dep: DeploymentRec, moment: float, current: bool) -> Doc:
    task = ctx.st.tasks[dep.task_id]
    rendered = render_task(task, moment)
    rel = ctx.st.releases.get(dep.release_id)
    return {
        "Id": f"{dep.id}-{'current' if current else 'previous'}",
        "ProjectId": dep.project_id,
        "EnvironmentId": dep.environment_id,
        "ReleaseId": dep.release_id,
        "DeploymentId": dep.id,
        "TaskId": dep.task_id,
        "TenantId": dep.tenant_id,
        "ChannelId": dep.channel_id,
        "ReleaseVersion": rel.version if rel else "",
        "Created": iso(dep.created),
        "QueueTime": rendered["QueueTime"],
        "StartTime": rendered["StartTime"],
        "CompletedTime": rendered["CompletedTime"],
        "State": rendered["State"],
        "HasPendingInterruptions": False,
        "HasWarningsOrErrors": rendered["HasWarningsOrErrors"],
        "ErrorMessage": rendered["ErrorMessage"],
        "Duration": rendered["Duration"],
        "IsCurrent": current,
        "IsPrevious": not current,
        "IsCompleted": rendered["IsCompleted"],
        "Links": {
            "Self": f"/api/{dep.space_id}/deployments/{dep.id}",
            "Task": f"/api/tasks/{dep.task_id}",
            "Release": f"/api/{dep.space_id}/releases/{dep.release_id}",
        },
    }


def dashboard(ctx: Ctx) -> Reply:
    require_space(ctx)
    moment = now()
    st = ctx.st
    projects = sorted(ctx.col("projects").values(), key=lambda p: p["Name"].lower())
    envs = sorted(ctx.col("environments").values(), key=lambda e: e["SortOrder"])
    env_ids = [e["Id"] for e in envs]
    wanted_project = param(ctx.query, "projectId")
    latest: dict[tuple[str, str, str | None], list[DeploymentRec]] = {}
    for dep in sorted(st.deployments.values(), key=lambda d: d.created, reverse=True):
        if dep.space_id != ctx.space_id or (wanted_project and dep.project_id != wanted_project):
            continue
        latest.setdefault((dep.project_id, dep.environment_id, dep.tenant_id), []).append(dep)
    items, previous = [], []
    for deps in latest.values():
        items.append(_dashboard_item(ctx, deps[0], moment, True))
        earlier = next(
            (d for d in deps[1:] if st.tasks[d.task_id].state(moment) == "Success"), None
        )
        if earlier is not None:
            previous.append(_dashboard_item(ctx, earlier, moment, False))
    groups = sorted(ctx.col("projectgroups").values(), key=lambda g: g["Name"].lower())
    return 200, {
        "Id": f"dashboard-{ctx.space_id}",
        "Projects": [
            {
                "Id": p["Id"],
                "Name": p["Name"],
                "Slug": p["Slug"],
                "ProjectGroupId": p["ProjectGroupId"],
                "EnvironmentIds": env_ids,
                "TenantedDeploymentMode": p["TenantedDeploymentMode"],
                "CanPerformUntenantedDeployment": p["TenantedDeploymentMode"] != "Tenanted",
                "IsDisabled": p["IsDisabled"],
                "Links": {"Self": f"/api/{ctx.space_id}/projects/{p['Id']}"},
            }
            for p in projects
            if not wanted_project or p["Id"] == wanted_project
        ],
        "ProjectGroups": [
            {"Id": g["Id"], "Name": g["Name"], "EnvironmentIds": env_ids, "Links": {}}
            for g in groups
        ],
        "Environments": [{"Id": e["Id"], "Name": e["Name"], "Links": {}} for e in envs],
        "Tenants": [
            {
                "Id": t["Id"],
                "Name": t["Name"],
                "ProjectEnvironments": t["ProjectEnvironments"],
                "TenantTags": t["TenantTags"],
                "Links": {},
            }
            for t in ctx.col("tenants").values()
        ],
        "Items": items,
        "PreviousItems": previous,
        "ProjectLimit": 500,
        "IsFiltered": bool(wanted_project),
        "Links": {"Self": f"/api/{ctx.space_id}/dashboard"},
    }


def _when(ctx: Ctx, name: str) -> float | None:
    raw = param(ctx.query, name)
    if not raw:
        return None
    text = raw.strip()
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC).timestamp()
        except ValueError:
            continue
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise invalid(f"The value '{raw}' is not a valid date for {name}.") from None
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()


def _xml_row(ctx: Ctx, dep: DeploymentRec, task: TaskRec, moment: float) -> str:
    st = ctx.st
    done, started = task.complete_time or moment, task.start_time
    proj = ctx.col("projects").get(dep.project_id, {})
    env = ctx.col("environments").get(dep.environment_id, {})
    tenant = ctx.col("tenants").get(dep.tenant_id or "", {})
    channel = ctx.col("channels").get(dep.channel_id, {})
    rel = st.releases.get(dep.release_id)
    fields = [
        ("DeploymentId", dep.id),
        ("DeploymentName", f"Deploy to {env.get('Name', '')}"),
        ("ProjectId", dep.project_id),
        ("ProjectName", proj.get("Name", "")),
        ("ProjectSlug", proj.get("Slug", "")),
        ("TenantId", dep.tenant_id or ""),
        ("TenantName", tenant.get("Name", "")),
        ("ChannelId", dep.channel_id),
        ("ChannelName", channel.get("Name", "")),
        ("EnvironmentId", dep.environment_id),
        ("EnvironmentName", env.get("Name", "")),
        ("ReleaseId", dep.release_id),
        ("ReleaseVersion", rel.version if rel else ""),
        ("TaskId", dep.task_id),
        ("TaskState", task.state(moment)),
        ("Created", iso(dep.created) or ""),
        ("QueueTime", iso(task.queue_time) or ""),
        ("StartTime", iso(started) or ""),
        ("CompletedTime", iso(done) or ""),
        ("DurationSeconds", str(int(done - started)) if started is not None else "0"),
        ("DeployedBy", dep.deployed_by),
    ]
    inner = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in fields)
    return f"<Deployment>{inner}</Deployment>"


def _within(value: float | None, low: float | None, high: float | None) -> bool:
    if low is None and high is None:
        return True
    if value is None:
        return False
    return (low is None or value >= low) and (high is None or value <= high)


def deployments_xml(ctx: Ctx) -> Reply:
    """Completed deployments of the space, oldest first, optionally within time windows."""
    require_space(ctx)
    moment = now()
    st = ctx.st
    b = {
        name: _when(ctx, name)
        for name in ("fromCompletedTime", "toCompletedTime", "fromStartTime", "toStartTime")
    }
    project = param(ctx.query, "projectId")
    environment = param(ctx.query, "environmentId")
    rows = []
    for dep in sorted(st.deployments.values(), key=lambda d: d.created):
        task = st.tasks.get(dep.task_id)
        if (
            dep.space_id != ctx.space_id
            or (project and dep.project_id != project)
            or (environment and dep.environment_id != environment)
            or task is None
            or task.state(moment) not in FINAL_STATES
        ):
            continue
        if _within(task.complete_time, b["fromCompletedTime"], b["toCompletedTime"]) and _within(
            task.start_time, b["fromStartTime"], b["toStartTime"]
        ):
            rows.append(_xml_row(ctx, dep, task, moment))
    xml = '<?xml version="1.0" encoding="utf-8"?>\n<Deployments>' + "".join(rows) + "</Deployments>"
    return 200, RawBody(xml.encode(), "application/xml; charset=utf-8")


def register(router: Router) -> None:
    router.space("GET", "/dashboard", dashboard)
    router.space("GET", "/reporting/deployments/xml", deployments_xml)
