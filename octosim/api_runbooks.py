"""Runbooks: CRUD, their processes (the deployment step model), snapshots (published or
not) and runbook runs, which execute through the same task engine as deployments."""

from __future__ import annotations

from typing import Any

from octosim import engine
from octosim import processes as P
from octosim import resources as R
from octosim.api_core import require_space
from octosim.api_processes import package_slots, project_of, refs_for, render_process
from octosim.api_releases import choose_versions
from octosim.errors import invalid, not_found
from octosim.paging import bool_param, envelope, filter_common
from octosim.resources import iso
from octosim.routing import Ctx, Reply, Router
from octosim.state import Doc, TaskRec, now

# ---------------------------------------------------------------- runbooks


def render_runbook(doc: Doc) -> Doc:
    p = f"/api/{doc['SpaceId']}"
    return {
        **doc,
        "Links": {
            "Self": f"{p}/runbooks/{doc['Id']}",
            "Project": f"{p}/projects/{doc['ProjectId']}",
            "RunbookProcess": f"{p}/runbookProcesses/{doc['RunbookProcessId']}",
            "RunbookSnapshots": f"{p}/runbooks/{doc['Id']}/runbookSnapshots{{?skip,take}}",
        },
    }


def _runbook(ctx: Ctx, ident: str, project_id: str | None = None) -> Doc:
    require_space(ctx)
    doc = ctx.col("runbooks").get(ident)
    if doc is None or (project_id is not None and doc["ProjectId"] != project_id):
        raise not_found(ident)
    return doc


def _validate(ctx: Ctx, body: dict[str, Any], current: Doc | None) -> Doc:
    project_id = current["ProjectId"] if current else body.get("ProjectId")
    project = ctx.col("projects").get(str(project_id))
    errors = []
    name = str(body.get("Name") or "").strip()
    if not name:
        errors.append("The Name field is required.")
    if project is None:
        errors.append("The ProjectId field is required and must name a project in this space.")
    elif any(
        r["ProjectId"] == project["Id"] and r["Name"].lower() == name.lower()
        and (current is None or r["Id"] != current["Id"])
        for r in ctx.col("runbooks").values()
    ):  # fmt: skip
        errors.append("A runbook with this name already exists in this project.")
    for env in ctx.list_field(body, "Environments"):
        if env not in ctx.col("environments"):
            errors.append(f"The environment '{env}' does not exist.")
    if errors or project is None:
        raise invalid(*errors)
    return project


def _apply(ctx: Ctx, doc: Doc, body: dict[str, Any]) -> None:
    doc["Name"] = str(body["Name"]).strip()
    for key in ("Description", "MultiTenancyMode", "EnvironmentScope", "DefaultGuidedFailureMode"):
        if body.get(key) is not None:
            doc[key] = body[key]
    for key in ("ConnectivityPolicy", "RunRetentionPolicy"):
        if isinstance(body.get(key), dict):
            doc[key] = body[key]
    if body.get("Environments") is not None:
        doc["Environments"] = list(body["Environments"])
    R.stamp(doc, ctx.username, now())


def create_runbook(ctx: Ctx, project_id: str | None = None) -> Reply:
    require_space(ctx)
    body = dict(ctx.json_body())
    if project_id is not None:
        body["ProjectId"] = project_id
    project = _validate(ctx, body, None)
    ident = ctx.st.next_id("Runbooks")
    doc: Doc = {
        "Id": ident,
        "Name": "",
        "Description": "",
        "ProjectId": project["Id"],
        "RunbookProcessId": f"RunbookProcess-{ident}",
        "PublishedRunbookSnapshotId": None,
        "ConnectivityPolicy": dict(project["ProjectConnectivityPolicy"]),
        "MultiTenancyMode": "Untenanted",
        "EnvironmentScope": "All",
        "Environments": [],
        "DefaultGuidedFailureMode": "EnvironmentDefault",
        "RunRetentionPolicy": {"QuantityToKeep": 100, "ShouldKeepForever": False},
        "SpaceId": ctx.space_id,
        "LastModifiedOn": None,
        "LastModifiedBy": None,
    }
    _apply(ctx, doc, body)
    ctx.col("runbooks")[ident] = doc
    proc = P.new_process(doc["RunbookProcessId"], project["Id"], str(ctx.space_id), ident)
    ctx.st.processes[proc["Id"]] = proc
    return 201, render_runbook(doc)


