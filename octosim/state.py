"""In-memory state of one virtual Octopus instance.

Ordinary resources (projects, environments, teams, ...) are kept as Octopus-shaped
dicts without their ``Links`` (those are rendered per response).  The bulky history
(releases, deployments, server tasks) is kept in slotted records so that a thousand
generated instances stay small; a task's ``State`` is derived from the clock, so
queued and executing work progresses without timers.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

Doc = dict[str, Any]

# Collections that live inside a space (``/api/{spaceId}/<name>``).
SPACE_COLLECTIONS = (
    "projects",
    "projectgroups",
    "environments",
    "machines",
    "lifecycles",
    "feeds",
    "tenants",
    "libraryvariablesets",
    "actiontemplates",
    "channels",
    "runbooks",
    "runbooksnapshots",
    "runbookruns",
    "tagsets",
    "workerpools",
    "git-credentials",
    "projecttriggers",
)
# Collections that live at system level (``/api/<name>``); teams and scoped user roles
# carry a ``SpaceId`` that may be null (system) or a space id.
SYSTEM_COLLECTIONS = ("users", "userroles", "teams", "scopeduserroles", "communityactiontemplates")

FINAL_STATES = ("Success", "Failed", "Canceled", "TimedOut")


class TaskRec:
    """A server task; ``state`` is computed from the planned start and completion."""

    __slots__ = (
        "id",
        "space_id",
        "name",
        "description",
        "deployment_id",
        "queue_time",
        "start_time",
        "complete_time",
        "final_state",
        "error",
        "project_id",
        "environment_id",
        "tenant_id",
    )

    def __init__(
        self,
        id: str,
        space_id: str | None,
        name: str,
        description: str,
        queue_time: float,
        start_time: float | None,
        complete_time: float | None,
        final_state: str,
        deployment_id: str | None = None,
        project_id: str | None = None,
        environment_id: str | None = None,
        tenant_id: str | None = None,
        error: str = "",
    ) -> None:
        self.id = id
        self.space_id = space_id
        self.name = name
        self.description = description
        self.deployment_id = deployment_id
        self.queue_time = queue_time
        self.start_time = start_time
        self.complete_time = complete_time
        self.final_state = final_state
        self.error = error
        self.project_id = project_id
        self.environment_id = environment_id
        self.tenant_id = tenant_id

    def state(self, now: float) -> str:
        if self.complete_time is not None and now >= self.complete_time:
            return self.final_state
        if self.start_time is not None and now >= self.start_time:
            return "Executing"
        return "Queued"

    def to_json(self) -> list[Any]:
        return [getattr(self, name) for name in self.__slots__]

    @classmethod
    def from_json(cls, values: list[Any]) -> TaskRec:
        return _restore(cls, values)


class ReleaseRec:
    """A release of a project (an immutable snapshot in Octopus)."""

    __slots__ = (
        "id", "space_id", "project_id", "channel_id", "version", "assembled", "notes", "snapshot",
    )  # fmt: skip

    def __init__(
        self,
        id: str,
        space_id: str,
        project_id: str,
        channel_id: str,
        version: str,
        assembled: float,
        notes: str = "",
        snapshot: Doc | None = None,
    ) -> None:
        self.id = id
        self.space_id = space_id
        self.project_id = project_id
        self.channel_id = channel_id
        self.version = version
        self.assembled = assembled
        self.notes = notes
        # made by the pipeline: {"process", "variables", "libraries", "packages"}; None for
        # generated history, whose snapshots are frozen lazily (octosim.snapshots)
        self.snapshot = snapshot

    def to_json(self) -> list[Any]:
        return [getattr(self, name) for name in self.__slots__]

    @classmethod
    def from_json(cls, values: list[Any]) -> ReleaseRec:
        return _restore(cls, values)


class DeploymentRec:
    """A deployment of a release to an environment; its task holds the outcome."""

    __slots__ = (
        "id",
        "space_id",
        "project_id",
        "environment_id",
        "release_id",
        "channel_id",
        "tenant_id",
        "task_id",
        "created",
        "deployed_by",
        "deployed_by_id",
        "options",
    )

    def __init__(
        self,
        id: str,
        space_id: str,
        project_id: str,
        environment_id: str,
        release_id: str,
        channel_id: str,
        tenant_id: str | None,
        task_id: str,
        created: float,
        deployed_by: str,
        deployed_by_id: str,
        options: Doc | None = None,
    ) -> None:
        self.id = id
        self.space_id = space_id
        self.project_id = project_id
        self.environment_id = environment_id
        self.release_id = release_id
        self.channel_id = channel_id
        self.tenant_id = tenant_id
        self.task_id = task_id
        self.created = created
        self.deployed_by = deployed_by
        self.deployed_by_id = deployed_by_id
        # what the request asked for: SkipActions, SpecificMachineIds, Comments, ...
        self.options = options

    def to_json(self) -> list[Any]:
        return [getattr(self, name) for name in self.__slots__]

    @classmethod
    def from_json(cls, values: list[Any]) -> DeploymentRec:
        return _restore(cls, values)


@dataclass
class InstanceState:
    """Everything one Octopus instance stores."""

    counters: dict[str, int] = field(default_factory=dict)
    spaces: dict[str, Doc] = field(default_factory=dict)
    # space id -> collection name -> id -> document
    space_docs: dict[str, dict[str, dict[str, Doc]]] = field(default_factory=dict)
    # system-level collections: name -> id -> document
    system: dict[str, dict[str, Doc]] = field(default_factory=dict)
    # variable set id -> document (sensitive values stored in clear, masked on output)
    variable_sets: dict[str, Doc] = field(default_factory=dict)
    releases: dict[str, ReleaseRec] = field(default_factory=dict)
    deployments: dict[str, DeploymentRec] = field(default_factory=dict)
    tasks: dict[str, TaskRec] = field(default_factory=dict)
    # action template id -> list of previous versions (documents)
    template_versions: dict[str, list[Doc]] = field(default_factory=dict)
    # built-in feed packages: "Spaces-1/packages-Acme.Web.1.0.0" -> metadata (bytes on disk)
    packages: dict[str, Doc] = field(default_factory=dict)
    # live deployment and runbook processes, created on first use (id -> document)
    processes: dict[str, Doc] = field(default_factory=dict)
    # frozen snapshots of processes and variable sets (id -> document), never changed
    frozen: dict[str, Doc] = field(default_factory=dict)
    # server task id -> its execution (steps, log, node); only tasks the engine runs
    runs: dict[str, Doc] = field(default_factory=dict)
    # manual interventions: id -> InterruptionResource fields
    interruptions: dict[str, Doc] = field(default_factory=dict)
    # tenant id -> {"ProjectVariables": ..., "LibraryVariables": ...} values as stored
    tenant_variables: dict[str, Doc] = field(default_factory=dict)
    # the configured size of generated content: {"projects": per space, "steps": per process}
    shape: dict[str, int] = field(default_factory=dict)
    # sensitive values of feeds and Git credentials: "<doc id>/<field path>" -> value
    # (documents carry only HasValue; octosim.sensitive keeps the values here)
    sensitive: dict[str, str] = field(default_factory=dict)
    # ids of runs not yet done (not saved: rebuilt from ``runs``), so that catching the
    # engine up before every request costs nothing when nothing is running
    active: set[str] = field(default_factory=set)

    def next_id(self, prefix: str) -> str:
        value = self.counters.get(prefix, 0) + 1
        self.counters[prefix] = value
        return f"{prefix}-{value}"

    def next_number(self, prefix: str) -> int:
        value = self.counters.get(prefix, 0) + 1
        self.counters[prefix] = value
        return value

    def add_space(self, doc: Doc) -> None:
        self.spaces[doc["Id"]] = doc
        self.space_docs[doc["Id"]] = {name: {} for name in SPACE_COLLECTIONS}

    def col(self, space_id: str, name: str) -> dict[str, Doc]:
        # setdefault: a state file written before a collection existed lacks it
        return self.space_docs[space_id].setdefault(name, {})

    def sys(self, name: str) -> dict[str, Doc]:
        return self.system.setdefault(name, {})

    def default_space_id(self) -> str | None:
        for doc in self.spaces.values():
            if doc.get("IsDefault"):
                return str(doc["Id"])
        return None

    def tasks_newest_first(self) -> list[TaskRec]:
        return sorted(self.tasks.values(), key=lambda t: (t.queue_time, _num(t.id)), reverse=True)

    def to_json(self) -> Doc:
        return {
            "counters": self.counters,
            "spaces": self.spaces,
            "space_docs": self.space_docs,
            "system": self.system,
            "variable_sets": self.variable_sets,
            "releases": [r.to_json() for r in self.releases.values()],
            "deployments": [d.to_json() for d in self.deployments.values()],
            "tasks": [t.to_json() for t in self.tasks.values()],
            "template_versions": self.template_versions,
            "packages": self.packages,
            "processes": self.processes,
            "frozen": self.frozen,
            "runs": self.runs,
            "interruptions": self.interruptions,
            "tenant_variables": self.tenant_variables,
            "shape": self.shape,
            "sensitive": self.sensitive,
        }

    @classmethod
    def from_json(cls, data: Doc) -> InstanceState:
        st = cls(
            counters=data["counters"],
            spaces=data["spaces"],
            space_docs=data["space_docs"],
            system=data["system"],
            variable_sets=data["variable_sets"],
            template_versions=data.get("template_versions", {}),
            packages=data.get("packages", {}),
            processes=data.get("processes", {}),
            frozen=data.get("frozen", {}),
            runs=data.get("runs", {}),
            interruptions=data.get("interruptions", {}),
            tenant_variables=data.get("tenant_variables", {}),
            shape=data.get("shape", {}),
            sensitive=data.get("sensitive", {}),
        )
        st.active = {tid for tid, run in st.runs.items() if not run.get("done")}
        for values in data["releases"]:
            rel = ReleaseRec.from_json(values)
            st.releases[rel.id] = rel
        for values in data["deployments"]:
            dep = DeploymentRec.from_json(values)
            st.deployments[dep.id] = dep
        for values in data["tasks"]:
            task = TaskRec.from_json(values)
            st.tasks[task.id] = task
        return st


R = TypeVar("R", TaskRec, ReleaseRec, DeploymentRec)


def _restore(cls: type[R], values: list[Any]) -> R:
    """A record from its JSON list; fields added since the file was written get None."""
    rec = cls.__new__(cls)
    padded = list(values) + [None] * (len(cls.__slots__) - len(values))
    for name, value in zip(cls.__slots__, padded, strict=True):
        setattr(rec, name, value)
    return rec


def _num(ident: str) -> int:
    tail = ident.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0


_clock: list[float | None] = [None]


def now() -> float:
    """The simulator's clock: real time, except while ``clock_at`` replays the past."""
    fixed = _clock[0]
    return time.time() if fixed is None else fixed


@contextmanager
def clock_at(moment: float) -> Iterator[None]:
    """Run the pipeline as if it were ``moment`` (seeding history through the pipeline
    itself); single-threaded callers only, which the asyncio server is."""
    previous = _clock[0]
    _clock[0] = moment
    try:
        yield
    finally:
        _clock[0] = previous
