"""The network half of the sweeps: concurrent, cheap GETs over one shared connection pool.

Nothing here touches the database; callers load rows first and apply results after, so the
event loop never waits on PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from django.conf import settings

from octopus import (
    AsyncOctopusClient,
    NotFound,
    OctopusError,
    RetryPolicy,
    Timeouts,
    make_async_http_client,
)
from odcm.clients import async_client_for, url_policy
from spaces.models import Instance
from spaces.services.projects import ProjectRow

T = TypeVar("T")
R = TypeVar("R")

# Sweeps are frequent and an instance goes offline only after several failed checks, so one
# quick retry is enough; a long backoff would only slow the whole sweep down.
SWEEP_RETRY = RetryPolicy(max_retries=1, backoff=0.2, max_backoff=1.0, max_retry_after=2.0)


def sweep_timeouts() -> Timeouts:
    limit = float(settings.ODCM_SWEEP_TIMEOUT)
    return Timeouts(connect=min(5.0, limit), read=limit, pool=limit * 3, total=limit)


@dataclass
class CheckResult:
    """What one status check of one instance saw."""

    instance_id: Any
    answered: bool
    version: str = ""
    healthy: bool = True
    draining: bool = False
    health_description: str = ""
    error: str = ""
    # The task queue (see monitoring.services.queues): None when it could not be read.
    queue: QueueSnapshot | None = None


@dataclass
class QueueSnapshot:
    """An instance's server nodes and its queued and executing space tasks, as Octopus sent
    them (two GETs); ``truncated`` when more tasks were active than one page holds."""

    nodes: list[dict[str, Any]] = field(default_factory=list)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    truncated: bool = False


# One page of active tasks: enough for any real queue; beyond it the counts are a floor.
QUEUE_TAKE = 1000


async def read_queue(client: AsyncOctopusClient) -> QueueSnapshot:
    """``/api/octopusservernodes`` and ``/api/tasks?states=Queued,Executing&spaces=all``:
    the whole fleet's queue state in two requests per instance, whatever its spaces."""
    # Both at once: an instance's check stays a chain of four round trips, not five.
    nodes, tasks = await asyncio.gather(
        client.get("/api/octopusservernodes", {"take": 100}),
        client.get(
            "/api/tasks",
            {
                "states": "Queued,Executing",
                "spaces": "all",
                "includeSystem": "false",
                "take": QUEUE_TAKE,
            },
        ),
    )
    items = list(tasks.get("Items") or [])
    return QueueSnapshot(
        nodes=list(nodes.get("Items") or []),
        tasks=items,
        truncated=int(tasks.get("TotalResults") or 0) > len(items),
    )


@dataclass
class SpaceCounts:
    """What the inventory read of one space: its counts and its projects."""

    space_id: Any
    counts: dict[str, int] = field(default_factory=dict)
    projects: list[ProjectRow] = field(default_factory=list)
    error: str = ""


def describe_error(exc: BaseException) -> str:
    # Typed client errors never carry the API key; keep the message short for emails.
    text = str(exc) or type(exc).__name__
    return text[:480]


async def _bounded_map(
    items: Sequence[T], work: Callable[[T, Any], Awaitable[R]], concurrency: int
) -> list[R]:
    semaphore = asyncio.Semaphore(concurrency)
    http = make_async_http_client(url_policy(), max_connections=max(concurrency, 10))

    async def run(item: T) -> R:
        async with semaphore:
            return await work(item, http)

    try:
        return list(await asyncio.gather(*(run(item) for item in items)))
    finally:
        await http.aclose()


def _client(instance: Instance, http: Any) -> AsyncOctopusClient:
    return async_client_for(instance, http=http, retry=SWEEP_RETRY, timeouts=sweep_timeouts())


async def check_instance(instance: Instance, http: Any) -> CheckResult:
    """Root document, health (418 = unhealthy) and ping (418 = draining): three GETs; then
    the task queue (two more) when the instance answered."""
    result = CheckResult(instance_id=instance.pk, answered=False)
    try:
        async with asyncio.timeout(float(settings.ODCM_SWEEP_TIMEOUT) * 2):
            client = _client(instance, http)
            root = await client.root()
            result.version = str(root.version)
            health = await client.health()
            result.healthy = health.ok
            result.health_description = (health.description or "")[:480]
            try:
                result.draining = not (await client.ping()).ok
            except NotFound:  # very old servers have no ping: nothing to drain
                result.draining = False
            result.answered = True
    except TimeoutError:
        result.error = "no answer within the sweep timeout"
    except OctopusError as exc:
        result.error = describe_error(exc)
    except Exception as exc:  # one odd server must not break the sweep of the others
        result.error = f"unexpected error: {type(exc).__name__}"
    if result.answered:
        # Apart from the status check: a slow or failing task list leaves the queue figures
        # as they were and never makes an answering instance look offline.
        try:
            async with asyncio.timeout(float(settings.ODCM_SWEEP_TIMEOUT)):
                result.queue = await read_queue(_client(instance, http))
        except Exception:
            result.queue = None
    return result


def check_instances(instances: Sequence[Instance]) -> list[CheckResult]:
    concurrency = int(settings.ODCM_SWEEP_CONCURRENCY)
    return asyncio.run(_bounded_map(instances, check_instance, concurrency))


# -- inventory -----------------------------------------------------------------------