def update_runbook(ctx: Ctx, project_id: str | None = None) -> Reply:
    doc = _runbook(ctx, ctx.params["id"], project_id)
    body = ctx.json_body()
    _validate(ctx, body, doc)
    _apply(ctx, doc, body)
    published = body.get("PublishedRunbookSnapshotId")
    if published and published in ctx.col("runbooksnapshots"):
        doc["PublishedRunbookSnapshotId"] = published
    return 200, render_runbook(doc)


def delete_runbook(ctx: Ctx, project_id: str | None = None) -> Reply:
    doc = _runbook(ctx, ctx.params["id"], project_id)
    del ctx.col("runbooks")[doc["Id"]]
    ctx.st.processes.pop(doc["RunbookProcessId"], None)
    for snap in [s for s in ctx.col("runbooksnapshots").values() if s["RunbookId"] == doc["Id"]]:
        del ctx.col("runbooksnapshots")[snap["Id"]]
    return 200, None


def _runbook_list(ctx: Ctx, items: list[Doc], path: str) -> Reply:
    items = sorted(items, key=lambda d: d["Name"].lower())
    items = filter_common(items, ctx.query, lambda d: d["Name"], lambda d: d["Id"])
    return 200, envelope(
        items, ctx.query, item_type="Runbook", path=path,
        template=path + "{/id}{?skip,take,ids,partialName}", render=render_runbook,
    )  # fmt: skip


def list_runbooks(ctx: Ctx) -> Reply:
    require_space(ctx)
    return _runbook_list(ctx, list(ctx.col("runbooks").values()), f"{ctx.prefix}/runbooks")


def all_runbooks(ctx: Ctx) -> Reply:
    require_space(ctx)
    return 200, [render_runbook(d) for d in ctx.col("runbooks").values()]


def project_runbooks(ctx: Ctx) -> Reply:
    project = project_of(ctx, ctx.params["id"])
    items = [r for r in ctx.col("runbooks").values() if r["ProjectId"] == project["Id"]]
    return _runbook_list(ctx, items, f"{ctx.prefix}/projects/{project['Id']}/runbooks")


# ---------------------------------------------------------------- processes


def _runbook_process(ctx: Ctx, ident: str) -> tuple[Doc, bool]:
    require_space(ctx)
    doc = ctx.st.processes.get(ident)
    if doc is not None and doc["SpaceId"] == ctx.space_id and "RunbookId" in doc:
        return doc, True
    frozen = ctx.st.frozen.get(ident)
    if frozen is not None and frozen["SpaceId"] == ctx.space_id and "RunbookId" in frozen:
        return frozen, False
    raise not_found(ident)


def list_runbook_processes(ctx: Ctx) -> Reply:
    """``GET /runbookProcesses{?skip,take,ids}`` (the root link's template; go-octopusdeploy
    uses it): the space's live runbook processes, so a client reads several in one call."""
    require_space(ctx)
    items = [
        d for d in ctx.st.processes.values() if d["SpaceId"] == ctx.space_id and "RunbookId" in d
    ]
    items = filter_common(sorted(items, key=lambda d: d["Id"]), ctx.query, lambda d: "", _id)
    path = f"{ctx.prefix}/runbookProcesses"
    return 200, envelope(
        items, ctx.query, item_type="RunbookProcess", path=path,
        template=path + "{/id}{?skip,take,ids}", render=render_process,
    )  # fmt: skip


def _id(doc: Doc) -> str:
    return str(doc["Id"])


