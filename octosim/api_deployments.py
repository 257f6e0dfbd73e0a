"""Deployments and releases of a space."""

from __future__ import annotations

import random

from octosim.api_core import require_space
from octosim.errors import invalid, not_found
from octosim.paging import csv_param, envelope, param, q
from octosim.resources import iso
from octosim.routing import Ctx, Reply, Router
from octosim.seed import add_deployment
from octosim.state import DeploymentRec, Doc, ReleaseRec, now

# ---------------------------------------------------------------- deployments


def render_deployment(ctx: Ctx, dep: DeploymentRec) -> Doc:
    st = ctx.st
    env = st.col(dep.space_id, "environments").get(dep.environment_id)
    proj = st.col(dep.space_id, "projects").get(dep.project_id)
    p = f"/api/{dep.space_id}"
    return {
        "Id": dep.id,
        "SpaceId": dep.space_id,
        "Name": f"Deploy to {env['Name'] if env else dep.environment_id}",
        "ReleaseId": dep.release_id,
        "EnvironmentId": dep.environment_id,
        "TenantId": dep.tenant_id,
        "ProjectId": dep.project_id,
        "ChannelId": dep.channel_id,
        "TaskId": dep.task_id,
        "DeploymentProcessId": f"deploymentprocess-{dep.project_id}-s-1",
        "ManifestVariableSetId": f"variableset-{dep.id}",
        "Created": iso(dep.created),
        "DeployedBy": dep.deployed_by,
        "DeployedById": dep.deployed_by_id,
        "DeployedToMachineIds": [],
        "Comments": None,
        "FormValues": {},
        "QueueTime": None,
        "QueueTimeExpiry": None,
        "ForcePackageDownload": False,
        "ForcePackageRedeployment": False,
        "SkipActions": [],
        "SpecificMachineIds": [],
        "ExcludedMachineIds": [],
        "UseGuidedFailure": False,
        "FailureEncountered": False,
        "Changes": [],
        "ChangesMarkdown": "",
        "LastModifiedOn": iso(dep.created),
        "LastModifiedBy": dep.deployed_by,
        "Links": {
            "Self": f"{p}/deployments/{dep.id}",
            "Release": f"{p}/releases/{dep.release_id}",
            "Environment": f"{p}/environments/{dep.environment_id}",
            "Project": f"{p}/projects/{dep.project_id}",
            "Task": f"/api/tasks/{dep.task_id}",
            "Web": f"/app#/{dep.space_id}/projects/{proj['Slug'] if proj else dep.project_id}"
            f"/deployments/{dep.id}",
        },
    }


def _deployments(ctx: Ctx) -> list[DeploymentRec]:
    require_space(ctx)
    q = ctx.query
    moment = now()
    items = [d for d in ctx.st.deployments.values() if d.space_id == ctx.space_id]
    for key, attr in (
        ("projects", "project_id"), ("environments", "environment_id"),
        ("tenants", "tenant_id"), ("channels", "channel_id"), ("ids", "id"),
    ):  # fmt: skip
        wanted = set(csv_param(q, key))
        if wanted:
            items = [d for d in items if getattr(d, attr) in wanted]
    state = param(q, "taskState")
    if state:
        tasks = ctx.st.tasks
        items = [
            d
            for d in items
            if d.task_id in tasks and tasks[d.task_id].state(moment).lower() == state.lower()
        ]
    items.sort(key=lambda d: (d.created, d.id), reverse=True)
    return items


def list_deployments(ctx: Ctx) -> Reply:
    items = _deployments(ctx)
    path = f"{ctx.prefix}/deployments"
    return 200, envelope(
        items,
        ctx.query,
        item_type="Deployment",
        path=path,
        template=path
        + "{/id}"
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
        render=lambda d: render_deployment(ctx, d),
    )


def get_deployment(ctx: Ctx) -> Reply:
    require_space(ctx)
    dep = ctx.st.deployments.get(ctx.params["id"])
    if dep is None or dep.space_id != ctx.space_id:
        raise not_found(ctx.params["id"])
    return 200, render_deployment(ctx, dep)


def create_deployment(ctx: Ctx) -> Reply:
    require_space(ctx)
    body = ctx.json_body()
    rel = ctx.st.releases.get(str(body.get("ReleaseId")))
    env = ctx.col("environments").get(str(body.get("EnvironmentId")))
    errors = []
    if rel is None or rel.space_id != ctx.space_id:
        errors.append("The ReleaseId field is required and must name a release in this space.")
    if env is None:
        errors.append(
            "The EnvironmentId field is required and must name an environment in this space."
        )
    if errors or rel is None or env is None:
        raise invalid(*errors)
    if ctx.space.get("TaskQueueStopped"):
        raise invalid("The task queue for this space is stopped.")
    rng = random.Random()
    moment = now()
    dep = add_deployment(
        ctx.st, rng, rel, env, moment, outcome="Success", duration=rng.uniform(3, 10)
    )
    dep.deployed_by, dep.deployed_by_id = ctx.username, ctx.user_id
    dep.tenant_id = body.get("TenantId")
    task = ctx.st.tasks[dep.task_id]
    task.start_time = moment + 1
    task.complete_time = task.start_time + rng.uniform(3, 10)
    return 201, render_deployment(ctx, dep)


