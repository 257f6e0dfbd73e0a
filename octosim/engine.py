"""The task engine: deployments and runbook runs queued, picked up by server nodes and
executed step by step on simulated time, with a task log.

Nothing here runs on a timer of its own: ``advance`` catches an instance up to "now" and
is called before every request to the instance and by the simulator's tick. A step's end
is planned (start + its duration), so the log's timestamps do not depend on when someone
looks. Each node runs at most ``MaxConcurrentTasks`` tasks (Octopus's default is 5); the
rest wait in Queued, as do all tasks of a space whose ``TaskQueueStopped`` is set. Tasks
of generated history follow the clock alone and take no node slot.
"""

from __future__ import annotations

import uuid
from typing import Any

from octosim import resources as R
from octosim.instance import Instance
from octosim.state import FINAL_STATES, Doc, InstanceState, TaskRec

DEFAULT_STEP_MS = 1500
DEFAULT_MAX_TASKS = 5


# ---------------------------------------------------------------- nodes


def nodes(inst: Instance) -> list[Doc]:
    """The instance's server nodes (created on first use; ``--nodes`` gives an HA cluster)."""
    coll = inst.state.sys("octopusservernodes")
    if not coll:
        for number in range(1, inst.nodes_count + 1):
            ident = f"OctopusServerNodes-{number}"
            coll[ident] = {
                "Id": ident,
                "Name": inst.node_name if number == 1 else f"octopus-{inst.slug}-node{number}",
                "MaxConcurrentTasks": DEFAULT_MAX_TASKS,
                "IsInMaintenanceMode": False,
                "Rank": "Leader" if number == 1 else "Follower",
                "Offline": False,  # made unhealthy through /_sim: it stops taking tasks
                "LastModifiedOn": None,
                "LastModifiedBy": None,
            }
    return sorted(coll.values(), key=lambda n: int(n["Id"].rsplit("-", 1)[1]))


# ---------------------------------------------------------------- planning


def _step_roles(step: Doc) -> list[str]:
    raw = str((step.get("Properties") or {}).get("Octopus.Action.TargetRoles") or "")
    return [r.strip() for r in raw.split(",") if r.strip()]


def _skip_reason(act: Doc, step: Doc, ctx: Doc) -> str | None:
    if act.get("IsDisabled"):
        return "the step is disabled"
    env = ctx["environment_id"]
    if act.get("Environments") and env not in act["Environments"]:
        return "the step is not run in this environment"
    if env in (act.get("ExcludedEnvironments") or []):
        return "the step is excluded from this environment"
    if act.get("Channels") and ctx["channel_id"] not in act["Channels"]:
        return "the step is not run in this channel"
    if act.get("TenantTags") and not set(act["TenantTags"]) & set(ctx.get("tenant_tags") or []):
        return "the step is not run for this tenant"
    skipped = ctx["skip"]
    if act["Id"] in skipped or act["Name"] in skipped or step["Name"] in skipped:
        return "it was chosen to be skipped"
    return None


def _fails(inst: Instance, project: Doc, step_name: str) -> bool:
    for key, step in inst.faults.failing_steps.items():
        if key in ("*", project["Id"], project["Name"]) and step in ("*", step_name):
            return True
    return False


