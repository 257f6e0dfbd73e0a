"""Server tasks as typed statuses, and waiting for many tasks with one request per round.

:class:`TaskWaiter` is sans-IO: its :meth:`TaskWaiter.flow` yields the same
``Send``/``Sleep`` steps as a plain request, so the sync and async clients run it with
their usual loop. Each round asks for every unfinished task at once
(``tasks?ids=…&take=N``, in batches that keep the URL short) and then sleeps with a
growing, jittered delay.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import _responses as responses
from ._core import Flow, Sleep
from .errors import NotFound, TaskWaitTimedOut

if TYPE_CHECKING:
    from ._core import ClientCore

FINAL_STATES = frozenset({"Success", "Failed", "Canceled", "TimedOut"})


@dataclass(frozen=True)
class TaskStatus:
    """The parts of a ``ServerTask`` that say where it stands."""

    id: str
    state: str
    is_completed: bool
    finished_successfully: bool
    error_message: str = ""
    has_pending_interruptions: bool = False
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_resource(cls, body: Mapping[str, Any]) -> TaskStatus:
        state = str(body.get("State") or "")
        completed = body.get("IsCompleted")
        return cls(
            id=str(body.get("Id") or ""),
            state=state,
            is_completed=bool(completed) if completed is not None else state in FINAL_STATES,
            finished_successfully=bool(body.get("FinishedSuccessfully", state == "Success")),
            error_message=str(body.get("ErrorMessage") or ""),
            has_pending_interruptions=bool(body.get("HasPendingInterruptions")),
            raw=dict(body),
        )


@dataclass(frozen=True)
class PollPolicy:
    """How to wait: first delay, growth factor, longest delay, overall limit (seconds),
    and how many ids go in one request (Octopus pages lists, so ``take`` is set too)."""

    initial: float = 1.0
    factor: float = 1.5
    maximum: float = 10.0
    timeout: float = 3600.0
    batch: int = 100
    jitter: float = 0.1

    def __post_init__(self) -> None:
        if self.initial <= 0 or self.factor < 1 or self.maximum < self.initial:
            raise ValueError("poll delays must be positive and growing")
        if self.batch < 1:
            raise ValueError("batch must be at least 1")


def _batches(ids: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


class TaskWaiter:
    """Polls ``ids`` until every one is complete (or waits on an interruption)."""

    def __init__(
        self,
        core: ClientCore,
        ids: Iterable[str],
        *,
        space: str | None = None,
        policy: PollPolicy | None = None,
        until_interrupted: bool = False,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.core = core
        self.ids = list(dict.fromkeys(ids))
        if not self.ids:
            raise ValueError("no task ids to wait for")
        self.path = f"/api/{space}/tasks" if space else "/api/tasks"
        self.policy = policy or PollPolicy()
        self.until_interrupted = until_interrupted
        self.clock = clock
        self.rng = rng
        self.latest: dict[str, TaskStatus] = {}
        self.rounds = 0
        self.requests = 0

    def settled(self, status: TaskStatus) -> bool:
        return status.is_completed or (self.until_interrupted and status.has_pending_interruptions)

    def pending(self) -> list[str]:
        return [i for i in self.ids if i not in self.latest or not self.settled(self.latest[i])]

    def poll_once(self) -> Flow[None]:
        """One round: every pending task, ``batch`` ids per request."""
        self.rounds += 1
        for batch in _batches(self.pending(), self.policy.batch):
            params = {"ids": batch, "skip": 0, "take": len(batch)}
            call = self.core.call("GET", self.path, params=params)
            raw = yield from self.core.plan(call)
            self.requests += 1
            items = responses.parse_collection(raw, call.where)["Items"]
            seen = {str(item.get("Id")) for item in items if isinstance(item, dict)}
            for item in items:
                if isinstance(item, dict) and item.get("Id") in batch:
                    status = TaskStatus.from_resource(item)
                    self.latest[status.id] = status
            missing = [i for i in batch if i not in seen]
            if missing:
                raise NotFound(
                    f"The Octopus server at {self.core.base_url} knows no task "
                    f"{', '.join(missing[:5])} (asked with {call.where.label}). It may have "
                    "been deleted, or it belongs to another space.",
                    **call.where.ctx(raw.status_code),
                )

    def flow(self) -> Flow[dict[str, TaskStatus]]:
        deadline = self.clock() + self.policy.timeout
        delay = self.policy.initial
        while True:
            yield from self.poll_once()
            if not self.pending():
                return {i: self.latest[i] for i in self.ids}
            spread = 1 + self.policy.jitter * (2 * self.rng() - 1)
            wait = delay * spread
            if self.clock() + wait > deadline:
                left = self.pending()
                raise TaskWaitTimedOut(
                    f"{len(left)} of {len(self.ids)} tasks on the Octopus server at "
                    f"{self.core.base_url} were still running after "
                    f"{self.policy.timeout:g} s ({', '.join(left[:5])}).",
                    statuses=dict(self.latest),
                    base_url=self.core.base_url,
                )
            yield Sleep(wait)
            delay = min(self.policy.maximum, delay * self.policy.factor)
