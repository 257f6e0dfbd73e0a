"""The synchronous Octopus client: a thin ``httpx.Client`` shell over ``ClientCore``."""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from types import TracebackType
from typing import Any

import httpx

from . import _responses as responses
from ._core import (
    DEFAULT_MAX_RESPONSE_BYTES,
    BodyLimit,
    Call,
    ClientCore,
    Failure,
    Flow,
    Outcome,
    Params,
    Plan,
    T,
)
from ._core import Sleep as _Sleep
from ._net import make_http_client
from ._typed import PipelineCalls
from .errors import ServerError, UnexpectedResponse, URLNotAllowed, ValidationFailed
from .models import HealthStatus, PingStatus, RawResponse, RetryPolicy, RootDocument, Timeouts
from .packages import Hasher
from .pipeline import sp
from .policy import URLPolicy
from .secret import Secret


class OctopusClient(PipelineCalls):
    """Talks to one Octopus server. Use as a context manager or call :meth:`close`.

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
        http: httpx.Client | None = None,
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
        self._http = http or make_http_client(self._core.policy, verify=verify)

    @property
    def base_url(self) -> str:
        return self._core.base_url

    def __repr__(self) -> str:
        return f"OctopusClient(base_url={self.base_url!r})"

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> OctopusClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- generic JSON ----------------------------------------------------------------

    def request_raw(
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
        return self._run(self._core.plan(call))

    def request(
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
        return responses.decode_json(self._run(self._core.plan(call)), call.where)

    def get(self, path: str, params: Params | None = None) -> Any:
        """GET ``path`` (``"spaces"`` or ``"/api/spaces"``); query values go in ``params``."""
        return self.request("GET", path, params=params)

    def post(self, path: str, json: Any = None, *, idempotent: bool = False) -> Any:
        """POST; not retried once it may have reached the server unless ``idempotent``."""
        return self.request("POST", path, json=json, idempotent=idempotent)

    def put(self, path: str, json: Any = None) -> Any:
        return self.request("PUT", path, json=json)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    # -- typed helpers ---------------------------------------------------------------

    def root(self) -> RootDocument:
        """``GET /api``: validates that this is Octopus; version and InstallationId."""
        call = self._core.call("GET", "/api", accept=frozenset({404}))
        return responses.parse_root(self._run(self._core.plan(call)), call.where)

    def health(self) -> HealthStatus:
        """``GET /api/serverstatus/health``: ``ok`` (200) or ``unhealthy`` (418)."""
        call = self._core.call("GET", "/api/serverstatus/health", accept=frozenset({418}))
        return responses.parse_health(self._run(self._core.plan(call)), call.where)

    def ping(self) -> PingStatus:
        """``GET /api/octopusservernodes/ping``: ``ok`` (200) or ``draining`` (418)."""
        call = self._core.call("GET", "/api/octopusservernodes/ping", accept=frozenset({418}))
        return responses.parse_ping(self._run(self._core.plan(call)), call.where)

    def paginate(
        self, path: str, params: Params | None = None, *, page_size: int | None = 100
    ) -> Iterator[Any]:
        """Yield every item of a collection, following ``Links["Page.Next"]``."""
        pager = self._core.pager(path, params, page_size)
        while pager.next_call is not None:
            yield from pager.take(self._run(self._core.plan(pager.next_call)))

    def get_all(self, path: str, params: Params | None = None) -> list[Any]:
        """``GET {path}/all``: the bare-array form (not every collection has one)."""
        call = self._core.call("GET", path.rstrip("/") + "/all", params=params)
        return responses.parse_array(self._run(self._core.plan(call)), call.where)

    def spaces(self) -> list[dict[str, Any]]:
        """Every space (all pages of ``/api/spaces``)."""
        return list(self.paginate("/api/spaces"))

    def revoke_user_sessions(self, user: dict[str, Any]) -> bool:
        """End every web session of the Octopus ``user`` (a user resource): ``PUT`` its
        ``RevokeSessions`` link, as Octopus.Client's ``UserRepository.RevokeSessions`` does
        (Octopus 2022.1 and later). False when the server offers no such link (older
        versions): nothing was ended. API keys are not sessions: they keep working."""
        link = (user.get("Links") or {}).get("RevokeSessions")
        if not link:
            return False
        where = responses.Where(self.base_url, "PUT", f"RevokeSessions of {user.get('Id')}")
        # A link may carry a URI template tail, and the server's virtual directory.
        call = self._core.follow_link(str(link).split("{", 1)[0], where, method="PUT")
        self._run(self._core.plan(call))
        return True

    def count(self, path: str, **filters: Any) -> int:
        """``TotalResults`` of a collection, fetched with the smallest page.

        Tries ``take=0`` first; if the server refuses it (400 or 500), falls back to
        ``take=1`` and remembers that for this client.
        """
        if self._core.take_zero_ok:
            call = self._core.count_call(path, filters, 0)
            try:
                return responses.parse_count(self._run(self._core.plan(call)), call.where)
            except (ValidationFailed, ServerError) as exc:
                if exc.status_code not in (400, 500):
                    raise
                self._core.take_zero_ok = False
        call = self._core.count_call(path, filters, 1)
        return responses.parse_count(self._run(self._core.plan(call)), call.where)

    def iter_package(
        self, space: str, package_id: str, *, expected_sha1: str | None = None
    ) -> Iterator[bytes]:
        """A package's bytes as they arrive, for a caller that relays them (ODCM's package
        endpoint between two ODCMs) rather than keeping them: no file, no thread, nothing
        held. Connecting is retried like any GET; once bytes flow, a broken connection
        raises (what was relayed cannot be taken back). With ``expected_sha1`` the last
        chunk is followed by the check: a mismatch raises :class:`UnexpectedResponse`, so
        a relay breaks off before it completes."""
        call = self._core.call("GET", sp(space, "packages", package_id, "raw"))
        response = self._open(self._core.plan(call))
        hasher = Hasher(sha256=False)
        failure: Failure | None = None
        held = b""  # the latest chunk, passed on only once the next one (or the check) is in
        try:
            for chunk in response.iter_bytes():
                hasher.feed(chunk)
                if held:
                    yield held
                held = chunk
        except httpx.HTTPError as exc:
            failure = self._core.transport_failure(exc, call)
        finally:
            response.close()
        if failure is not None:
            raise failure.error
        received = hasher.digests().sha1
        if expected_sha1 and received != expected_sha1.lower():
            raise UnexpectedResponse(
                f"{call.where.label} on the Octopus server at {self.base_url} sent bytes with "
                f"SHA-1 {received}, not the package's {expected_sha1.lower()}; the last of "
                "them were not passed on.",
                **call.where.ctx(200),
            )
        if held:
            yield held

    # -- I/O -------------------------------------------------------------------------

    def _open(self, plan: Plan) -> httpx.Response:
        """Run ``plan`` until a 2xx answer's head arrives and return it unread (the caller
        streams the body and closes it); any other outcome goes back to the plan, which
        retries or raises as for every call."""
        step = next(plan)
        while True:
            if isinstance(step, _Sleep):
                time.sleep(step.seconds)
                step = plan.send(None)
                continue
            call = step.call
            failure: Failure | None = None
            try:
                response = self._http.send(step.request, stream=True)
            except URLNotAllowed as exc:
                failure = self._core.policy_failure(exc, call)
            except httpx.HTTPError as exc:
                failure = self._core.transport_failure(exc, call)
            outcome: Outcome
            if failure is not None:
                outcome = failure
            elif 200 <= response.status_code < 300:
                return response
            else:
                try:
                    outcome = self._read(response, call, self._core.body_limit())
                finally:
                    response.close()
            try:
                step = plan.send(outcome)
            except StopIteration:  # an accepted non-2xx status: none is, for a download
                raise UnexpectedResponse(
                    f"{call.where.label} on the Octopus server at {self.base_url} answered "
                    "without the package.",
                    **call.where.ctx(),
                ) from None

    def _run(self, plan: Flow[T]) -> T:
        try:
            step = next(plan)
            while True:
                if isinstance(step, _Sleep):
                    time.sleep(step.seconds)
                    step = plan.send(None)
                else:
                    step = plan.send(self._perform(step.request, step.call))
        except StopIteration as done:
            return done.value

    def _perform(self, request: httpx.Request, call: Call) -> Outcome:
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
                content=call.upload.chunks(),
                extensions=request.extensions,
            )
        try:
            response = self._http.send(request, stream=True)
        except URLNotAllowed as exc:
            failure = self._core.policy_failure(exc, call)
        except httpx.HTTPError as exc:
            failure = self._core.transport_failure(exc, call)
        if failure is not None:
            return failure
        try:
            if call.download is not None and 200 <= response.status_code < 300:
                return self._save(response, call)
            return self._read(response, call, body)
        finally:
            response.close()

    def _save(self, response: httpx.Response, call: Call) -> Outcome:
        """Write a 2xx body into the call's download sink instead of memory."""
        sink = call.download
        assert sink is not None
        failure: Failure | None = None
        sink.begin()
        try:
            for chunk in response.iter_bytes():
                sink.feed(chunk)
        except httpx.HTTPError as exc:
            failure = self._core.transport_failure(exc, call)
        if failure is not None:
            return self._core.broken_download(failure, sink)
        return RawResponse(response.status_code, response.headers, b"")

    def _read(self, response: httpx.Response, call: Call, body: BodyLimit) -> Outcome:
        if body.declared_too_large(response.headers):
            return self._core.too_large(call)
        failure: Failure | None = None
        try:
            for chunk in response.iter_bytes():
                if not body.feed(chunk):
                    return self._core.too_large(call)
                if body.expired() and self._core.deadline_applies(call):
                    return self._core.too_slow(call)
        except httpx.HTTPError as exc:
            failure = self._core.transport_failure(exc, call)
        if failure is not None:
            return failure
        return RawResponse(response.status_code, response.headers, body.content())