# Counts read as ``TotalResults`` of the smallest page. The projects are listed in full
# instead (``/projects/all``, with ``/projectgroups/all`` for their groups' names): their
# number is the project count, and their names are what the search finds projects by.
INVENTORY = {
    "target_count": ("machines", {}),
    "unhealthy_target_count": ("machines", {"healthStatuses": "Unhealthy,Unavailable"}),
    "environment_count": ("environments", {}),
    "tenant_count": ("tenants", {}),
}
COUNTED = ("project_count", *INVENTORY)


async def list_projects(client: AsyncOctopusClient, octopus_id: str) -> list[ProjectRow]:
    """A space's projects, with their groups' names: two GETs, sent together."""
    projects, groups = await asyncio.gather(
        client.get_all(f"/api/{octopus_id}/projects"),
        client.get_all(f"/api/{octopus_id}/projectgroups"),
    )
    names = {str(g.get("Id")): str(g.get("Name") or "") for g in groups if isinstance(g, dict)}
    return [ProjectRow.from_doc(p, names) for p in projects if isinstance(p, dict)]


async def count_space(item: tuple[Instance, Any, str], http: Any) -> SpaceCounts:
    instance, space_pk, octopus_id = item
    out = SpaceCounts(space_id=space_pk)
    try:
        client = _client(instance, http)
        out.projects = await list_projects(client, octopus_id)
        out.counts["project_count"] = len(out.projects)
        for field_name, (collection, filters) in INVENTORY.items():
            out.counts[field_name] = await client.count(
                f"/api/{octopus_id}/{collection}", **filters
            )
    except OctopusError as exc:
        out.error = describe_error(exc)
    except Exception as exc:
        out.error = f"unexpected error: {type(exc).__name__}"
    return out


def count_spaces(items: Sequence[tuple[Instance, Any, str]]) -> list[SpaceCounts]:
    return asyncio.run(_bounded_map(items, count_space, int(settings.ODCM_SWEEP_CONCURRENCY)))


# -- deployments -----------------------------------------------------------------------

FINISHED_STATES = ("Success", "Failed", "Canceled", "TimedOut")
FINISHED = ",".join(FINISHED_STATES)


@dataclass
class PulledTask:
    task_id: str
    day: Any
    environment_id: str
    state: str
    duration_seconds: int
    completed: datetime


@dataclass
class SpacePull:
    space_id: Any
    tasks: list[PulledTask] = field(default_factory=list)
    error: str = ""


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


PAGE = 100


async def _all_pages(
    client: AsyncOctopusClient, path: str, params: dict[str, Any]
) -> list[dict[str, Any]]:
    """Page with explicit skip/take and our filters on every request: some servers'
    ``Page.Next`` links drop the query's filters."""
    items: list[dict[str, Any]] = []
    skip = 0
    while True:
        page = await client.get(path, {**params, "skip": skip, "take": PAGE})
        batch = list(page.get("Items") or [])
        items.extend(batch)
        skip += len(batch)
        if not batch or skip >= int(page.get("TotalResults") or 0):
            return items


async def pull_space(item: tuple[Instance, Any, str, datetime], http: Any) -> SpacePull:
    """Finished Deploy tasks completed since ``since``, with each deployment's environment."""
    instance, space_pk, octopus_id, since = item
    out = SpacePull(space_id=space_pk)
    try:
        client = _client(instance, http)
        params = {
            "name": "Deploy",
            "states": FINISHED,
            "fromCompletedDate": since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
            + "+00:00",
        }
        raw = await _all_pages(client, f"/api/{octopus_id}/tasks", params)
        by_deployment: dict[str, str] = {}
        ids = sorted({(t.get("Arguments") or {}).get("DeploymentId") or "" for t in raw} - {""})
        for start in range(0, len(ids), 100):
            chunk = ids[start : start + 100]
            page = await client.get(
                f"/api/{octopus_id}/deployments", {"ids": ",".join(chunk), "take": len(chunk)}
            )
            for dep in page.get("Items") or []:
                by_deployment[dep["Id"]] = dep.get("EnvironmentId") or ""
        for task in raw:
            queued = _when(task.get("QueueTime"))
            completed = _when(task.get("CompletedTime"))
            if queued is None or completed is None or str(task.get("State")) not in FINISHED_STATES:
                continue
            started = _when(task.get("StartTime"))
            duration = int((completed - started).total_seconds()) if started else 0
            dep_id = (task.get("Arguments") or {}).get("DeploymentId") or ""
            out.tasks.append(
                PulledTask(
                    task_id=str(task["Id"]),
                    day=queued.astimezone(UTC).date(),
                    environment_id=by_deployment.get(dep_id, ""),
                    state=str(task["State"]),
                    duration_seconds=max(0, duration),
                    completed=completed,
                )
            )
    except OctopusError as exc:
        out.error = describe_error(exc)
    except Exception as exc:
        out.error = f"unexpected error: {type(exc).__name__}"
    return out


def pull_spaces(items: Sequence[tuple[Instance, Any, str, datetime]]) -> list[SpacePull]:
    # Deployment pulls page through many results: a smaller fan-out keeps memory flat.
    concurrency = max(1, min(int(settings.ODCM_SWEEP_CONCURRENCY), 20))
    return asyncio.run(_bounded_map(items, pull_space, concurrency))