def get_runbook_process(ctx: Ctx) -> Reply:
    return 200, render_process(_runbook_process(ctx, ctx.params["id"])[0])


def put_runbook_process(ctx: Ctx) -> Reply:
    doc, live = _runbook_process(ctx, ctx.params["id"])
    if not live:
        raise not_found(ctx.params["id"])
    body = ctx.json_body()
    P.check_version(doc, body)
    doc["Steps"] = P.clean_steps(body.get("Steps"), refs_for(ctx, doc["ProjectId"]))
    doc["Version"] = int(doc["Version"]) + 1
    R.stamp(doc, ctx.username, now())
    return 200, render_process(doc)


# ---------------------------------------------------------------- snapshots


def render_snapshot(doc: Doc) -> Doc:
    p = f"/api/{doc['SpaceId']}"
    return {
        **doc,
        "Links": {
            "Self": f"{p}/runbookSnapshots/{doc['Id']}",
            "Runbook": f"{p}/runbooks/{doc['RunbookId']}",
            "FrozenRunbookProcess": f"{p}/runbookProcesses/{doc['FrozenRunbookProcessId']}",
            "RunbookRuns": f"{p}/runbookSnapshots/{doc['Id']}/runbookRuns{{?skip,take}}",
        },
    }


def create_snapshot(ctx: Ctx) -> Reply:
    require_space(ctx)
    body = ctx.json_body()
    runbook = ctx.col("runbooks").get(str(body.get("RunbookId")))
    if runbook is None:
        raise invalid("The RunbookId field is required and must name a runbook in this space.")
    st = ctx.st
    number = st.next_number("RunbookSnapshots")
    ident = f"RunbookSnapshots-{number}"
    name = str(body.get("Name") or f"Snapshot {number}")
    if any(
        s["RunbookId"] == runbook["Id"] and s["Name"] == name
        for s in ctx.col("runbooksnapshots").values()
    ):
        raise invalid(f"A snapshot named '{name}' already exists for this runbook.")
    project = ctx.col("projects")[runbook["ProjectId"]]
    process = st.processes[runbook["RunbookProcessId"]]
    chosen = {
        (str(p.get("ActionName") or p.get("StepName") or ""),
         str(p.get("PackageReferenceName") or "")): str(p["Version"])
        for p in ctx.list_field(body, "SelectedPackages")
        if isinstance(p, dict) and p.get("Version")
    }  # fmt: skip
    slots = [s for s in package_slots(ctx, process) if not s["IsDisabled"]]
    selected = choose_versions(ctx, slots, chosen, None)
    libraries = []
    for lvs_id in project["IncludedLibraryVariableSetIds"]:
        lvs = ctx.col("libraryvariablesets").get(lvs_id)
        if lvs is not None:
            frozen_id = f"variableset-{lvs_id}-rs-{number}"
            libraries.append(P.freeze(st, frozen_id, st.variable_sets[lvs["VariableSetId"]]))
    variables = st.variable_sets[project["VariableSetId"]]
    doc: Doc = {
        "Id": ident,
        "Name": name,
        "Notes": body.get("Notes"),
        "ProjectId": project["Id"],
        "RunbookId": runbook["Id"],
        "FrozenRunbookProcessId": P.freeze(st, f"{process['Id']}-s-{number}", process),
        "FrozenProjectVariableSetId": P.freeze(
            st, f"variableset-{project['Id']}-rs-{number}", variables
        ),
        "ProjectVariableSetSnapshotId": f"variableset-{project['Id']}-rs-{number}",
        "LibraryVariableSetSnapshotIds": libraries,
        "SelectedPackages": [{k: v for k, v in p.items() if k != "PackageId"} for p in selected],
        "Assembled": iso(now()),
        "SpaceId": ctx.space_id,
        "LastModifiedOn": iso(now()),
        "LastModifiedBy": ctx.username,
    }
    process["LastSnapshotId"] = ident
    ctx.col("runbooksnapshots")[ident] = doc
    if bool_param(ctx.query, "publish") or str(body.get("Publish") or "").lower() == "true":
        runbook["PublishedRunbookSnapshotId"] = ident
    return 201, render_snapshot(doc)


