"""The sans-IO core shared by the sync and async clients.

It builds requests (paths, virtual directory, API key header, timeouts), decides retries
and backoff, follows paging links and turns answers into typed results or errors. It
never does I/O itself: :meth:`ClientCore.plan` is a generator that yields
:class:`Send` and :class:`Sleep` steps; the thin shells in ``client.py`` and
``aclient.py`` perform them with ``httpx.Client``/``time.sleep`` or
``httpx.AsyncClient``/``asyncio.sleep`` and send the outcome back.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from . import _json
from . import _responses as responses
from ._net import TransportProblem, triage
from .errors import (
    OctopusError,
    ResponseTooLarge,
    ServerTimeout,
    ServerUnavailable,
    TLSError,
    UnexpectedResponse,
    URLNotAllowed,
)
from .models import RawResponse, RetryPolicy, Timeouts
from .packages import DownloadSink, MultipartUpload
from .policy import URLPolicy
from .secret import Secret

logger = logging.getLogger("octopus.client")

API_KEY_HEADER = "X-Octopus-ApiKey"
DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
MAX_PAGES = 100_000

Params = Mapping[str, Any]

# httpx masks Authorization in Headers reprs; mask the Octopus key header as well.
httpx._models.SENSITIVE_HEADERS.add(API_KEY_HEADER.lower())


@dataclass(frozen=True)
class Call:
    """One logical request (it may be sent several times)."""

    method: str
    url: str
    where: responses.Where
    params: tuple[tuple[str, str], ...] = ()
    json: Any = None
    idempotent: bool = True
    accept: frozenset[int] = frozenset()
    # Streaming bodies: the shells send ``upload`` chunk by chunk and write a 2xx answer
    # into ``download`` instead of collecting it (neither is held in memory).
    upload: MultipartUpload | None = field(default=None, compare=False)
    download: DownloadSink | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Send:
    request: httpx.Request
    call: Call


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Failure:
    """A request that got no usable answer; ``error`` is raised if it is not retried."""

    error: OctopusError
    retryable: bool
    maybe_sent: bool


Outcome = RawResponse | Failure
T = TypeVar("T")
# A plan yields I/O steps and returns its result; typed calls chain several plans.
Flow = Generator[Send | Sleep, Outcome | None, T]
Plan = Flow[RawResponse]


@dataclass
class BodyLimit:
    """Collects a streamed body, refusing more than ``limit`` bytes or after ``deadline``."""

    limit: int
    deadline: float = float("inf")  # time.monotonic() value
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0

    def expired(self) -> bool:
        return time.monotonic() > self.deadline

    def declared_too_large(self, headers: httpx.Headers) -> bool:
        declared = headers.get("content-length", "")
        return declared.isdigit() and int(declared) > self.limit

    def feed(self, chunk: bytes) -> bool:
        """Add a chunk; ``False`` once the body is over the limit."""
        self.size += len(chunk)
        if self.size > self.limit:
            return False
        self.chunks.append(chunk)
        return True

    def content(self) -> bytes:
        return b"".join(self.chunks)


class ClientCore:
    """Configuration plus every decision the clients make; no I/O."""

    def __init__(
        self,
        base_url: str,
        api_key: str | Secret,
        *,
        policy: URLPolicy | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        user_agent: str = "ODCM (octopus client)",
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.policy = policy or URLPolicy()
        self.target = self.policy.check_static(base_url)
        self.base_url = self.target.url
        self._key = Secret.coerce(api_key)
        if not self._key:
            raise ValueError("an Octopus API key is required")
        self.timeouts = timeouts or Timeouts()
        self._timeout_extension = self.timeouts.as_httpx().as_dict()
        self.retry = retry or RetryPolicy()
        self.max_response_bytes = max_response_bytes
        self.user_agent = user_agent
        self._rng = rng
        self.take_zero_ok = True  # cleared if a server refuses take=0 in count()

    # -- requests --------------------------------------------------------------------

    def api_path(self, path: str) -> str:
        """Normalise ``"spaces"``, ``"/api/spaces"``, ``"api/spaces"`` to ``/api/spaces``."""
        if "://" in path or path.startswith("//") or "\\" in path or "?" in path:
            raise ValueError(f"{path!r} must be a path under /api (pass params separately)")
        if any(part in (".", "..") for part in path.split("/")):
            raise ValueError(f"{path!r} must not contain . or .. segments")
        bare = path.lstrip("/")
        if bare == "api" or bare.startswith("api/"):
            return "/" + bare
        return "/api/" + bare

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: Any = None,
        idempotent: bool | None = None,
        accept: frozenset[int] = frozenset(),
        upload: MultipartUpload | None = None,
        download: DownloadSink | None = None,
    ) -> Call:
        method = method.upper()
        api_path = self.api_path(path)
        return Call(
            method=method,
            url=self.target.origin + self.target.path + api_path,
            where=responses.Where(self.base_url, method, api_path),
            params=encode_params(params),
            json=json,
            idempotent=method in IDEMPOTENT_METHODS if idempotent is None else idempotent,
            accept=accept,
            upload=upload,
            download=download,
        )

    def build_request(self, call: Call) -> httpx.Request:
        headers = {
            API_KEY_HEADER: self._key.reveal(),
            "Accept": "application/json",
            "User-Agent": self.user_agent,
        }
        content = None
        if call.upload is not None:
            # The shell attaches the streamed body; its length is known up front.
            headers.update(call.upload.headers())
        elif call.json is not None:
            # Written here (orjson) rather than by httpx's ``json=`` (the json module).
            headers["Content-Type"] = "application/json"
            content = _json.dumps(call.json)
        return httpx.Request(
            call.method,
            call.url,
            params=list(call.params) or None,
            headers=headers,
            content=content,
            extensions={"timeout": self._timeout_extension},
        )

    # -- the retry plan --------------------------------------------------------------

    def plan(self, call: Call) -> Plan:
        """Send ``call``, retrying as :class:`RetryPolicy` says; return the answer or raise."""
        attempt = 0
        while True:
            outcome = yield Send(self.build_request(call), call)
            assert outcome is not None
            delay = self.retry_delay(call, outcome, attempt)
            if delay is None:
                return self.finish(call, outcome)
            logger.warning(
                "Retrying %s on %s in %.2fs after %s (retry %d of %d)",
                call.where.label,
                self.base_url,
                delay,
                _outcome_label(outcome),
                attempt + 1,
                self.retry.max_retries,
            )
            yield Sleep(delay)
            attempt += 1

    def retry_delay(self, call: Call, outcome: Outcome, attempt: int) -> float | None:
        """Seconds to wait before sending ``call`` again, or ``None`` to stop."""
        if attempt >= self.retry.max_retries:
            return None
        if isinstance(outcome, Failure):
            if not outcome.retryable or (outcome.maybe_sent and not call.idempotent):
                return None
            return self.backoff(attempt)
        status = outcome.status_code
        if status in call.accept or status not in self.retry.retry_statuses:
            return None
        if not call.idempotent and status != 429:
            return None
        wait = responses.retry_after_seconds(outcome.headers)
        if wait is not None and status in (429, 503):
            if wait > self.retry.max_retry_after:
                return None
            return wait + self._rng() * min(1.0, 0.1 * wait)
        return self.backoff(attempt)

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with "equal jitter": half fixed, half random."""
        ceiling = min(self.retry.max_backoff, self.retry.backoff * (2**attempt))
        return ceiling / 2 + self._rng() * ceiling / 2

    def finish(self, call: Call, outcome: Outcome) -> RawResponse:
        if isinstance(outcome, Failure):
            raise outcome.error
        if 200 <= outcome.status_code < 300 or outcome.status_code in call.accept:
            return outcome
        raise responses.error_for(outcome, call.where)

    # -- transport outcomes ----------------------------------------------------------

    def transport_failure(self, exc: BaseException, call: Call) -> Failure:
        """Turn an httpx exception into a typed error, keeping no reference to it."""
        problem = triage(exc)
        # A certificate problem will not fix itself in a second; everything else might.
        retryable = problem.kind != "tls"
        return Failure(self._transport_error(problem, call), retryable, problem.maybe_sent)

    def _transport_error(self, problem: TransportProblem, call: Call) -> OctopusError:
        ctx = call.where.ctx()
        server = f"the Octopus server at {self.base_url}"
        upper = "T" + server[1:]
        label = call.where.label
        if problem.kind == "tls":
            return TLSError(
                f"The TLS connection to {server} failed ({problem.detail}) during {label}. Its "
                "certificate must be valid for the host name and issued by a trusted CA.",
                **ctx,
            )
        if problem.kind == "connect_timeout":
            return ServerTimeout(
                f"Could not connect to {server} within {self.timeouts.connect:g} s ({label}). "
                "Check that it is running and reachable from ODCM.",
                **ctx,
            )
        if problem.kind == "read_timeout":
            return ServerTimeout(
                f"{upper} did not answer {label} within "
                f"{self.timeouts.read:g} s. It may be overloaded or stuck; try again later.",
                **ctx,
            )
        if problem.kind == "connect":
            return ServerUnavailable(
                f"Could not connect to {server} ({problem.detail}) for {label}. Check that it "
                "is running and that the URL is right.",
                **ctx,
            )
        return ServerUnavailable(
            f"The connection to {server} broke during {label} ({problem.detail}). Try again later.",
            **ctx,
        )

    def policy_failure(self, exc: URLNotAllowed, call: Call) -> Failure:
        error = URLNotAllowed(exc.reason, url=self.base_url)
        error.method, error.path = call.method, call.where.path
        return Failure(error, retryable=False, maybe_sent=False)

    def too_large(self, call: Call) -> Failure:
        limit_mib = self.max_response_bytes / (1024 * 1024)
        error = ResponseTooLarge(
            f"The answer of the Octopus server at {self.base_url} to {call.where.label} is "
            f"larger than ODCM's limit of {limit_mib:g} MiB; it was not read. Ask for smaller "
            "pages or raise the response size limit.",
            limit=self.max_response_bytes,
            **call.where.ctx(),
        )
        return Failure(error, retryable=False, maybe_sent=True)

    def broken_download(self, failure: Failure, sink: DownloadSink) -> Failure:
        """A download that broke mid-body is retried only if the sink can start again."""
        if sink.restartable():
            return failure
        return Failure(failure.error, retryable=False, maybe_sent=True)

    def deadline_applies(self, call: Call) -> bool:
        """Streamed packages may take longer than ``timeouts.total``; each read is still
        bounded by ``timeouts.read``."""
        return call.upload is None and call.download is None

    def body_limit(self) -> BodyLimit:
        """Start the clock for one attempt; the shells feed the body into the result."""
        return BodyLimit(self.max_response_bytes, time.monotonic() + self.timeouts.total)

    def too_slow(self, call: Call) -> Failure:
        error = ServerTimeout(
            f"The Octopus server at {self.base_url} took more than {self.timeouts.total:g} s "
            f"to send its answer to {call.where.label}; it was abandoned. Try again later.",
            **call.where.ctx(),
        )
        return Failure(error, retryable=True, maybe_sent=True)

    # -- paging and counting ---------------------------------------------------------

    def pager(self, path: str, params: Params | None, page_size: int | None) -> Pager:
        merged = dict(params or {})
        if page_size is not None:
            merged.setdefault("take", page_size)
        return Pager(self, self.call("GET", path, params=merged))

    def follow_link(self, link: str, where: responses.Where, method: str = "GET") -> Call:
        """A ``Links`` value (``/api/...``, ``/vdir/api/...``, ``~/api/...``) as a call (GET
        unless ``method`` says otherwise)."""
        url = httpx.URL(link[1:] if link.startswith("~/") else link)
        if url.is_absolute_url and (url.scheme, url.host, url.port) != (
            self.target.scheme,
            self.target.host,
            self.target.port,
        ):
            raise UnexpectedResponse(
                f"{where.label} on the Octopus server at {self.base_url} returned a link to "
                "another server; ODCM does not follow it.",
                **where.ctx(),
            )
        path = url.path
        if self.target.path and path.startswith(self.target.path + "/"):
            path = path[len(self.target.path) :]
        if not (path == "/api" or path.startswith("/api/")):
            raise UnexpectedResponse(
                f"{where.label} on the Octopus server at {self.base_url} returned a link "
                f"outside /api ({path!r}).",
                **where.ctx(),
            )
        return self.call(method, path, params=dict(url.params.multi_items()))

    def count_call(self, path: str, filters: Params, take: int) -> Call:
        return self.call("GET", path, params={**filters, "skip": 0, "take": take})


