"""Many Octopus calls at once from one worker process, never more than a few per server.

A fan-out (a revision written into hundreds of subscriber spaces, grants pushed into the teams
of hundreds of spaces) spends its time waiting on Octopus. One job at a time per worker process
made 500 deliveries at 50 ms take ~18 s. Here every job's code stays ordinary synchronous code
(a sharing kind, the team push) and runs in a thread, while every request it makes goes to one
asyncio loop over one shared httpx-aiohttp pool (``octopus.AsyncOctopusClient``, as the status
sweep does). So:

* up to ``ODCM_FANOUT_CONCURRENCY`` jobs run at once in a process (threads that only wait);
* at most ``ODCM_OCTOPUS_PER_INSTANCE_CONCURRENCY`` requests are in flight to any one Octopus
  server from this process (a semaphore per instance), so a fan-out never floods one server.

Jobs must not touch the database (they run in threads; Django would open one connection per
thread): callers read and claim rows before, and record outcomes after, in their own thread.
A job's exception is returned in its place, never raised, so one bad server cannot stop the
others.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from types import TracebackType
from typing import Any, TypeVar

from django.conf import settings

from octopus import AsyncOctopusClient, Secret, make_async_http_client
from odcm.clients import instance_api_key, timeouts, url_policy

R = TypeVar("R")
T = TypeVar("T")


class BridgedClient:
    """A synchronous Octopus client for code running in a fan-out thread: each call is sent
    on the fan-out's event loop through an ``AsyncOctopusClient`` and waits for its answer,
    holding one of the instance's request slots while it is in flight."""

    def __init__(self, client: AsyncOctopusClient, inbox: _Inbox, slots: asyncio.Semaphore) -> None:
        self._client = client
        self._inbox = inbox
        self._slots = slots

    @property
    def base_url(self) -> str:
        return self._client.base_url

    def _call(self, make: Callable[[], Awaitable[T]]) -> T:
        async def bounded() -> T:
            async with self._slots:
                return await make()

        # What asyncio.run_coroutine_threadsafe does, with less work per request (it cost a
        # good share of a delivery's CPU): the loop is woken once for all the requests sent
        # meanwhile (_Inbox), and this thread waits on a plain lock the task releases when
        # done. No timeout here: the async client enforces its own connect/read/total
        # deadlines.
        done = threading.Lock()
        done.acquire()
        ended: list[asyncio.Task[T] | BaseException] = []

        def finished(task: asyncio.Task[T] | BaseException) -> None:
            ended.append(task)
            done.release()

        def start(loop: asyncio.AbstractEventLoop | None) -> None:
            if loop is None:
                finished(RuntimeError("the fan-out's event loop has closed"))
                return
            try:
                task = loop.create_task(bounded())
            except BaseException as exc:  # never leave the thread waiting
                finished(exc)
                return
            task.add_done_callback(finished)

        self._inbox.put(start)
        done.acquire()
        outcome = ended[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome.result()

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self._call(lambda: self._client.get(path, params=params))

    def post(self, path: str, json: Any = None, *, idempotent: bool = False) -> Any:
        return self._call(lambda: self._client.post(path, json, idempotent=idempotent))

    def put(self, path: str, json: Any = None) -> Any:
        return self._call(lambda: self._client.put(path, json))

    def delete(self, path: str) -> Any:
        return self._call(lambda: self._client.delete(path))

    def get_all(self, path: str, params: dict[str, Any] | None = None) -> list[Any]:
        return self._call(lambda: self._client.get_all(path, params))

    def paginate(
        self, path: str, params: dict[str, Any] | None = None, *, page_size: int | None = 100
    ) -> Iterator[Any]:
        async def every() -> list[Any]:
            return [x async for x in self._client.paginate(path, params, page_size=page_size)]

        # One page at a time, all of them before the caller sees the first item: the
        # collections paged here (teams, scoped roles of a team) are small.
        yield from self._call(every)

    # ``with client:`` as with the sync client; the fan-out owns the connections.
    def __enter__(self) -> BridgedClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


class _Inbox:
    """Work for the event loop from the fan-out's threads. ``call_soon_threadsafe`` wakes the
    loop (a write to its self-pipe) on every call; here one wake-up takes every item put
    before the loop gets to it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._items: list[Callable[[asyncio.AbstractEventLoop | None], None]] = []

    def put(self, item: Callable[[asyncio.AbstractEventLoop | None], None]) -> None:
        """Run ``item(loop)`` on the loop soon; ``item(None)`` here if the loop has closed."""
        with self._lock:
            self._items.append(item)
            if len(self._items) > 1:
                return  # a wake-up is already on its way for the first item
        try:
            self._loop.call_soon_threadsafe(self._drain)
        except RuntimeError:  # the loop has closed: nothing queued here will run
            for item in self._take():
                item(None)

    def _take(self) -> list[Callable[[asyncio.AbstractEventLoop | None], None]]:
        with self._lock:
            items, self._items = self._items, []
        return items

    def _drain(self) -> None:
        for item in self._take():
            item(self._loop)


Job = tuple[Any, Callable[[BridgedClient], R]]


def pack(groups: Sequence[Sequence[T]], size: int) -> list[list[T]]:
    """Split work into batches (one Celery task each) of at most ``size`` items, keeping each
    group (an instance's subscriptions or spaces) in one batch when it fits, so one task
    holds all of an instance's requests and its per-instance limit holds. A group larger
    than ``size`` is cut. Batches are filled evenly (the largest part into the emptiest
    batch it fits in), so the worker processes share the work."""
    size = max(1, size)
    parts = [list(g[i : i + size]) for g in groups for i in range(0, len(g), size)]
    total = sum(len(p) for p in parts)
    batches: list[list[T]] = [[] for _ in range(-(-total // size))]
    for part in sorted(parts, key=len, reverse=True):
        fits = [b for b in batches if len(b) + len(part) <= size]
        if fits:
            min(fits, key=len).extend(part)
        else:
            batches.append(list(part))
    return [b for b in batches if b]


# Measured on a fan-out of a 200-variable set: with the default threshold (a young-generation
# collection every 700 allocations) the cyclic garbage collector ran ~250 times per batch of
# 120 deliveries, each time walking every document still in flight (100 deliveries' worth),
# and took half of the worker's CPU per delivery. The documents are trees that reference
# counting frees; cycles (a failed request's traceback) are still collected, less often.
FANOUT_GC_THRESHOLD = 10_000
_gc_lock = threading.Lock()
_gc_runs = 0
_gc_saved: tuple[int, int, int] | None = None


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Collect the young generation every ``FANOUT_GC_THRESHOLD`` allocations (not 700) while
    the block runs; the previous thresholds come back when the last such block in the
    process ends."""
    global _gc_runs, _gc_saved
    with _gc_lock:
        if _gc_runs == 0:
            _gc_saved = gc.get_threshold()
            gc.set_threshold(max(_gc_saved[0], FANOUT_GC_THRESHOLD), *_gc_saved[1:])
        _gc_runs += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_runs -= 1
            if _gc_runs == 0 and _gc_saved is not None:
                gc.set_threshold(*_gc_saved)
                _gc_saved = None


def run(
    jobs: Sequence[Job[R]],
    *,
    concurrency: int | None = None,
    per_instance: int | None = None,
) -> list[R | BaseException]:
    """Run ``jobs`` (an enlisted instance and a function of a client for it) concurrently;
    the results (or exceptions) in the order of ``jobs``. Blocks until all are done."""
    if not jobs:
        return []
    concurrency = int(concurrency or settings.ODCM_FANOUT_CONCURRENCY)
    per_instance = int(per_instance or settings.ODCM_OCTOPUS_PER_INSTANCE_CONCURRENCY)
    # Keys are opened here, in the caller's thread, before the loop runs (no database or
    # crypto work inside the loop).
    keys: dict[Any, tuple[str, Secret]] = {}
    for instance, _fn in jobs:
        if instance.pk not in keys:
            keys[instance.pk] = (instance.base_url, instance_api_key(instance))

    def main() -> list[R | BaseException]:
        with fewer_collections():
            return asyncio.run(_run(jobs, keys, max(1, concurrency), max(1, per_instance)))

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return main()
    # An event loop already runs in this thread (an async caller, or a test driving a browser
    # with Playwright's sync API): asyncio.run() refuses to nest, so ours gets its own thread.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(main).result()


async def _run(
    jobs: Sequence[Job[R]],
    keys: dict[Any, tuple[str, Secret]],
    concurrency: int,
    per_instance: int,
) -> list[R | BaseException]:
    loop = asyncio.get_running_loop()
    policy, limits = url_policy(), timeouts()
    http = make_async_http_client(policy, max_connections=max(10, concurrency))
    inbox = _Inbox(loop)
    bridges = {
        pk: BridgedClient(
            AsyncOctopusClient(url, key, policy=policy, timeouts=limits, http=http),
            inbox,
            asyncio.Semaphore(per_instance),
        )
        for pk, (url, key) in keys.items()
    }

    def call(fn: Callable[[BridgedClient], R], bridge: BridgedClient) -> R | BaseException:
        try:
            return fn(bridge)
        except Exception as exc:  # returned to the caller, who records it per job
            return exc

    pool = ThreadPoolExecutor(
        max_workers=min(concurrency, len(jobs)), thread_name_prefix="odcm-fanout"
    )
    try:
        pending = [
            loop.run_in_executor(pool, call, fn, bridges[instance.pk]) for instance, fn in jobs
        ]
        return list(await asyncio.gather(*pending))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        await http.aclose()