def create_project_snapshot(ctx: Ctx) -> Reply:
    project = project_of(ctx, ctx.params["id"])
    body = ctx.json_body()
    runbook = ctx.col("runbooks").get(str(body.get("RunbookId")))
    if runbook is None or runbook["ProjectId"] != project["Id"]:
        raise invalid("The RunbookId field must name a runbook of this project.")
    return create_snapshot(ctx)


def get_snapshot(ctx: Ctx) -> Reply:
    require_space(ctx)
    doc = ctx.col("runbooksnapshots").get(ctx.params["id"])
    if doc is None:
        raise not_found(ctx.params["id"])
    return 200, render_snapshot(doc)


def _snapshot_list(ctx: Ctx, items: list[Doc], path: str) -> Reply:
    items = sorted(items, key=lambda d: int(d["Id"].rsplit("-", 1)[1]), reverse=True)
    return 200, envelope(
        items, ctx.query, item_type="RunbookSnapshot", path=path,
        template=path + "{?skip,take}", render=render_snapshot,
    )  # fmt: skip


def project_snapshots(ctx: Ctx) -> Reply:
    project = project_of(ctx, ctx.params["id"])
    items = [s for s in ctx.col("runbooksnapshots").values() if s["ProjectId"] == project["Id"]]
    return _snapshot_list(ctx, items, f"{ctx.prefix}/projects/{project['Id']}/runbookSnapshots")


def runbook_snapshots(ctx: Ctx) -> Reply:
    runbook = _runbook(ctx, ctx.params["id"])
    items = [s for s in ctx.col("runbooksnapshots").values() if s["RunbookId"] == runbook["Id"]]
    return _snapshot_list(ctx, items, f"{ctx.prefix}/runbooks/{runbook['Id']}/runbookSnapshots")


# ---------------------------------------------------------------- runs


def render_run(ctx: Ctx, doc: Doc) -> Doc:
    p = f"/api/{doc['SpaceId']}"
    return {
        **doc,
        "Links": {
            "Self": f"{p}/runbookRuns/{doc['Id']}",
            "Runbook": f"{p}/runbooks/{doc['RunbookId']}",
            "RunbookSnapshot": f"{p}/runbookSnapshots/{doc['RunbookSnapshotId']}",
            "Task": f"/api/tasks/{doc['TaskId']}",
        },
    }


def start_run(ctx: Ctx, snapshot: Doc, env: Doc, tenant_id: str | None, skip: list[str]) -> Doc:
    st = ctx.st
    runbook = ctx.col("runbooks")[snapshot["RunbookId"]]
    project = ctx.col("projects")[runbook["ProjectId"]]
    if runbook["EnvironmentScope"] == "Specified" and env["Id"] not in runbook["Environments"]:
        raise invalid(f"The runbook '{runbook['Name']}' cannot be run in '{env['Name']}'.")
    moment = now()
    ident = st.next_id("RunbookRuns")
    task = TaskRec(
        st.next_id("ServerTasks"), project["SpaceId"], "RunbookRun",
        f"Run {runbook['Name']} in {env['Name']}", moment, None, None, "Queued",
        deployment_id=ident, project_id=project["Id"], environment_id=env["Id"],
        tenant_id=tenant_id,
    )  # fmt: skip
    doc: Doc = {
        "Id": ident, "Name": f"Run {runbook['Name']}", "ProjectId": project["Id"],
        "RunbookId": runbook["Id"], "RunbookSnapshotId": snapshot["Id"],
        "FrozenRunbookProcessId": snapshot["FrozenRunbookProcessId"],
        "EnvironmentId": env["Id"], "TenantId": tenant_id, "TaskId": task.id,
        "ManifestVariableSetId": f"variableset-{ident}", "SkipActions": list(skip),
        "SpecificMachineIds": [], "ExcludedMachineIds": [], "DeployedToMachineIds": [],
        "FormValues": {}, "Comments": None, "ForcePackageDownload": False,
        "UseGuidedFailure": False, "FailureEncountered": False, "QueueTime": None,
        "QueueTimeExpiry": None, "TentacleRetentionPeriod": None, "Created": iso(moment),
        "DeployedBy": ctx.username, "DeployedById": ctx.user_id, "SpaceId": project["SpaceId"],
        "LastModifiedOn": iso(moment), "LastModifiedBy": ctx.username,
    }  # fmt: skip
    ctx.col("runbookruns")[ident] = doc
    run = engine.plan(
        ctx.inst,
        st.frozen.get(snapshot["FrozenRunbookProcessId"]) or {"Steps": []},
        project,
        {"environment_id": env["Id"], "channel_id": None, "tenant_id": tenant_id,
         "skip": set(skip), "machines": set(), "related": [ident, project["Id"], env["Id"]]},
    )  # fmt: skip
    engine.queue_task(st, task, run)
    engine.advance(ctx.inst, moment)
    return doc