def plan(inst: Instance, process: Doc, project: Doc, ctx: Doc) -> Doc:
    """The run of a task: which steps execute, skip, fail or wait, and on which targets.
    ``ctx`` holds environment_id, channel_id, tenant_id, skip (ids or names) and
    machines (specific machine ids, empty for all)."""
    st = inst.state
    machines = [
        m
        for m in st.col(project["SpaceId"], "machines").values()
        if ctx["environment_id"] in m["EnvironmentIds"] and not m["IsDisabled"]
    ]
    if ctx["machines"]:
        machines = [m for m in machines if m["Id"] in ctx["machines"]]
    excluded = ctx.get("excluded") or set()
    machines = [m for m in machines if m["Id"] not in excluded]
    steps: list[Doc] = []
    wanted = inst.faults.interventions
    if ctx.get("intervene") or project["Id"] in wanted or project["Name"] in wanted:
        steps.append(_planned("Manual intervention", None, [], manual=True))
    for step in process["Steps"]:
        act = step["Actions"][0] if step["Actions"] else {"Id": "", "Name": step["Name"]}
        roles = _step_roles(step)
        targets = [m["Name"] for m in machines if set(roles).intersection(m["Roles"])]
        planned = _planned(
            step["Name"],
            _skip_reason(act, step, ctx),
            targets if roles else [],
            manual=act.get("ActionType") == "Octopus.Manual",
            fail=_fails(inst, project, step["Name"]) or ctx.get("fail_step") == step["Name"],
            always=step.get("Condition") == "Always",
        )
        planned["instructions"] = (act.get("Properties") or {}).get(
            "Octopus.Action.Manual.Instructions", ""
        )
        steps.append(planned)
    ms = inst.faults.step_ms or DEFAULT_STEP_MS
    return {
        "steps": steps,
        "cursor": 0,
        "at": None,
        "node": None,
        "log": [],
        "waiting": None,
        "failed": False,
        "done": False,
        "step_seconds": ctx.get("step_seconds") or ms / 1000,
        "related": ctx.get("related", []),
        "guided": bool(ctx.get("guided")),
    }


def _planned(
    name: str, skip: str | None, targets: list[str], *, manual: bool = False,
    fail: bool = False, always: bool = False,
) -> Doc:  # fmt: skip
    return {
        "name": name,
        "skip": skip,
        "targets": targets,
        "manual": manual,
        "fail": fail,
        "always": always,
        "status": "Pending",
        "started": None,
        "ended": None,
        "instructions": "",
    }


# ---------------------------------------------------------------- execution


def _log(run: Doc, ts: float, message: str, step: int = -1, category: str = "Info") -> None:
    run["log"].append([ts, category, message, step])


GUIDED_RESULTS = ("Fail", "Retry", "Ignore")
MANUAL_RESULTS = ("Proceed", "Abort")


def _open_interruption(
    st: InstanceState, task: TaskRec, run: Doc, index: int, guided: bool = False
) -> None:
    step = run["steps"][index]
    ident = st.next_id("Interruptions")
    if guided:
        text = (
            f"The step '{step['name']}' failed. Fail the deployment, retry the step or ignore it."
        )
    else:
        text = step["instructions"] or f"Please approve the step '{step['name']}' to continue."
    st.interruptions[ident] = {
        "Id": ident,
        "Kind": "Guided" if guided else "Manual",
        "Title": f"{'Guided failure' if guided else 'Manual intervention'}: {step['name']}",
        "Created": R.iso(run["at"]),
        "IsPending": True,
        "Instructions": text,
        "Values": {"Instructions": text, "Notes": None, "Result": None},
        "RelatedDocumentIds": [x for x in run["related"] if x],
        "ResponsibleTeamIds": ["teams-administrators"],
        "ResponsibleUserId": None,
        "TaskId": task.id,
        "CorrelationId": f"{task.id}_{uuid.uuid4().hex[:10]}",
        "SpaceId": task.space_id,
        "ResolvedAt": None,
    }
    run["waiting"] = ident
    _log(
        run,
        run["at"],
        f"Waiting for {'guided failure' if guided else 'manual intervention'}: {text}",
        index,
    )