# ---------------------------------------------------------------- releases


def render_release(ctx: Ctx, rel: ReleaseRec) -> Doc:
    p = f"/api/{rel.space_id}"
    snap = rel.id.rsplit("-", 1)[-1]
    lvs = (
        ctx.st.col(rel.space_id, "projects")
        .get(rel.project_id, {})
        .get("IncludedLibraryVariableSetIds", [])
    )
    return {
        "Id": rel.id,
        "SpaceId": rel.space_id,
        "Version": rel.version,
        "ProjectId": rel.project_id,
        "ChannelId": rel.channel_id,
        "Assembled": iso(rel.assembled),
        "ReleaseNotes": rel.notes,
        "IgnoreChannelRules": False,
        "BuildInformation": [],
        "SelectedPackages": [],
        "ProjectVariableSetSnapshotId": f"variableset-{rel.project_id}-s-{snap}",
        "LibraryVariableSetSnapshotIds": [f"variableset-{i}-s-{snap}" for i in lvs],
        "ProjectDeploymentProcessSnapshotId": f"deploymentprocess-{rel.project_id}-s-{snap}",
        "LastModifiedOn": iso(rel.assembled),
        "LastModifiedBy": "admin",
        "Links": {
            "Self": f"{p}/releases/{rel.id}",
            "Project": f"{p}/projects/{rel.project_id}",
            "Channel": f"{p}/channels/{rel.channel_id}",
            "Deployments": f"{p}/releases/{rel.id}/deployments{{?skip,take}}",
        },
    }


def _releases(ctx: Ctx, project_id: str | None = None) -> list[ReleaseRec]:
    require_space(ctx)
    items = [r for r in ctx.st.releases.values() if r.space_id == ctx.space_id]
    if project_id:
        items = [r for r in items if r.project_id == project_id]
    ids = set(csv_param(ctx.query, "ids"))
    if ids:
        items = [r for r in items if r.id in ids]
    search = param(ctx.query, "searchByVersion")
    if search:
        items = [r for r in items if search in r.version]
    items.sort(key=lambda r: (r.assembled, r.id), reverse=True)
    return items


def list_releases(ctx: Ctx) -> Reply:
    path = f"{ctx.prefix}/releases"
    return 200, envelope(
        _releases(ctx), ctx.query, item_type="Release", path=path,
        template=path + "{/id}{?skip,ignoreChannelRules,take,ids}",
        render=lambda r: render_release(ctx, r),
    )  # fmt: skip


def project_releases(ctx: Ctx) -> Reply:
    require_space(ctx)
    project = ctx.col("projects").get(ctx.params["id"])
    if project is None:
        raise not_found(ctx.params["id"])
    path = f"{ctx.prefix}/projects/{project['Id']}/releases"
    return 200, envelope(
        _releases(ctx, project["Id"]), ctx.query, item_type="Release", path=path,
        template=path + "{/version}{?skip,take,searchByVersion}",
        render=lambda r: render_release(ctx, r),
    )  # fmt: skip


def get_release(ctx: Ctx) -> Reply:
    require_space(ctx)
    rel = ctx.st.releases.get(ctx.params["id"])
    if rel is None or rel.space_id != ctx.space_id:
        raise not_found(ctx.params["id"])
    return 200, render_release(ctx, rel)


def release_deployments(ctx: Ctx) -> Reply:
    require_space(ctx)
    rel = ctx.st.releases.get(ctx.params["id"])
    if rel is None or rel.space_id != ctx.space_id:
        raise not_found(ctx.params["id"])
    items = [d for d in _deployments(ctx) if d.release_id == rel.id]
    path = f"{ctx.prefix}/releases/{rel.id}/deployments"
    return 200, envelope(
        items, ctx.query, item_type="Deployment", path=path, template=path + "{?skip,take}",
        render=lambda d: render_deployment(ctx, d),
    )  # fmt: skip


def register(router: Router) -> None:
    router.space("GET", "/deployments", list_deployments)
    router.space("GET", "/deployments/{id}", get_deployment)
    router.space("POST", "/deployments", create_deployment, permission="DeploymentCreate")
    router.space("GET", "/releases", list_releases)
    router.space("GET", "/releases/{id}", get_release)
    router.space("GET", "/releases/{id}/deployments", release_deployments)
    router.space("GET", "/projects/{id}/releases", project_releases)