def create_run(ctx: Ctx) -> Reply:
    require_space(ctx)
    body = ctx.json_body()
    snapshot = ctx.col("runbooksnapshots").get(str(body.get("RunbookSnapshotId")))
    if snapshot is None:
        runbook = ctx.col("runbooks").get(str(body.get("RunbookId")))
        published = runbook and runbook["PublishedRunbookSnapshotId"]
        snapshot = ctx.col("runbooksnapshots").get(str(published))
    env = ctx.col("environments").get(str(body.get("EnvironmentId")))
    if snapshot is None or env is None:
        raise invalid(
            "A RunbookSnapshotId (or a published RunbookId) and EnvironmentId are required."
        )
    doc = start_run(ctx, snapshot, env, body.get("TenantId"), list(body.get("SkipActions") or []))
    return 201, render_run(ctx, doc)


def _named(ctx: Ctx, collection: str, name: Any, what: str, **match: str) -> Doc:
    for doc in ctx.col(collection).values():
        if all(doc.get(k) == v for k, v in match.items()) and (
            str(doc["Name"]).lower() == str(name or "").lower() or doc["Id"] == name
        ):
            return doc
    raise invalid(f"The {what} '{name}' could not be found.")


def create_run_v1(ctx: Ctx) -> Reply:
    require_space(ctx)
    body = ctx.json_body()
    project = _named(ctx, "projects", body.get("ProjectName"), "project")
    runbook = _named(ctx, "runbooks", body.get("RunbookName"), "runbook", ProjectId=project["Id"])
    wanted = body.get("Snapshot") or runbook["PublishedRunbookSnapshotId"]
    if not wanted:
        raise invalid(
            f"The runbook '{runbook['Name']}' has no published snapshot: publish one or name "
            "a snapshot to run."
        )
    snapshot = _named(ctx, "runbooksnapshots", wanted, "snapshot", RunbookId=runbook["Id"])
    envs = [
        _named(ctx, "environments", n, "environment") for n in body.get("EnvironmentNames") or []
    ]
    if not envs:
        raise invalid("The EnvironmentNames field is required.")
    tenants = [_named(ctx, "tenants", n, "tenant")["Id"] for n in body.get("Tenants") or []]
    skip = list(body.get("SkipStepNames") or [])
    runs = [start_run(ctx, snapshot, env, t, skip) for env in envs for t in tenants or [None]]
    return 200, {
        "RunbookRunServerTasks": [
            {"RunbookRunId": r["Id"], "ServerTaskId": r["TaskId"]} for r in runs
        ]
    }


def _run_list(ctx: Ctx, items: list[Doc], path: str) -> Reply:
    items = sorted(items, key=lambda d: int(d["Id"].rsplit("-", 1)[1]), reverse=True)
    return 200, envelope(
        items, ctx.query, item_type="RunbookRun", path=path, template=path + "{/id}{?skip,take}",
        render=lambda d: render_run(ctx, d),
    )  # fmt: skip