def _run_step(st: InstanceState, task: TaskRec, run: Doc, index: int, moment: float) -> bool:
    """Advance one step; False while it is still running or waiting."""
    step = run["steps"][index]
    if step["status"] == "Pending":
        if step["skip"] or (run["failed"] and not step["always"]):
            reason = step["skip"] or "a previous step failed"
            step["status"] = "Skipped"
            _log(run, run["at"], f"Skipping step '{step['name']}' because {reason}.", index)
            return True
        step["status"] = "Running"
        step["started"] = run["at"]
        _log(run, run["at"], f"Step {index + 1}: {step['name']}", index)
        if step["manual"]:
            _open_interruption(st, task, run, index)
    if step["manual"]:
        intr = st.interruptions.get(run["waiting"] or "")
        if intr is not None and intr["IsPending"]:
            return False
        result = (intr or {}).get("Values", {}).get("Result") or "Abort"
        run["at"] = max(run["at"], (intr or {}).get("ResolvedAt") or run["at"])
        run["waiting"] = None
        step["ended"] = run["at"]
        step["status"] = "Success" if result == "Proceed" else "Failed"
        _log(run, run["at"], f"The manual intervention was answered: {result}.", index)
        run["failed"] = run["failed"] or result != "Proceed"
        return True
    if run["waiting"]:
        return _guided_answer(st, run, index)
    end = step["started"] + run["step_seconds"]
    if moment < end:
        return False
    for target in step["targets"] or ["the Octopus Server"]:
        _log(run, end, f"Running '{step['name']}' on {target}", index, "Verbose")
    step["ended"] = end
    run["at"] = end
    if step["fail"]:
        _log(run, end, f"The step '{step['name']}' failed: exit code 1 (injected).", index, "Error")
        if run.get("guided"):
            _open_interruption(st, task, run, index, guided=True)
            return False
        step["status"] = "Failed"
        run["failed"] = True
    else:
        step["status"] = "Success"
        _log(run, end, f"Step '{step['name']}' completed successfully.", index)
    return True


def _guided_answer(st: InstanceState, run: Doc, index: int) -> bool:
    """A failed step waits on guided failure: Fail it, Retry it (the retry succeeds: the
    failure was a transient one) or Ignore it."""
    step = run["steps"][index]
    intr = st.interruptions.get(run["waiting"] or "")
    if intr is not None and intr["IsPending"]:
        return False
    result = (intr or {}).get("Values", {}).get("Result") or "Fail"
    run["at"] = max(run["at"], (intr or {}).get("ResolvedAt") or run["at"])
    run["waiting"] = None
    _log(run, run["at"], f"Guided failure answered: {result}.", index)
    if result == "Retry":
        step["fail"] = False
        step["started"] = run["at"]
        _log(run, run["at"], f"Retrying step '{step['name']}'.", index)
        return False
    step["status"] = "Success" if result == "Ignore" else "Failed"
    run["failed"] = run["failed"] or result != "Ignore"
    return True


def _progress(st: InstanceState, task: TaskRec, run: Doc, moment: float) -> bool:
    """Run a started task's steps up to ``moment``; True when it has finished."""
    while run["cursor"] < len(run["steps"]):
        if not _run_step(st, task, run, run["cursor"], moment):
            return False
        run["cursor"] += 1
    task.complete_time = run["at"]
    task.final_state = "Failed" if run["failed"] else "Success"
    task.error = "The deployment failed because one or more steps failed." if run["failed"] else ""
    _log(run, run["at"], f"Task finished: {task.final_state}.", -1)
    run["done"] = True
    return True


def _stop_canceled(st: InstanceState, task: TaskRec, run: Doc) -> None:
    end = task.complete_time or run["at"] or task.queue_time
    for step in run["steps"]:
        if step["status"] in ("Pending", "Running"):
            step["status"] = "Canceled"
            step["ended"] = end if step["started"] else None
    intr = st.interruptions.get(run["waiting"] or "")
    if intr is not None:
        intr["IsPending"] = False
    _log(run, end, "The task was canceled.", -1, "Warning")
    run["done"] = True


def _free_slots(inst: Instance) -> list[str]:
    if inst.faults.draining:
        return []  # the whole cluster is draining (the instance-level fault)
    counts = running_per_node(inst.state)
    slots: list[str] = []
    for node in nodes(inst):
        if node["IsInMaintenanceMode"] or node["Offline"]:
            continue
        slots.extend([node["Id"]] * max(0, node["MaxConcurrentTasks"] - counts.get(node["Id"], 0)))
    return slots


