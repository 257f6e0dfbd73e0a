"""The asynchronous Octopus client: a thin ``httpx.AsyncClient`` shell over ``ClientCore``."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

import httpx

from . import _responses as responses
from ._atyped import AsyncPipelineCalls
from ._core import (
    DEFAULT_MAX_RESPONSE_BYTES,
    BodyLimit,
    Call,
    ClientCore,
    Failure,
    Flow,
    Outcome,
    Params,
    T,
)
from ._core import Sleep as _Sleep
from ._net import make_async_http_client
from .errors import ServerError, URLNotAllowed, ValidationFailed
from .models import HealthStatus, PingStatus, RawResponse, RetryPolicy, RootDocument, Timeouts
from .packages import CHUNK_BYTES
from .policy import URLPolicy
from .secret import Secret


class AsyncOctopusClient(AsyncPipelineCalls):
    """Async twin of :class:`OctopusClient` (same arguments, same behaviour).

    The default transport is httpx-aiohttp with a policy-checking resolver. For sweeps
    over many servers build one shared client with :func:`octopus.make_async_http_client`
    (inside the event loop) and pass it as ``http`` to every ``AsyncOctopusClient``.

    ``base_url`` may include a virtual directory (``https://host/octo``); requests go to
    ``https://host/octo/api/...``. The URL is checked against ``policy`` now (statically)
    and at every connection (every resolved address). Pass ``http`` to share one
    ``httpx.Client`` (built with :func:`octopus.make_http_client`) between clients; it
    is then not closed by :meth:`close`.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | Secret,
        *,
        policy: URLPolicy | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        verify: bool | ssl.SSLContext = True,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self._core = ClientCore(
            base_url,
            api_key,
            policy=policy,
            timeouts=timeouts,
            retry=retry,
            max_response_bytes=max_response_bytes,
        )
        self._owns_http = http is None
        self._http = http or make_async_http_client(self._core.policy, verify=verify)

    @property
    def base_url(self) -> str:
        return self._core.base_url

    def __repr__(self) -> str:
        return f"AsyncOctopusClient(base_url={self.base_url!r})"

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncOctopusClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- generic JSON ----------------------------------------------------------------

    async def request_raw(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: Any = None,
        idempotent: bool | None = None,
        accept: frozenset[int] = frozenset(),
    ) -> RawResponse:
        """Send with retries; return the raw answer (2xx or a status in ``accept``)."""
        call = self._core.call(
            method, path, params=params, json=json, idempotent=idempotent, accept=accept
        )
        return await self._run(self._core.plan(call))

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: Any = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Send with retries and return the decoded JSON (``None`` for an empty body)."""
        call = self._core.call(method, path, params=params, json=json, idempotent=idempotent)
        return responses.decode_json(await self._run(self._core.plan(call)), call.where)

    async def get(self, path: str, params: Params | None = None) -> Any:
        """GET ``path`` (``"spaces"`` or ``"/api/spaces"``); query values go in ``params``."""
        return await self.request("GET", path, params=params)

    async def post(self, path: str, json: Any = None, *, idempotent: bool = False) -> Any:
        """POST; not retried once it may have reached the server unless ``idempotent``."""
        return await self.request("POST", path, json=json, idempotent=idempotent)

    async def put(self, path: str, json: Any = None) -> Any:
        return await self.request("PUT", path, json=json)

    async def delete(self, path: str) -> Any:
        return await self.request("DELETE", path)

    # -- typed helpers ---------------------------------------------------------------

    async def root(self) -> RootDocument:
        """``GET /api``: validates that this is Octopus; version and InstallationId."""
        call = self._core.call("GET", "/api", accept=frozenset({404}))
        return responses.parse_root(await self._run(self._core.plan(call)), call.where)

    async def health(self) -> HealthStatus:
        """``GET /api/serverstatus/health``: ``ok`` (200) or ``unhealthy`` (418)."""
        call = self._core.call("GET", "/api/serverstatus/health", accept=frozenset({418}))
        return responses.parse_health(await self._run(self._core.plan(call)), call.where)

    async def ping(self) -> PingStatus:
        """``GET /api/octopusservernodes/ping``: ``ok`` (200) or ``draining`` (418)."""
        call = self._core.call("GET", "/api/octopusservernodes/ping", accept=frozenset({418}))
        return responses.parse_ping(await self._run(self._core.plan(call)), call.where)

    async def paginate(
        self, path: str, params: Params | None = None, *, page_size: int | None = 100
    ) -> AsyncIterator[Any]:
        """Yield every item of a collection, following ``Links["Page.Next"]``."""
        pager = self._core.pager(path, params, page_size)
        while pager.next_call is not None:
            for item in pager.take(await self._run(self._core.plan(pager.next_call))):
                yield item

    async def get_all(self, path: str, params: Params | None = None) -> list[Any]:
        """``GET {path}/all``: the bare-array form (not every collection has one)."""
        call = self._core.call("GET", path.rstrip("/") + "/all", params=params)
        return responses.parse_array(await self._run(self._core.plan(call)), call.where)

    async def spaces(self) -> list[dict[str, Any]]:
        """Every space (all pages of ``/api/spaces``)."""
        return [space async for space in self.paginate("/api/spaces")]

    async def count(self, path: str, **filters: Any) -> int:
        """``TotalResults`` of a collection, fetched with the smallest page.

        Tries ``take=0`` first; if the server refuses it (400 or 500), falls back to
        ``take=1`` and remembers that for this client.
        """
        if self._core.take_zero_ok:
            call = self._core.count_call(path, filters, 0)
            try:
                return responses.parse_count(await self._run(self._core.plan(call)), call.where)
            except (ValidationFailed, ServerError) as exc:
                if exc.status_code not in (400, 500):
                    raise
                self._core.take_zero_ok = False
        call = self._core.count_call(path, filters, 1)
        return responses.parse_count(await self._run(self._core.plan(call)), call.where)

    # -- I/O -------------------------------------------------------------------------

    async def _run(self, plan: Flow[T]) -> T:
        try:
            step = next(plan)
            while True:
                if isinstance(step, _Sleep):
                    await asyncio.sleep(step.seconds)
                    step = plan.send(None)
                else:
                    step = plan.send(await self._attempt(step.request, step.call))
        except StopIteration as done:
            return done.value

    async def _attempt(self, request: httpx.Request, call: Call) -> Outcome:
        # The async client can enforce the overall deadline strictly, even while a read
        # is blocked (the sync client checks it between body chunks).
        if not self._core.deadline_applies(call):
            return await self._perform(request, call)
        try:
            async with asyncio.timeout(self._core.timeouts.total):
                return await self._perform(request, call)
        except TimeoutError:
            return self._core.too_slow(call)

    async def _perform(self, request: httpx.Request, call: Call) -> Outcome:
        # Errors are built inside the except blocks but returned (and raised) outside
        # them, so no httpx exception (which references the request and its headers)
        # ends up in __context__ of what the caller sees.
        failure: Failure | None = None
        body = self._core.body_limit()
        if call.upload is not None:
            request = httpx.Request(
                request.method,
                request.url,
                headers=request.headers,
                content=call.upload.achunks(),
                extensions=request.extensions,
            )
        try:
            response = await self._http.send(request, stream=True)
        except URLNotAllowed as exc:
            failure = self._core.policy_failure(exc, call)
        except httpx.HTTPError as exc:
            failure = self._core.transport_failure(exc, call)
        if failure is not None:
            return failure
        try:
            if call.download is not None and 200 <= response.status_code < 300:
                return await self._save(response, call)
            return await self._read(response, call, body)
        finally:
            await response.aclose()

    async def _save(self, response: httpx.Response, call: Call) -> Outcome:
        """Write a 2xx body into the call's download sink instead of memory."""
        sink = call.download
        assert sink is not None
        failure: Failure | None = None
        await asyncio.to_thread(sink.begin)
        pending = bytearray()  # the transport reads 16 KiB at a time; write in MiBs
        try:
            async for chunk in response.aiter_bytes():
                pending += chunk
                if len(pending) >= CHUNK_BYTES:
                    block, pending = pending, bytearray()
                    await asyncio.to_thread(sink.feed, block)
            if pending:
                await asyncio.to_thread(sink.feed, pending)
            await asyncio.to_thread(sink.received)  # the last MiB written before returning
        except httpx.HTTPError as exc:
            failure = self._core.transport_failure(exc, call)
        if failure is not None:
            return self._core.broken_download(failure, sink)
        return RawResponse(response.status_code, response.headers, b"")

    async def _read(self, response: httpx.Response, call: Call, body: BodyLimit) -> Outcome:
        if body.declared_too_large(response.headers):
            return self._core.too_large(call)
        failure: Failure | None = None
        try:
            async for chunk in response.aiter_bytes():
                if not body.feed(chunk):
                    return self._core.too_large(call)
                if body.expired() and self._core.deadline_applies(call):
                    return self._core.too_slow(call)
        except httpx.HTTPError as exc:
            failure = self._core.transport_failure(exc, call)
        if failure is not None:
            return failure
        return RawResponse(response.status_code, response.headers, body.content())