class Pager:
    """Follows ``Links["Page.Next"]`` until it is absent; refuses loops."""

    def __init__(self, core: ClientCore, first: Call) -> None:
        self._core = core
        self.next_call: Call | None = first
        self._seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()

    def take(self, raw: RawResponse) -> list[Any]:
        """Items of one page; advances ``next_call``."""
        assert self.next_call is not None
        where = self.next_call.where
        self._seen.add((self.next_call.url, self.next_call.params))
        body = responses.parse_collection(raw, where)
        link = (body.get("Links") or {}).get("Page.Next")
        self.next_call = self._core.follow_link(link, where) if link else None
        if self.next_call is not None:
            key = (self.next_call.url, self.next_call.params)
            if key in self._seen or len(self._seen) >= MAX_PAGES:
                raise UnexpectedResponse(
                    f"Paging through {where.path} on the Octopus server at "
                    f"{self._core.base_url} went round in a loop; stopped.",
                    **where.ctx(),
                )
        return list(body["Items"])


def encode_params(params: Params | None) -> tuple[tuple[str, str], ...]:
    """Octopus query values: bools as true/false, lists comma-separated, None dropped."""
    encoded: list[tuple[str, str]] = []
    for key, value in (params or {}).items():
        if value is None:
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, list | tuple | set | frozenset):
            text = ",".join(str(v) for v in value)
        else:
            text = str(value)
        encoded.append((str(key), text))
    return tuple(encoded)


def _outcome_label(outcome: Outcome) -> str:
    if isinstance(outcome, Failure):
        return type(outcome.error).__name__
    return f"HTTP {outcome.status_code}"
