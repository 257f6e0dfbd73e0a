"""Deployments orchestrated across spaces and instances: one release of a project (by name)
to many spaces, wave by wave, through each instance's API.

Guarantees:

* Every space of a run is one the person starting it may deploy that project to that
  environment (and tenants) in (``identity.access.deployable_spaces``: a grant narrowed to
  other environments, projects or tenants does not count); an intervention is answered only
  with that right too (``may_answer``).
* One worker follows a run at a time (``odcm.work`` lease on the run). Each round asks every
  instance where its tasks stand in **one request per instance** (up to 100 task ids per
  request), whatever the number of deployments there.
* A wave starts through a conditional UPDATE, so it never starts twice; the next wave starts
  only when the current one has finished and the failures stay within the limit.
* Octopus's own limits are respected: tasks Octopus holds (node cap, a stopped task queue)
  show as queued, not failed; no deployment is started on an instance in maintenance.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from itertools import zip_longest
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.services import record
from identity.access import deployable_spaces
from managed.models import TemplateProject
from octopus.errors import OctopusError
from odcm import work
from odcm.bulk import update_each
from odcm.clients import client_for
from odcm.errors import ErrorKind, ServiceError
from rollouts.models import DeploymentRun, RunDeployment, RunWave
from rollouts.services import planning
from spaces.models import Instance, Space

logger = logging.getLogger("rollouts.orchestration")

D = RunDeployment.State
RS = DeploymentRun.State
LEASE_SECONDS = 120
# Deployments being started at once by one worker (each thread only waits on Octopus).
START_THREADS = 64
TASK_STATES = {
    "Queued": D.QUEUED,
    "Executing": D.EXECUTING,
    "Cancelling": D.EXECUTING,
    "Success": D.SUCCESS,
    "Failed": D.FAILED,
    "TimedOut": D.FAILED,
    "Canceled": D.CANCELLED,
}


class RunError(ServiceError, ValueError):
    """A deployment run that cannot be started or changed; the message is for people."""


def poll_seconds() -> float:
    return float(getattr(settings, "ODCM_RUNS_POLL_SECONDS", 2))


def next_round_in(took: float) -> float:
    """Seconds until the next round, for a round that took ``took`` seconds: rounds begin a
    poll interval apart, the next one at once when this one overran the interval (waiting a
    whole interval after a slow round would add the round's length to every outcome)."""
    return max(0.0, poll_seconds() - took)


# -- starting -----------------------------------------------------------------------------


def start_run(
    *,
    user: Any,
    project: str,
    environment: str,
    waves: list[list[Any]],
    release: str = "",
    channel: str = "",
    tenants: Iterable[str] = (),
    max_failures: int = 0,
    max_failure_ratio: float = 0.0,
    projects: Mapping[str, str] | None = None,
    template_id: Any = None,
    new_copies: bool = False,
    rules: list[tuple[str, str]] | None = None,
) -> DeploymentRun:
    """Plan a run (``waves``: lists of space ids, in order) and start following it.
    ``projects`` (space id -> project name) names the project per space where it is not
    ``project`` (the downstream copies of template ``template_id``); with ``new_copies`` the
    template's copies pushed later join too (:func:`join_new_copies`). ``rules`` (one
    (selector, value) per wave) says how each wave was chosen, for those newcomers."""
    project, environment = project.strip(), environment.strip()
    names = {str(k): v.strip() for k, v in (projects or {}).items() if v.strip()}
    tenant_names = [t.strip() for t in tenants if t.strip()]
    problems = []
    if not project:
        problems.append("Name the project.")
    if not environment:
        problems.append("Name the environment.")
    if not 0 <= max_failure_ratio <= 1:
        problems.append("The failure ratio is a fraction from 0 to 1.")
    if not waves or not all(waves):
        problems.append("Give at least one wave, each of at least one space.")
    ids = [str(pk) for wave in waves for pk in wave]
    if len(set(ids)) != len(ids):
        problems.append("A space appears in more than one wave.")
    if problems:
        raise RunError(" ".join(problems), errors=problems)
    by_name: dict[str, list[str]] = defaultdict(list)
    for pk in ids:
        by_name[names.get(pk, project)].append(pk)
    allowed: set[str] = set()
    for name, some in by_name.items():
        allowed |= deployable_spaces(
            user, some, environment=environment, project=name, tenants=tenant_names
        )
    refused = len(set(ids) - allowed)
    if refused:
        raise RunError(
            f"You may not deploy {project} to {environment} in {refused} of these spaces (a "
            "Deployer grant covering that project, environment and tenants is needed).",
            code="not_deployer",
            kind=ErrorKind.PERMISSION,
        )
    with transaction.atomic():
        run = DeploymentRun.objects.create(
            project=project,
            release=release.strip(),
            channel=channel.strip(),
            environment=environment,
            tenants=tenant_names,
            max_failures=max_failures,
            max_failure_ratio=max_failure_ratio,
            template_id=template_id,
            new_copies=bool(new_copies and template_id),
            created_by=user,
        )
        rows: list[RunDeployment] = []
        how = list(rules or [])
        for position, wave_ids in enumerate(waves, 1):
            selector, value = how[position - 1] if position <= len(how) else ("", "")
            wave = RunWave.objects.create(
                run=run, position=position, selector=selector, value=value[:200]
            )
            rows.extend(
                RunDeployment(
                    run=run,
                    wave=wave,
                    space_id=pk,
                    tenant=tenant,
                    project=names.get(str(pk), "") if names.get(str(pk)) != project else "",
                )
                for pk in wave_ids
                for tenant in (tenant_names or [""])
            )
        RunDeployment.objects.bulk_create(rows)
        record(
            "rollouts.run.start",
            actor=user,
            obj=run,
            after={
                "project": project,
                "release": release or "latest",
                "environment": environment,
                "waves": len(waves),
                "deployments": len(rows),
            },
        )
        work.enqueue("rollouts.tasks.follow_run", str(run.pk))
    return run


# -- following ----------------------------------------------------------------------------


def follow(run_id: Any) -> str:
    """One round: poll every instance once, then start the next wave if it is time. Queues
    the next round itself while there is something to follow."""
    lease = work.claim(
        DeploymentRun.objects.filter(state__in=DeploymentRun.FOLLOWED, finished_at__isnull=True),
        run_id,
        seconds=LEASE_SECONDS,
    )
    if lease is None:
        return "busy"
    began = time.monotonic()
    outcome = "gone"
    try:
        run = DeploymentRun.objects.get(pk=run_id)
        poll(run)
        outcome = _next(run) if run.state == RS.RUNNING else _after_cancel(run)
    finally:
        work.release(DeploymentRun.objects.all(), lease, polled_at=timezone.now())
    if outcome in ("running", "cancelling"):
        work.enqueue(
            "rollouts.tasks.follow_run",
            str(run_id),
            countdown=next_round_in(time.monotonic() - began),
            on_commit=False,
        )
    return outcome


def tick() -> int:
    """Periodic: restart the follow loop of runs nobody polled lately (a lost message, a
    worker that died). Safe with several beats: following claims the run."""
    stale = timezone.now() - timedelta(seconds=max(30.0, 5 * poll_seconds()))
    runs = DeploymentRun.objects.filter(
        state__in=DeploymentRun.FOLLOWED, finished_at__isnull=True, polled_at__lt=stale
    ).filter(work.free())
    ids = list(runs.values_list("pk", flat=True))
    for pk in ids:
        work.enqueue("rollouts.tasks.follow_run", str(pk), on_commit=False)
    return len(ids)


def poll(run: DeploymentRun) -> int:
    """Where every task of the run in Octopus stands: one request per instance. Returns how
    many requests were sent."""
    rows = list(
        run.deployments.filter(state__in=RunDeployment.IN_OCTOPUS).select_related("space__instance")
    )
    by_instance: dict[Any, list[RunDeployment]] = defaultdict(list)
    for row in rows:
        by_instance[row.space.instance_id].append(row)
    instances = {row.space.instance_id: row.space.instance for row in rows}

    def ask(instance_id: Any) -> tuple[Any, dict[str, Any] | Exception]:
        ids = [r.task_id for r in by_instance[instance_id]]
        try:
            with client_for(instances[instance_id]) as client:
                found = client.tasks_by_ids(ids)
                waiting = {}
                for row in by_instance[instance_id]:
                    status = found.get(row.task_id)
                    if status and status.has_pending_interruptions and not row.interruption_id:
                        waiting[row.task_id] = client.interruptions(
                            row.space.octopus_id, regarding=row.task_id
                        )
            return instance_id, {"tasks": found, "interruptions": waiting}
        except OctopusError as exc:
            return instance_id, exc

    with ThreadPoolExecutor(max_workers=min(16, max(1, len(by_instance)))) as pool:
        answers = list(pool.map(ask, list(by_instance)))
    now = timezone.now()
    changed: dict[tuple[tuple[str, Any], ...], list[Any]] = defaultdict(list)
    for instance_id, answer in answers:
        if isinstance(answer, Exception):
            logger.warning("polling %s failed: %s", instances[instance_id].name, answer)
            continue  # the next round asks again; an unreachable instance is not a failure
        for row in by_instance[instance_id]:
            changes = _status_changes(
                row, answer["tasks"].get(row.task_id), answer["interruptions"], now
            )
            if changes:
                changed[tuple(sorted(changes.items()))].append(row.pk)
    # One UPDATE per distinct change (most rows of a round change alike: queued -> executing,
    # executing -> success), none for a task that stands where it stood.
    for key, pks in changed.items():
        RunDeployment.objects.filter(pk__in=pks).update(**dict(key))
    return len(by_instance)


def _status_changes(
    row: RunDeployment, status: Any, waiting: dict[str, Any], now: Any
) -> dict[str, Any]:
    """What to write on ``row`` for its task's ``status``: nothing when it stands as recorded."""
    if status is None:
        return {}
    state = TASK_STATES.get(status.state, D.EXECUTING)
    changes: dict[str, Any] = {}
    if status.state != row.task_state:
        changes["task_state"] = status.state
    if state != row.state:
        changes["state"] = state
    if state in RunDeployment.FINISHED:
        changes.update(finished_at=now, interruption_id="", interruption_title="")
        if state == D.FAILED:
            changes["message"] = (status.error_message or "The task failed.")[:2000]
    elif status.has_pending_interruptions:
        found = [i for i in waiting.get(row.task_id, []) if i.get("IsPending", True)] or []
        if found:
            intr = {
                "interruption_id": str(found[0].get("Id", "")),
                "interruption_title": str(found[0].get("Title", "Manual intervention"))[:300],
            }
            if intr["interruption_id"] != row.interruption_id:
                changes.update(intr)
    elif row.interruption_id:
        changes.update(interruption_id="", interruption_title="")
    return changes


def _next(run: DeploymentRun) -> str:
    wave = run.waves.exclude(state=RunWave.State.DONE).order_by("position").first()
    if wave is None:
        return _finish(run, RS.COMPLETED, "Every wave finished.")
    if wave.state == RunWave.State.WAITING:
        if run.new_copies and run.template_id:
            join_new_copies(run, wave)
        start_wave(run, wave)
        return "running"
    rows = wave.deployments.all()
    if rows.exclude(state__in=RunDeployment.FINISHED).exists():
        return "running"
    RunWave.objects.filter(pk=wave.pk, state=RunWave.State.RUNNING).update(
        state=RunWave.State.DONE, finished_at=timezone.now()
    )
    failed = run.deployments.filter(state__in=[D.FAILED, D.NOT_STARTED]).count()
    reason = ""
    if failed > run.max_failures:
        reason = (
            f"{failed} deployments failed (the limit is {run.max_failures}): "
            "the next waves were not started."
        )
    elif run.max_failure_ratio and failed:
        # Started so far: every deployment of the waves that have begun.
        started = run.deployments.exclude(wave__state=RunWave.State.WAITING).count()
        if started and failed / started > run.max_failure_ratio:
            reason = (
                f"{failed} of {started} deployments failed (more than "
                f"{run.max_failure_ratio:.0%}): the next waves were not started."
            )
    if reason:
        run.deployments.filter(state=D.WAITING).update(state=D.NOT_STARTED, message="Run stopped.")
        return _finish(run, RS.STOPPED, reason)
    return _next(run)


def _finish(run: DeploymentRun, state: str, reason: str) -> str:
    DeploymentRun.objects.filter(pk=run.pk).update(
        state=state, reason=reason, finished_at=timezone.now()
    )
    record(f"rollouts.run.{state}", obj=run, message=reason)
    return state


def _after_cancel(run: DeploymentRun) -> str:
    if run.deployments.filter(state__in=RunDeployment.IN_OCTOPUS).exists():
        return "cancelling"
    DeploymentRun.objects.filter(pk=run.pk).update(finished_at=timezone.now())
    return "cancelled"


# -- starting a wave ----------------------------------------------------------------------


def join_new_copies(run: DeploymentRun, wave: RunWave) -> list[str]:
    """Before ``wave`` starts (a run of a template's copies, ``new_copies``): add the copies
    pushed since the run began that belong to this wave, in spaces the run's starter may still
    deploy that copy to. A newcomer belongs to the first wave not started yet whose instance
    tag or region takes its space, else to the last wave; waves already started are never
    changed (a copy pushed after the last wave started is not deployed by this run). Returns
    the names of the spaces added."""
    if run.template_id is None or run.created_by is None:
        return []
    template = TemplateProject.objects.filter(pk=run.template_id).first()
    if template is None:
        return []
    taken = {str(pk) for pk in run.deployments.values_list("space_id", flat=True)}
    fresh = {pk: name for pk, name in planning.template_copies(template).items() if pk not in taken}
    if not fresh:
        return []
    # Waves start in order, so every wave from this one on is still waiting.
    ahead = list(run.waves.filter(position__gte=wave.position).order_by("position"))
    spaces = (
        Space.objects.filter(pk__in=list(fresh))
        .select_related("instance")
        .prefetch_related("instance__tags")
    )
    mine: dict[str, list[Space]] = defaultdict(list)
    for space in spaces:
        home = next((w for w in ahead if planning.takes(w.selector, w.value, space)), ahead[-1])
        if home.pk == wave.pk:
            mine[fresh[str(space.pk)]].append(space)
    allowed: set[str] = set()
    for name, some in mine.items():
        allowed |= deployable_spaces(
            run.created_by,
            [s.pk for s in some],
            environment=run.environment,
            project=name,
            tenants=run.tenants,
        )
    rows = [
        RunDeployment(
            run=run,
            wave=wave,
            space=space,
            tenant=tenant,
            project="" if name == run.project else name,
        )
        for name, some in mine.items()
        for space in some
        if str(space.pk) in allowed
        for tenant in (run.tenants or [""])
    ]
    if not rows:
        return []
    RunDeployment.objects.bulk_create(rows, ignore_conflicts=True)
    added = sorted({row.space.name for row in rows})
    record(
        "rollouts.run.join",
        obj=run,
        after={"wave": wave.position, "spaces": added, "deployments": len(rows)},
    )
    return added


@dataclass
class Started:
    row: RunDeployment
    release: str = ""
    deployment_id: str = ""
    task_id: str = ""
    error: str = ""
    held: str = ""  # why it was not started now (maintenance): it stays waiting


IN_MAINTENANCE = "The instance is in maintenance."
STARTED_FIELDS = (
    "release",
    "state",
    "deployment_id",
    "task_id",
    "task_state",
    "started_at",
    "finished_at",
    "message",
)


def start_wave(run: DeploymentRun, wave: RunWave) -> bool:
    """Start every deployment of ``wave`` (the conditional UPDATE makes a second call a
    no-op); see ``_start_all`` for the order."""
    if not RunWave.objects.filter(pk=wave.pk, state=RunWave.State.WAITING).update(
        state=RunWave.State.RUNNING, started_at=timezone.now()
    ):
        return False
    rows = list(wave.deployments.filter(state=D.WAITING).select_related("space__instance"))
    results = _start_all(run, rows)
    now = timezone.now()
    held = [s.row.pk for s in results if s.held]
    if held:
        RunDeployment.objects.filter(pk__in=held).update(message=IN_MAINTENANCE)
    done = []
    for s in results:
        if s.held:
            continue
        values = {
            "id": s.row.pk,
            "release": s.release,
            "state": D.QUEUED,
            "deployment_id": s.deployment_id,
            "task_id": s.task_id,
            "task_state": "Queued",
            "started_at": now,
            "finished_at": None,
            "message": (
                "The space's task queue is stopped: Octopus holds it."
                if s.row.space.task_queue_stopped
                else ""
            ),
        }
        if s.error:
            values.update(state=D.NOT_STARTED, task_state="", started_at=None, finished_at=now)
            values["message"] = s.error[:2000]
        done.append(values)
    # One statement for the wave (Django's bulk_update took ~1.4 s for 500 rows).
    update_each(RunDeployment, done, fields=STARTED_FIELDS)
    if held:
        # Maintenance: these wait; the wave is re-opened for them on a later round.
        RunWave.objects.filter(pk=wave.pk).update(state=RunWave.State.WAITING)
    record("rollouts.run.wave", obj=run, after={"wave": wave.position, "deployments": len(rows)})
    return True


def _start_all(run: DeploymentRun, rows: list[RunDeployment]) -> list[Started]:
    """Start ``rows`` in Octopus (no database here: threads). Every instance from the first
    moment, in one pool taking every instance's first space, then every instance's second,
    and so on (grouped by instance behind a pool of 16, instance 17 began only once one of
    the first 16 had started all its spaces), never more than
    ``ODCM_OCTOPUS_PER_INSTANCE_CONCURRENCY`` requests at once to one instance; a space's
    deployments (its tenants) in turn, sharing its release lookup. An instance in
    maintenance starts nothing: its rows come back held."""
    instances = {row.space.instance_id: row.space.instance for row in rows}
    spaces: dict[Any, dict[Any, list[RunDeployment]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        spaces[row.space.instance_id][row.space_id].append(row)
    results: list[Started] = []
    ready = []
    for instance_id, instance in instances.items():
        if instance.status == Instance.Status.MAINTENANCE:
            results.extend(
                Started(r, held=IN_MAINTENANCE) for g in spaces[instance_id].values() for r in g
            )
        else:
            ready.append(instance_id)
    jobs = [
        group
        for turn in zip_longest(*(list(spaces[i].values()) for i in ready))
        for group in turn
        if group is not None
    ]
    if not jobs:
        return results
    limit = settings.ODCM_OCTOPUS_PER_INSTANCE_CONCURRENCY
    slots = {i: threading.BoundedSemaphore(limit) for i in ready}
    versions: dict[Any, dict[Any, str]] = {i: {} for i in ready}
    with ExitStack() as stack:
        clients = {i: stack.enter_context(client_for(instances[i])) for i in ready}

        def in_space(group: list[RunDeployment]) -> list[Started]:
            instance_id = group[0].space.instance_id
            with slots[instance_id]:
                client = clients[instance_id]
                return [_deploy(client, run, row, versions[instance_id]) for row in group]

        workers = min(START_THREADS, len(jobs), limit * len(ready))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results.extend(s for part in pool.map(in_space, jobs) for s in part)
    return results


def _latest(client: Any, space: str, project: str, channel: str) -> str:
    found = [
        p
        for p in client.get_all(f"/api/{space}/projects", {"partialName": project})
        if str(p.get("Name", "")).casefold() == project.casefold()
    ]
    if not found:
        raise RunError(f"This space has no project named {project!r}.")
    project_id = found[0]["Id"]
    channel_id = None
    if channel:
        named = [c for c in client.channels(space, project_id) if c.get("Name") == channel]
        if not named:
            raise RunError(f"The project has no channel named {channel!r}.")
        channel_id = named[0]["Id"]
    for release in client.project_releases(space, project_id):
        if channel_id is None or release.get("ChannelId") == channel_id:
            return str(release["Version"])
    raise RunError("The project has no release" + (f" in {channel}." if channel else "."))


def _deploy(
    client: Any, run: DeploymentRun, row: RunDeployment, versions: dict[Any, str]
) -> Started:
    space = row.space.octopus_id
    project = row.project or run.project
    try:
        version = run.release or versions.get(space) or _latest(client, space, project, run.channel)
        versions[space] = version
        if row.tenant:
            tasks = client.deploy_release_tenanted_v1(
                space, project, version, run.environment, tenants=[row.tenant]
            )
        else:
            tasks = client.deploy_release_v1(space, project, version, [run.environment])
    except (OctopusError, RunError) as exc:
        return Started(row, release=versions.get(space, ""), error=str(exc))
    if not tasks:
        return Started(row, release=version, error="Octopus started no deployment.")
    return Started(row, release=version, deployment_id=tasks[0].id, task_id=tasks[0].task_id)


# -- people -------------------------------------------------------------------------------


def cancel_run(run: DeploymentRun, *, actor: Any = None) -> int:
    """Cancel: nothing more starts; Octopus is asked to cancel what runs (by a task, after
    commit). Returns how many tasks are being cancelled."""
    with transaction.atomic():
        if not DeploymentRun.objects.filter(pk=run.pk, state=RS.RUNNING).update(
            state=RS.CANCELLED, reason="Cancelled."
        ):
            raise RunError(
                "Only a running run can be cancelled.", code="wrong_state", kind=ErrorKind.CONFLICT
            )
        run.deployments.filter(state=D.WAITING).update(
            state=D.NOT_STARTED, message="Cancelled before it started."
        )
        count = run.deployments.filter(state__in=RunDeployment.IN_OCTOPUS).count()
        record("rollouts.run.cancel", actor=actor, obj=run, after={"tasks": count})
        work.enqueue("rollouts.tasks.cancel_run_tasks", str(run.pk))
    return count


def cancel_tasks(run_id: Any) -> int:
    """Ask Octopus to cancel every task of a cancelled run still queued or executing."""
    rows = list(
        RunDeployment.objects.filter(
            run_id=run_id, state__in=RunDeployment.IN_OCTOPUS
        ).select_related("space__instance")
    )
    done = 0
    for row in rows:
        try:
            with client_for(row.space.instance) as client:
                client.cancel_task(row.task_id)
            done += 1
        except OctopusError as exc:
            RunDeployment.objects.filter(pk=row.pk).update(message=f"Cancel failed: {exc}"[:2000])
    work.enqueue("rollouts.tasks.follow_run", str(run_id), on_commit=False)
    return done


def may_answer(user: Any, rows: list[RunDeployment]) -> set[Any]:
    """Ids of the deployments among ``rows`` (of one run) whose interventions ``user`` may
    answer: a Deployer grant on the space covering the run's project, environment and the
    deployment's tenant. A fixed number of queries per tenant of the run."""
    if not rows:
        return set()
    run = rows[0].run
    found: set[Any] = set()
    by_tenant: dict[tuple[str, str], list[RunDeployment]] = defaultdict(list)
    for row in rows:
        by_tenant[(row.tenant, row.project or run.project)].append(row)
    for (tenant, project), tenant_rows in by_tenant.items():
        allowed = deployable_spaces(
            user,
            {r.space_id for r in tenant_rows},
            environment=run.environment,
            project=project,
            tenants=[tenant] if tenant else [],
        )
        found.update(r.pk for r in tenant_rows if str(r.space_id) in allowed)
    return found


def submit_intervention(row: RunDeployment, *, actor: Any, proceed: bool, notes: str = "") -> None:
    """Take and answer a manual intervention waiting in Octopus (a Deployer grant on the space
    covering the run's project, environment and this deployment's tenant)."""
    if row.pk not in may_answer(actor, [row]):
        raise RunError(
            "Answering it needs a Deployer grant on this space covering this project, "
            "environment and tenant.",
            code="not_deployer",
            kind=ErrorKind.PERMISSION,
        )
    if not row.interruption_id:
        raise RunError(
            "Nothing is waiting for a person here.", code="wrong_state", kind=ErrorKind.CONFLICT
        )
    space = row.space.octopus_id
    result = "Proceed" if proceed else "Abort"
    with client_for(row.space.instance) as client:
        client.take_responsibility(space, row.interruption_id)
        client.submit_interruption(
            space,
            row.interruption_id,
            {"Result": result, "Notes": notes[:1000] or f"{result} from ODCM"},
        )
    with transaction.atomic():
        RunDeployment.objects.filter(pk=row.pk).update(
            interruption_id="", interruption_title="", message=f"{result} by {actor} from ODCM."
        )
        record(
            "rollouts.run.intervention",
            actor=actor,
            obj=row.run,
            after={"space": str(row.space), "result": result},
        )


def task_link(row: RunDeployment) -> str:
    """The task's page in Octopus's own UI."""
    if not row.task_id:
        return ""
    return (
        f"{row.space.instance.base_url.rstrip('/')}/app#/{row.space.octopus_id}/tasks/{row.task_id}"
    )
