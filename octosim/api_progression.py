"""Where a release stands in its lifecycle: the progression and the deployment template
(where it may be promoted next, and what changed since its snapshot)."""

from __future__ import annotations

from octosim import lifecycles as L
from octosim import processes as P
from octosim.api_releases import get_release_rec, snapshot_ids
from octosim.routing import Ctx, Reply, Router
from octosim.state import Doc, now


def release_progression(ctx: Ctx) -> Reply:
    from octosim.api_deployments import render_deployment  # local: deployments import us
    from octosim.api_tasks import render_task

    rel = get_release_rec(ctx, ctx.params["id"])
    moment = now()
    states = L.progression(ctx.st, rel, moment)
    allowed = L.allowed_environments(ctx.st, rel, moment)
    phases = []
    for state in states:
        phase = state.phase
        deployments = []
        for dep_id in state.deployments:
            dep = ctx.st.deployments[dep_id]
            task = ctx.st.tasks.get(dep.task_id)
            deployments.append(
                {
                    "Deployment": render_deployment(ctx, dep),
                    "Task": render_task(task, moment, ctx.st) if task else None,
                }
            )
        phases.append(
            {
                "Id": phase["Id"],
                "Name": phase["Name"],
                "Blocked": False,
                "Progress": state.progress,
                "Deployments": deployments,
                "AutomaticDeploymentTargets": list(phase["AutomaticDeploymentTargets"]),
                "OptionalDeploymentTargets": list(phase["OptionalDeploymentTargets"]),
                "MinimumEnvironmentsBeforePromotion": phase.get(
                    "MinimumEnvironmentsBeforePromotion", 0
                ),
                "IsOptionalPhase": bool(phase.get("IsOptionalPhase")),
            }
        )
    done = {
        ctx.st.deployments[d].environment_id
        for s in states
        for d in s.deployments
        if (t := ctx.st.tasks.get(ctx.st.deployments[d].task_id)) and t.state(moment) == "Success"
    }
    return 200, {
        "Id": f"{rel.id}-progression",
        "Phases": phases,
        "NextDeployments": sorted(allowed - done),
        "NextDeploymentsMinimumRequired": 0,
        "LastModifiedOn": None,
        "LastModifiedBy": None,
        "Links": {"Self": f"/api/{rel.space_id}/releases/{rel.id}/progression"},
    }


def _modified(ctx: Ctx, snapshot_id: str, live: Doc | None) -> bool:
    frozen = P.frozen_doc(ctx.st, snapshot_id)
    return bool(frozen and live and frozen.get("Version") != live.get("Version"))


def deployment_template(ctx: Ctx) -> Reply:
    """Where a release may go next (the lifecycle's open environments, per tenant too) and
    whether the live process or variables changed since it was made."""
    rel = get_release_rec(ctx, ctx.params["id"])
    st = ctx.st
    project = st.col(rel.space_id, "projects")[rel.project_id]
    allowed = L.allowed_environments(st, rel, now())
    envs = sorted(ctx.col("environments").values(), key=lambda e: e["SortOrder"])
    p = f"/api/{rel.space_id}"

    def target(env: Doc) -> Doc:
        link = {"Self": f"{p}/environments/{env['Id']}"}
        return {"Id": env["Id"], "Name": env["Name"], "LastModifiedOn": None,
                "LastModifiedBy": None, "Links": link}  # fmt: skip

    tenants = []
    for tenant in ctx.col("tenants").values():
        connected = tenant["ProjectEnvironments"].get(project["Id"])
        if connected and project.get("TenantedDeploymentMode") != "Untenanted":
            tenants.append(
                {"Id": tenant["Id"], "Name": tenant["Name"], "LastModifiedOn": None,
                 "LastModifiedBy": None, "Links": {"Self": f"{p}/tenants/{tenant['Id']}"},
                 "PromoteTo": [target(e) for e in envs
                               if e["Id"] in allowed and e["Id"] in connected]}
            )  # fmt: skip
    snap = snapshot_ids(ctx, rel)
    live_vars = st.variable_sets.get(project["VariableSetId"])
    libraries = [
        _modified(ctx, ident, st.variable_sets.get(ident.split("-s-")[0]))  # the live set
        for ident in snap["libraries"]
    ]
    return 200, {
        "Id": f"{rel.id}-template",
        "DeploymentNotes": rel.notes,
        "IsDeploymentProcessModified": _modified(ctx, snap["process"], P.live_process(st, project)),
        "IsVariableSetModified": _modified(ctx, snap["variables"], live_vars),
        "IsLibraryVariableSetModified": any(libraries),
        "PromoteTo": [target(e) for e in envs if e["Id"] in allowed],
        "TenantPromotions": tenants,
        "LastModifiedOn": None,
        "LastModifiedBy": None,
        "Links": {"Self": f"{p}/releases/{rel.id}/deployments/template"},
    }


def register(router: Router) -> None:
    router.space("GET", "/releases/{id}/progression", release_progression)
    router.space("GET", "/releases/{id}/deployments/template", deployment_template)