def list_runs(ctx: Ctx) -> Reply:
    require_space(ctx)
    return _run_list(ctx, list(ctx.col("runbookruns").values()), f"{ctx.prefix}/runbookRuns")


def snapshot_runs(ctx: Ctx) -> Reply:
    require_space(ctx)
    snap = ctx.col("runbooksnapshots").get(ctx.params["id"])
    if snap is None:
        raise not_found(ctx.params["id"])
    items = [r for r in ctx.col("runbookruns").values() if r["RunbookSnapshotId"] == snap["Id"]]
    return _run_list(ctx, items, f"{ctx.prefix}/runbookSnapshots/{snap['Id']}/runbookRuns")


def get_run(ctx: Ctx) -> Reply:
    require_space(ctx)
    doc = ctx.col("runbookruns").get(ctx.params["id"])
    if doc is None:
        raise not_found(ctx.params["id"])
    return 200, render_run(ctx, doc)


def get_runbook(ctx: Ctx) -> Reply:
    return 200, render_runbook(_runbook(ctx, ctx.params["id"], ctx.params.get("projectId")))


def post_project_runbook(ctx: Ctx) -> Reply:
    return create_runbook(ctx, ctx.params["projectId"])


def put_project_runbook(ctx: Ctx) -> Reply:
    return update_runbook(ctx, ctx.params["projectId"])


def delete_project_runbook(ctx: Ctx) -> Reply:
    return delete_runbook(ctx, ctx.params["projectId"])


def register(router: Router) -> None:
    edit: dict[str, Any] = {"permission": "RunbookEdit"}
    # newer than 2020.5: the project-scoped forms the official TypeScript client uses
    new: dict[str, Any] = {"swagger": None, "legacy_swagger": None}
    r = router.space
    r("GET", "/runbooks", list_runbooks)
    r("GET", "/runbooks/all", all_runbooks)
    r("GET", "/runbooks/{id}", get_runbook)
    r("POST", "/runbooks", create_runbook, **edit)
    r("PUT", "/runbooks/{id}", update_runbook, **edit)
    r("DELETE", "/runbooks/{id}", delete_runbook, **edit)
    r("GET", "/projects/{id}/runbooks", project_runbooks)
    r("POST", "/projects/{projectId}/runbooks", post_project_runbook, **edit, **new)
    r("GET", "/projects/{projectId}/runbooks/{id}", get_runbook, **new)
    r("PUT", "/projects/{projectId}/runbooks/{id}", put_project_runbook, **edit, **new)
    r("DELETE", "/projects/{projectId}/runbooks/{id}", delete_project_runbook, **edit, **new)
    r("GET", "/runbookProcesses", list_runbook_processes)
    r("GET", "/runbookProcesses/{id}", get_runbook_process)
    r("PUT", "/runbookProcesses/{id}", put_runbook_process, **edit)
    r("GET", "/projects/{projectId}/runbookProcesses/{id}", get_runbook_process, **new)
    r("PUT", "/projects/{projectId}/runbookProcesses/{id}", put_runbook_process, **edit, **new)
    r("POST", "/runbookSnapshots", create_snapshot, **edit)
    r("GET", "/runbookSnapshots/{id}", get_snapshot)
    r("GET", "/projects/{id}/runbookSnapshots", project_snapshots)
    r("POST", "/projects/{id}/runbookSnapshots", create_project_snapshot, **edit, **new)
    r("GET", "/runbooks/{id}/runbookSnapshots", runbook_snapshots)
    r("GET", "/runbookRuns", list_runs)
    r("GET", "/runbookRuns/{id}", get_run)
    r("POST", "/runbookRuns", create_run, permission="RunbookRunCreate")
    r("POST", "/runbook-runs/create/v1", create_run_v1, permission="RunbookRunCreate",
      with_default=False, **new)  # fmt: skip
    r("GET", "/runbookSnapshots/{id}/runbookRuns", snapshot_runs)
