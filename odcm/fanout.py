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
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
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

    def __init__(
        self, client: AsyncOctopusClient, loop: asyncio.AbstractEventLoop, slots: asyncio.Semaphore
    ) -> None:
        self._client = client
        self._loop = loop
        self._slots = slots

    @property
    def base_url(self) -> str:
        return self._client.base_url

    def _call(self, make: Callable[[], Awaitable[T]]) -> T:
        async def bounded() -> T:
            async with self._slots:
                return await make()

        # No timeout here: the async client enforces its own connect/read/total deadlines.
        return asyncio.run_coroutine_threadsafe(bounded(), self._loop).result()

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
    bridges = {
        pk: BridgedClient(
            AsyncOctopusClient(url, key, policy=policy, timeouts=limits, http=http),
            loop,
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
