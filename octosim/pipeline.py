"""Starting deployments and runbook runs: the rules checked before a task is queued
(lifecycle, tenants, disabled project) and the records that are made."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from octosim import engine
from octosim import freezes as F
from octosim import lifecycles as L
from octosim import processes as P
from octosim.api_apikeys import require_scoped
from octosim.errors import invalid
from octosim.routing import Ctx
from octosim.state import DeploymentRec, Doc, ReleaseRec, TaskRec, now


def lifecycle_refusal(ctx: Ctx, rel: ReleaseRec, env: Doc) -> str:
    project = ctx.st.col(rel.space_id, "projects")[rel.project_id]
    lifecycle = L.lifecycle_of(ctx.st, rel)
    name = lifecycle["Name"] if lifecycle else "(none)"
    return (
        f"Release '{rel.version}' of project '{project['Name']}' cannot be deployed to "
        f"environment '{env['Name']}': the lifecycle '{name}' does not allow it yet. The "
        "environment must be in the lifecycle, and the phases before it must be complete "
        "(their environments successfully deployed)."
    )


def check_deployable(ctx: Ctx, rel: ReleaseRec, env: Doc, tenant_id: str | None) -> None:
    st = ctx.st
    project = st.col(rel.space_id, "projects").get(rel.project_id)
    if project is None:
        raise invalid(f"The project '{rel.project_id}' no longer exists.")
    # a user's own key needs DeploymentCreate for this project, environment and tenant
    require_scoped(ctx, "DeploymentCreate", rel.space_id, project, env, tenant_id)
    if project.get("IsDisabled"):
        raise invalid(f"The project '{project['Name']}' is disabled and cannot be deployed.")
    if env["Id"] not in L.allowed_environments(st, rel, now(), tenant_id):
        raise invalid(lifecycle_refusal(ctx, rel, env))
    mode = project.get("TenantedDeploymentMode") or "Untenanted"
    if tenant_id:
        tenant = st.col(rel.space_id, "tenants").get(tenant_id)
        if tenant is None:
            raise invalid(f"The tenant '{tenant_id}' does not exist.")
        if mode == "Untenanted":
            raise invalid(f"The project '{project['Name']}' does not allow tenanted deployments.")
        if env["Id"] not in (tenant["ProjectEnvironments"].get(project["Id"]) or []):
            raise invalid(
                f"The tenant '{tenant['Name']}' is not connected to the project "
                f"'{project['Name']}' in the environment '{env['Name']}' (ProjectEnvironments)."
            )
    elif mode == "Tenanted":
        raise invalid(f"The project '{project['Name']}' can only be deployed with a tenant.")
    freeze = F.active_freeze(st, now(), project["Id"], env["Id"], tenant_id)
    if freeze is not None:
        tenant_name = st.col(rel.space_id, "tenants").get(tenant_id or "", {}).get("Name")
        who = f" for the tenant '{tenant_name}'" if tenant_name else ""
        raise invalid(
            f"Deployments of '{project['Name']}' to '{env['Name']}'{who} are blocked by the "
            f"deployment freeze '{freeze['Name']}'."
        )


def scheduled_time(value: Any) -> float | None:
    """``QueueTime`` (classic) or ``RunAt`` (executions API): an ISO 8601 moment."""
    if not value:
        return None
    text = str(value).strip().replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise invalid(
            f"The value '{value}' is not a valid date and time (QueueTime, RunAt)."
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def release_process(ctx: Ctx, rel: ReleaseRec) -> Doc:
    if rel.snapshot is not None:
        doc = P.frozen_doc(ctx.st, rel.snapshot["process"])
    else:
        doc = P.frozen_doc(ctx.st, f"deploymentprocess-{rel.project_id}-s-{rel.id.split('-')[-1]}")
    return doc or {"Steps": []}


def start_deployment(
    ctx: Ctx,
    rel: ReleaseRec,
    env: Doc,
    tenant_id: str | None,
    *,
    skip: list[str],
    machines: list[str],
    options: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> DeploymentRec:
    """Check the rules, then record the deployment and queue its task. ``extra`` is for
    the simulator's own deployments: fail_step, intervene, step_seconds (engine.plan)."""
    check_deployable(ctx, rel, env, tenant_id)
    st = ctx.st
    project = st.col(rel.space_id, "projects")[rel.project_id]
    moment = now()
    run_at = scheduled_time(options.get("QueueTime"))
    dep_id = st.next_id("Deployments")
    task = TaskRec(
        st.next_id("ServerTasks"),
        rel.space_id,
        "Deploy",
        f"Deploy {project['Name']} release {rel.version} to {env['Name']}",
        max(moment, run_at or moment),  # a scheduled deployment waits in Queued until then
        None,
        None,
        "Queued",
        deployment_id=dep_id,
        project_id=project["Id"],
        environment_id=env["Id"],
        tenant_id=tenant_id,
    )
    dep = DeploymentRec(
        dep_id, rel.space_id, project["Id"], env["Id"], rel.id, rel.channel_id, tenant_id,
        task.id, moment, ctx.username, ctx.user_id, options,
    )  # fmt: skip
    st.deployments[dep.id] = dep
    run = engine.plan(
        ctx.inst,
        release_process(ctx, rel),
        project,
        {
            "environment_id": env["Id"],
            "channel_id": rel.channel_id,
            "tenant_id": tenant_id,
            "skip": set(skip),
            "machines": set(machines),
            "related": [dep.id, project["Id"], env["Id"], rel.id, tenant_id],
            "excluded": set(options.get("ExcludedMachineIds") or []),
            "guided": bool(options.get("UseGuidedFailure")),
            "tenant_tags": (st.col(rel.space_id, "tenants").get(tenant_id or "") or {}).get(
                "TenantTags", []
            ),
            **(extra or {}),
        },
    )
    engine.queue_task(st, task, run)
    engine.advance(ctx.inst, moment)
    return dep
