"""Server tasks: the system-wide and per-space task lists, details, logs, cancelling."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from octosim.api_core import require_space
from octosim.engine import replay
from octosim.errors import invalid, not_found
from octosim.paging import bool_param, csv_param, envelope, param
from octosim.processes import frozen_doc
from octosim.resources import iso
from octosim.routing import Ctx, RawBody, Reply, Router
from octosim.state import FINAL_STATES, Doc, InstanceState, TaskRec, now

TASK_QUERY = (
    "{?skip,active,environment,tenant,runbook,project,name,node,running,states,"
    "hasPendingInterruptions,hasWarningsOrErrors,take,ids,partialName,spaces,includeSystem,"
    "fromCompletedDate,toCompletedDate,fromQueueDate,toQueueDate,fromStartDate,toStartDate}"
)
TASK_TYPES = [
    ("Deploy", "Deploy a release"),
    ("Health", "Check the health of deployment targets"),
    ("Retention", "Apply retention policies"),
    ("Upgrade", "Upgrade Tentacles"),
    ("AdHocScript", "Run a script"),
    ("RunbookRun", "Run a runbook"),
]


def _human(ts: float) -> str:
    dt = datetime.fromtimestamp(ts, tz=UTC)
    hour = dt.hour % 12 or 12
    return f"{dt:%A}, {dt.day} {dt:%B %Y} {hour}:{dt:%M:%S} {'AM' if dt.hour < 12 else 'PM'}"


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours = minutes // 60
    return f"{hours} hour{'s' if hours != 1 else ''}"


def render_task(task: TaskRec, moment: float, st: InstanceState | None = None) -> Doc:
    run = st.runs.get(task.id) if st is not None else None
    state = task.state(moment)
    done = state in FINAL_STATES
    started = task.start_time is not None and moment >= task.start_time
    end = task.complete_time if done else None
    duration = ""
    if started and task.start_time is not None:
        duration = _duration((end or moment) - task.start_time)
    args: dict[str, Any] = {}
    if task.name == "RunbookRun":
        args["RunbookRunId"] = task.deployment_id
    elif task.deployment_id:
        args["DeploymentId"] = task.deployment_id
    elif task.name == "Health":
        args = {"EnvironmentId": None, "MachineIds": [], "Timeout": "00:05:00"}
    prefix = f"/api/{task.space_id}" if task.space_id else "/api"
    return {
        "Id": task.id,
        "SpaceId": task.space_id,
        "Name": task.name,
        "Description": task.description,
        "Arguments": args,
        "State": state,
        "Completed": _human(end) if end is not None else None,
        "QueueTime": iso(task.queue_time),
        "QueueTimeExpiry": None,
        "StartTime": iso(task.start_time) if started else None,
        "LastUpdatedTime": iso(end or (task.start_time if started else task.queue_time)),
        "CompletedTime": iso(end),
        "ServerNode": (run["node"] if run else "OctopusServerNodes-1") if started else None,
        "Duration": duration,
        "ErrorMessage": task.error if done and state != "Success" else "",
        "HasBeenPickedUpByProcessor": started,
        "IsCompleted": done,
        "FinishedSuccessfully": state == "Success",
        "HasPendingInterruptions": bool(run and run["waiting"] and not done),
        "CanRerun": done,
        "HasWarningsOrErrors": state in ("Failed", "TimedOut"),
        "Links": {
            "Self": f"/api/tasks/{task.id}",
            "Web": f"/app#/{task.space_id}/tasks/{task.id}",
            "Raw": f"/api/tasks/{task.id}/raw",
            "Rerun": f"/api/tasks/rerun/{task.id}",
            "Cancel": f"/api/tasks/{task.id}/cancel",
            "State": f"/api/tasks/{task.id}/state",
            "Details": f"{prefix}/tasks/{task.id}/details{{?verbose,tail,ranges}}",
        },
    }


def _date_param(ctx: Ctx, name: str) -> float | None:
    raw = param(ctx.query, name)
    if not raw:
        return None
    text = (
        raw.strip().replace(" ", "T", 1) if "T" not in raw and " " in raw.strip() else raw.strip()
    )
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise invalid(f"The value '{raw}' is not a valid date for {name}.") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def _in_range(value: float | None, low: float | None, high: float | None) -> bool:
    if low is None and high is None:
        return True
    if value is None:
        return False
    return (low is None or value >= low) and (high is None or value <= high)


def _task_filters(ctx: Ctx, moment: float) -> list[Callable[[TaskRec], bool]]:
    q = ctx.query
    checks: list[Callable[[TaskRec], bool]] = []
    names = {n.lower() for n in csv_param(q, "name")}
    if names:
        checks.append(lambda t: t.name.lower() in names)
    for key, attr in (
        ("project", "project_id"),
        ("environment", "environment_id"),
        ("tenant", "tenant_id"),
    ):
        wanted = set(csv_param(q, key))
        if wanted:
            checks.append(lambda t, a=attr, w=wanted: getattr(t, a) in w)  # type: ignore[misc]
    ids = set(csv_param(q, "ids"))
    if ids:
        checks.append(lambda t: t.id in ids)
    partial = param(q, "partialName")
    if partial:
        checks.append(lambda t: partial.lower() in t.description.lower())
    if bool_param(q, "active"):
        checks.append(lambda t: t.state(moment) not in FINAL_STATES)
    if bool_param(q, "running"):
        checks.append(lambda t: t.state(moment) == "Executing")
    if bool_param(q, "hasPendingInterruptions"):
        runs = ctx.st.runs
        checks.append(lambda t: bool(t.id in runs and runs[t.id]["waiting"]))
    if bool_param(q, "hasWarningsOrErrors"):
        checks.append(lambda t: t.state(moment) in ("Failed", "TimedOut"))
    for stem, getter in (
        ("CompletedDate", lambda t: t.complete_time if t.state(moment) in FINAL_STATES else None),
        ("QueueDate", lambda t: t.queue_time),
        (
            "StartDate",
            lambda t: t.start_time if t.start_time is not None and t.start_time <= moment else None,
        ),
    ):
        low, high = _date_param(ctx, f"from{stem}"), _date_param(ctx, f"to{stem}")
        if low is not None or high is not None:
            checks.append(lambda t, g=getter, lo=low, hi=high: _in_range(g(t), lo, hi))  # type: ignore[misc]
    return checks


def list_tasks(ctx: Ctx) -> Reply:
    moment = now()
    st = ctx.st
    if ctx.space_id is not None:
        require_space(ctx)
        spaces: set[str | None] | None = {ctx.space_id}
    else:
        wanted = csv_param(ctx.query, "spaces")
        spaces = None if not wanted or "all" in [w.lower() for w in wanted] else set(wanted)
    include_system = bool_param(ctx.query, "includeSystem")
    if include_system is None:
        include_system = ctx.space_id is None
    checks = _task_filters(ctx, moment)
    base = [
        t
        for t in st.tasks_newest_first()
        if (t.space_id is None and include_system)
        or (t.space_id is not None and (spaces is None or t.space_id in spaces))
    ]
    base = [t for t in base if all(check(t) for check in checks)]
    totals = Counter(t.state(moment) for t in base)
    states = set(csv_param(ctx.query, "states"))
    items = [t for t in base if t.state(moment) in states] if states else base
    path = f"{ctx.prefix}/tasks"
    all_states = ["Queued", "Executing", "Failed", "Canceled", "TimedOut", "Success", "Cancelling"]
    return 200, envelope(
        items,
        ctx.query,
        item_type="Task",
        path=path,
        template=path + "{/id}" + TASK_QUERY,
        render=lambda t: render_task(t, moment, st),
        extra={"TotalCounts": {s: totals.get(s, 0) for s in all_states}},
    )


def _task(ctx: Ctx) -> TaskRec:
    if ctx.space_id is not None:
        require_space(ctx)
    task = ctx.st.tasks.get(ctx.params["id"])
    if task is None or (ctx.space_id is not None and task.space_id != ctx.space_id):
        raise not_found(ctx.params["id"])
    return task


def get_task(ctx: Ctx) -> Reply:
    return 200, render_task(_task(ctx), now(), ctx.st)


def task_details(ctx: Ctx) -> Reply:
    task = _task(ctx)
    moment = now()
    rendered = render_task(task, moment, ctx.st)
    done = rendered["IsCompleted"]
    run = _run_of(ctx, task, moment)
    children = _step_nodes(task, run) if run else []
    finished = sum(1 for c in children if c["Status"] not in ("Pending", "Running"))
    percent = 100 if done else (int(100 * finished / len(children)) if children else 50)
    root_status = {"Success": "Success", "Queued": "Pending", "Executing": "Running"}.get(
        rendered["State"], "Failed" if rendered["State"] != "Canceled" else "Canceled"
    )
    root_log = [_element(e) for e in (run["log"] if run else []) if e[3] == -1]
    return 200, {
        "Id": task.id,
        "Task": rendered,
        "ActivityLogs": [
            {
                "Id": f"ServerTasks-{task.id}",
                "Name": task.description,
                "Status": root_status,
                "Children": children,
                "ShowAtSummaryLevel": True,
                "LogElements": root_log,
                "ProgressPercentage": percent,
                "ProgressMessage": None,
                "Started": rendered["StartTime"],
                "Ended": rendered["CompletedTime"],
            }
        ],
        "Progress": {
            "ProgressPercentage": percent,
            "EstimatedTimeRemaining": "" if done else "a few seconds",
        },
        "PhysicalLogSize": sum(len(e[2]) + 40 for e in run["log"]) if run else 1024,
        "LastModifiedOn": rendered["LastUpdatedTime"],
        "LastModifiedBy": None,
        "Links": {"Self": f"/api/tasks/{task.id}/details"},
    }


def _run_of(ctx: Ctx, task: TaskRec, moment: float) -> Doc | None:
    """The engine's run of a task, or one replayed from the release's process for a
    deployment of the generated history."""
    run = ctx.st.runs.get(task.id)
    if run is not None or task.name != "Deploy":
        return run
    dep = ctx.st.deployments.get(task.deployment_id or "")
    rel = ctx.st.releases.get(dep.release_id) if dep else None
    if rel is None:
        return None
    process = frozen_doc(
        ctx.st, f"deploymentprocess-{rel.project_id}-s-{rel.id.rsplit('-', 1)[-1]}"
    )
    return replay(ctx.st, task, process or {"Steps": []}, moment)


def _element(entry: list[Any]) -> Doc:
    return {"Category": entry[1], "MessageText": entry[2], "OccurredAt": iso(entry[0]),
            "Detail": None}  # fmt: skip


def _step_nodes(task: TaskRec, run: Doc) -> list[Doc]:
    out = []
    for index, step in enumerate(run["steps"]):
        status = {"Running": "Running", "Pending": "Pending"}.get(step["status"], step["status"])
        out.append(
            {
                "Id": f"ServerTasks-{task.id}_step{index + 1}",
                "Name": f"Step {index + 1}: {step['name']}",
                "Status": status,
                "Children": [],
                "ShowAtSummaryLevel": True,
                "LogElements": [_element(e) for e in run["log"] if e[3] == index],
                "ProgressPercentage": 100 if status not in ("Pending", "Running") else 0,
                "ProgressMessage": None,
                "Started": iso(step["started"]),
                "Ended": iso(step["ended"]),
            }
        )
    return out


def task_raw(ctx: Ctx) -> Reply:
    task = _task(ctx)
    moment = now()
    lines = [
        f"Task ID:        {task.id}",
        f"Task status:    {task.state(moment)}",
        f"Task queued:    {iso(task.queue_time)}",
        f"Task started:   {iso(task.start_time) if task.start_time else ''}",
        task.description,
    ]
    run = _run_of(ctx, task, moment)
    for ts, category, message, _step in run["log"] if run else []:
        stamp = datetime.fromtimestamp(ts, tz=UTC).strftime("%H:%M:%S")
        lines.append(f"{stamp}   {category:<8} |   {message}")
    return 200, RawBody(("\n".join(lines) + "\n").encode(), "text/plain; charset=utf-8")


def cancel_task(ctx: Ctx) -> Reply:
    task = _task(ctx)
    moment = now()
    if task.state(moment) not in FINAL_STATES:
        task.complete_time = moment
        task.final_state = "Canceled"
        task.error = "The task was canceled."
    return 200, render_task(task, moment)


def queued_behind(ctx: Ctx) -> Reply:
    """The engine's tasks queued ahead of this one (what it waits for)."""
    task = _task(ctx)
    moment = now()
    ahead = []
    if task.state(moment) == "Queued":
        ahead = [
            t
            for tid in ctx.st.active
            if (t := ctx.st.tasks.get(tid)) is not None
            and t.state(moment) == "Queued"
            and (t.queue_time, t.id) < (task.queue_time, task.id)
        ]
        ahead.sort(key=lambda t: (t.queue_time, t.id))
    path = f"/api/tasks/{task.id}/queued-behind"
    return 200, envelope(
        ahead, ctx.query, item_type="Task", path=path, template=path + "{?skip,take}",
        render=lambda t: render_task(t, moment, ctx.st),
    )  # fmt: skip


def task_types(ctx: Ctx) -> Reply:
    return 200, [{"Id": n, "Name": n, "Links": {}} for n, _ in TASK_TYPES]


def register(router: Router) -> None:
    router.system("GET", "/tasks", list_tasks)
    router.space("GET", "/tasks", list_tasks, with_default=False)
    for tail, handler in (
        ("/tasks/{id}", get_task),
        ("/tasks/{id}/details", task_details),
        ("/tasks/{id}/raw", task_raw),
        ("/tasks/tasktypes", task_types),
        ("/tasks/{id}/queued-behind", queued_behind),
    ):
        router.system("GET", tail, handler)
        router.space("GET", tail, handler, with_default=False)
    router.system("POST", "/tasks/{id}/cancel", cancel_task, permission="TaskCancel")
    router.space(
        "POST", "/tasks/{id}/cancel", cancel_task, permission="TaskCancel", with_default=False
    )
