"""Deployments and releases of a space."""

from __future__ import annotations

from typing import Any

from octosim.api_core import require_space
from octosim.errors import invalid, not_found
from octosim.paging import csv_param, envelope, param, q
from octosim.pipeline import check_deployable, start_deployment
from octosim.resources import iso
from octosim.routing import Ctx, Reply, Router
from octosim.state import DeploymentRec, Doc, ReleaseRec, now

# ---------------------------------------------------------------- deployments


def render_deployment(ctx: Ctx, dep: DeploymentRec) -> Doc:
    st = ctx.st
    env = st.col(dep.space_id, "environments").get(dep.environment_id)
    proj = st.col(dep.space_id, "projects").get(dep.project_id)
    p = f"/api/{dep.space_id}"
    opts = dep.options or {}
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
        "DeploymentProcessId": _process_snapshot(ctx, dep),
        "ManifestVariableSetId": f"variableset-{dep.id}",
        "Created": iso(dep.created),
        "DeployedBy": dep.deployed_by,
        "DeployedById": dep.deployed_by_id,
        "DeployedToMachineIds": [],
        "Comments": opts.get("Comments"),
        "FormValues": opts.get("FormValues") or {},
        "QueueTime": opts.get("QueueTime"),
        "QueueTimeExpiry": opts.get("QueueTimeExpiry"),
        "ForcePackageDownload": False,
        "ForcePackageRedeployment": False,
        "SkipActions": list(opts.get("SkipActions") or []),
        "SpecificMachineIds": list(opts.get("SpecificMachineIds") or []),
        "ExcludedMachineIds": list(opts.get("ExcludedMachineIds") or []),
        "UseGuidedFailure": bool(opts.get("UseGuidedFailure")),
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


def _process_snapshot(ctx: Ctx, dep: DeploymentRec) -> str:
    rel = ctx.st.releases.get(dep.release_id)
    if rel is not None and rel.snapshot is not None:
        return str(rel.snapshot["process"])
    return f"deploymentprocess-{dep.project_id}-s-{dep.release_id.rsplit('-', 1)[-1]}"


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
    dep = start_deployment(
        ctx,
        rel,
        env,
        body.get("TenantId"),
        skip=ctx.list_field(body, "SkipActions"),
        machines=ctx.list_field(body, "SpecificMachineIds"),
        options={
            k: body[k]
            for k in (
                "SkipActions",
                "SpecificMachineIds",
                "ExcludedMachineIds",
                "Comments",
                "ForcePackageDownload",
                "UseGuidedFailure",
                "FormValues",
            )
            if k in body
        },  # fmt: skip
    )
    return 201, render_deployment(ctx, dep)


def _release_by_version(ctx: Ctx, body: dict[str, Any]) -> ReleaseRec:
    project = _named(ctx, "projects", body.get("ProjectName"), "project")
    version = body.get("ReleaseVersion")
    for rel in ctx.st.releases.values():
        if rel.project_id == project["Id"] and rel.version == version:
            return rel
    raise invalid(f"The release '{version}' of project '{project['Name']}' could not be found.")


def _named(ctx: Ctx, collection: str, name: Any, what: str) -> Doc:
    for doc in ctx.col(collection).values():
        if str(doc["Name"]).lower() == str(name or "").lower() or doc["Id"] == name:
            return doc
    raise invalid(f"The {what} '{name}' could not be found.")


def _machine_ids(ctx: Ctx, names: list[str]) -> list[str]:
    return [_named(ctx, "machines", n, "deployment target")["Id"] for n in names]


def _v1_options(ctx: Ctx, body: dict[str, Any]) -> dict[str, Any]:
    """What an executions-API command asks of its deployments, as the classic fields."""
    return {
        "SkipActions": ctx.list_field(body, "SkipStepNames"),
        "SpecificMachineIds": _machine_ids(ctx, ctx.list_field(body, "SpecificMachineNames")),
        "ExcludedMachineIds": _machine_ids(ctx, ctx.list_field(body, "ExcludedMachineNames")),
        "QueueTime": body.get("RunAt"),
        "QueueTimeExpiry": body.get("NoRunAfter"),
        "UseGuidedFailure": bool(body.get("UseGuidedFailure")),
    }


def _v1_reply(deps: list[DeploymentRec]) -> Reply:
    return 200, {
        "DeploymentServerTasks": [{"DeploymentId": d.id, "ServerTaskId": d.task_id} for d in deps]
    }


def create_untenanted_v1(ctx: Ctx) -> Reply:
    require_space(ctx)
    body = ctx.json_body()
    rel = _release_by_version(ctx, body)
    names = ctx.list_field(body, "EnvironmentNames")
    if not names:
        raise invalid("The EnvironmentNames field is required.")
    envs = [_named(ctx, "environments", n, "environment") for n in names]
    options = _v1_options(ctx, body)
    skip, machines = options["SkipActions"], options["SpecificMachineIds"]
    for env in envs:  # refuse them all before starting any
        check_deployable(ctx, rel, env, None)
    return _v1_reply(
        [start_deployment(ctx, rel, e, None, skip=skip, machines=machines, options=options)
         for e in envs]
    )  # fmt: skip


def create_tenanted_v1(ctx: Ctx) -> Reply:
    require_space(ctx)
    body = ctx.json_body()
    rel = _release_by_version(ctx, body)
    env = _named(ctx, "environments", body.get("EnvironmentName"), "environment")
    tenants = [_named(ctx, "tenants", n, "tenant") for n in ctx.list_field(body, "Tenants")]
    if not tenants:
        raise invalid("Name at least one tenant (Tenants) to deploy to.")
    options = _v1_options(ctx, body)
    skip, machines = options["SkipActions"], options["SpecificMachineIds"]
    for tenant in tenants:
        check_deployable(ctx, rel, env, tenant["Id"])
    return _v1_reply(
        [start_deployment(ctx, rel, env, t["Id"], skip=skip, machines=machines, options=options)
         for t in tenants]
    )  # fmt: skip


def delete_deployment(ctx: Ctx) -> Reply:
    require_space(ctx)
    dep = ctx.st.deployments.get(ctx.params["id"])
    if dep is None or dep.space_id != ctx.space_id:
        raise not_found(ctx.params["id"])
    task = ctx.st.tasks.get(dep.task_id)
    if task is not None and task.state(now()) in ("Queued", "Executing"):
        raise invalid("This deployment is still running; cancel its task first.")
    ctx.st.tasks.pop(dep.task_id, None)
    ctx.st.runs.pop(dep.task_id, None)
    del ctx.st.deployments[dep.id]
    return 200, None


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
    router.space("DELETE", "/deployments/{id}", delete_deployment, permission="DeploymentDelete")
    router.space(
        "POST", "/deployments/create/untenanted/v1", create_untenanted_v1,
        permission="DeploymentCreate", swagger=None, legacy_swagger=None, with_default=False,
    )  # fmt: skip
    router.space(
        "POST", "/deployments/create/tenanted/v1", create_tenanted_v1,
        permission="DeploymentCreate", swagger=None, legacy_swagger=None, with_default=False,
    )  # fmt: skip
    router.space("GET", "/releases/{id}/deployments", release_deployments)