def advance(inst: Instance, moment: float) -> None:
    """Catch the instance's engine-run tasks up to ``moment``."""
    st = inst.state
    if not st.active:
        return
    active = [(st.tasks.get(tid), st.runs[tid]) for tid in sorted(st.active) if tid in st.runs]
    for task, run in active:
        if task is None:
            run["done"] = True
        elif task.state(moment) in FINAL_STATES:
            _stop_canceled(st, task, run)
        elif task.start_time is not None:
            _progress(st, task, run, moment)
    queued = sorted(
        (
            t
            for t, r in active
            if t is not None and not r["done"] and t.start_time is None and t.queue_time <= moment
        ),
        key=lambda t: (t.queue_time, t.id),
    )
    slots = _free_slots(inst) if queued else []
    for task in queued:
        if not slots:
            break
        space = st.spaces.get(task.space_id or "")
        if space is not None and space.get("TaskQueueStopped"):
            continue
        run = st.runs[task.id]
        run["node"] = slots.pop(0)
        task.start_time = max(moment, task.queue_time)
        run["at"] = task.start_time
        name = st.sys("octopusservernodes")[run["node"]]["Name"]
        _log(run, task.start_time, f"Task picked up by node {name}.", -1)
        _progress(st, task, run, moment)
    st.active = {tid for tid in st.active if tid in st.runs and not st.runs[tid]["done"]}


def running_per_node(st: InstanceState) -> dict[str, int]:
    counts: dict[str, int] = {}
    for task_id in st.active:
        run = st.runs.get(task_id)
        if run is not None and not run["done"] and run["node"] and task_id in st.tasks:
            counts[run["node"]] = counts.get(run["node"], 0) + 1
    return counts


def queue_task(st: InstanceState, task: TaskRec, run: Doc) -> None:
    st.tasks[task.id] = task
    st.runs[task.id] = run
    st.active.add(task.id)
    _log(run, task.queue_time, f"Task queued: {task.description}", -1)


def run_summary(run: Doc | None) -> dict[str, Any]:
    return {"node": run["node"] if run else None, "waiting": bool(run and run["waiting"])}


def replay(st: InstanceState, task: TaskRec, process: Doc, moment: float) -> Doc:
    """A run for a task of the generated history (which the engine never ran), made on
    read from its release's process and the task's planned times: the same log every time,
    and no memory spent on the thousands of such tasks."""
    names = [s["Name"] for s in process.get("Steps") or []] or ["Deploy"]
    state = task.state(moment)
    start = task.start_time
    run: Doc = {"steps": [], "log": [], "node": "OctopusServerNodes-1" if start else None,
                "waiting": None, "done": state in FINAL_STATES}  # fmt: skip
    _log(run, task.queue_time, f"Task queued: {task.description}", -1)
    if start is None or moment < start:
        run["steps"] = [_planned(n, None, []) for n in names]
        return run
    end = task.complete_time if state in FINAL_STATES and task.complete_time else moment
    per = max(1.0, ((task.complete_time or start + 60 * len(names)) - start) / len(names))
    stop = int(task.id.rsplit("-", 1)[-1]) % len(names)  # where a failure happens
    for index, name in enumerate(names):
        step = _planned(name, None, [])
        begin = start + index * per
        if begin > end or (state != "Success" and state in FINAL_STATES and index > stop):
            step["status"] = "Skipped" if state == "Failed" else "Pending"
        elif (state == "Success" or begin + per <= end + 1e-6) and not (
            state in FINAL_STATES and index == stop and state != "Success"
        ):
            # A finished task's steps all finished (per is a float: its last step may end a
            # rounding error after the task).
            step.update(status="Success", started=begin, ended=begin + per)
            _log(run, begin, f"Step {index + 1}: {name}", index)
        else:
            status = {"Failed": "Failed", "Canceled": "Canceled", "TimedOut": "Failed"}
            step.update(status=status.get(state, "Running"), started=begin)
            step["ended"] = end if state in FINAL_STATES else None
            _log(run, begin, f"Step {index + 1}: {name}", index)
            if state in FINAL_STATES:
                _log(run, end, task.error or f"The task ended: {state}.", index, "Error")
        run["steps"].append(step)
    if state in FINAL_STATES:
        _log(run, end, f"Task finished: {state}.", -1)
    return run
