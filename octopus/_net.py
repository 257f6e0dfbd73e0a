"""Transports that enforce the URL policy at connect time, and transport-error triage.

Sync: httpx's ``HTTPTransport`` with an httpcore connection pool whose network backend
resolves the host through :meth:`URLPolicy.resolve` (every address checked) and then
connects to one of those checked addresses. TLS still verifies the certificate against
the original host name (httpcore passes it as ``server_hostname``).

Async: the ``httpx-aiohttp`` transport (httpx's own pool degrades above ~20 requests in
flight, encode/httpx#3215) over an aiohttp ``TCPConnector`` whose resolver is the policy.
aiohttp connects only to the addresses the resolver returned. IP literals never reach
a resolver; they were checked statically when the client was built.

Both sessions ignore proxy environment variables (``trust_env=False``): a proxy would
make the checked address meaningless.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
import httpcore
import httpx
from aiohttp.abc import AbstractResolver, ResolveResult
from httpx_aiohttp import AiohttpTransport

from .policy import URLPolicy

VerifyTypes = ssl.SSLContext | bool


# What one read from a connection asks for. httpcore asks for 64 KiB: a package body (a GiB
# relayed between two servers) then costs about 16,000 passes through httpcore and h11 per
# GiB, each with a few dozen Python calls. 512 KiB halves the client's CPU per GiB; 1 MiB
# saves no more and holds more (h11 copies each read three times). A read returns what the
# socket holds, so a small answer is not held up.
READ_BYTES = 512 * 1024


class BulkStream(httpcore.NetworkStream):
    """A network stream that reads up to :data:`READ_BYTES` at a time, and sends a buffer
    without copying what is left of it after each partial send (httpcore slices ``bytes``,
    which copies the rest of a big chunk every time the socket takes only part of it)."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max(max_bytes, READ_BYTES), timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        # A memoryview slices without copying; the socket takes it as it takes bytes.
        self._inner.write(memoryview(buffer), timeout)  # type: ignore[arg-type]

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        return BulkStream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class PolicyNetworkBackend(httpcore.NetworkBackend):
    """httpcore backend: resolve once, check every address, connect to a checked one."""

    def __init__(self, policy: URLPolicy, inner: httpcore.NetworkBackend | None = None) -> None:
        self._policy = policy
        self._inner = inner or httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = self._policy.resolve(host)
        except OSError:
            addresses = []
        if not addresses:
            raise httpcore.ConnectError(f"the host name {host!r} could not be resolved")
        failure: Exception | None = None
        for address in addresses:
            try:
                return BulkStream(
                    self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("Unix sockets are not used for Octopus servers")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


@functools.lru_cache(maxsize=2)
def _default_context(verify: bool) -> ssl.SSLContext:
    return httpx.create_ssl_context(verify=verify, trust_env=False)


def ssl_context_for(verify: VerifyTypes) -> ssl.SSLContext:
    """The TLS context for ``verify``. The default ones are built once per process: loading
    the CA bundle costs ~20 ms of CPU, once per client (every fan-out task, every sweep)."""
    if isinstance(verify, bool):
        return _default_context(verify)
    return httpx.create_ssl_context(verify=verify, trust_env=False)


class PolicyHTTPTransport(httpx.HTTPTransport):
    """``httpx.HTTPTransport`` whose connection pool uses :class:`PolicyNetworkBackend`."""

    def __init__(
        self, policy: URLPolicy, *, verify: VerifyTypes = True, limits: httpx.Limits | None = None
    ) -> None:
        limits = limits or httpx.Limits(max_connections=20, max_keepalive_connections=10)
        # The context built once per process, also for httpx's own (discarded) pool: given
        # ``verify=True`` it would load the CA bundle again, ~16 ms of CPU for every client.
        context = ssl_context_for(verify)
        super().__init__(verify=context, trust_env=False, limits=limits)
        # httpx 0.28 builds the pool in __init__ without a way to pass a network backend,
        # so the pool is rebuilt with the same settings plus the policy backend.
        self._pool = httpcore.ConnectionPool(
            ssl_context=context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=PolicyNetworkBackend(policy),
        )


class PolicyResolver(AbstractResolver):
    """aiohttp resolver that returns only addresses the policy accepts (all or none)."""

    def __init__(self, policy: URLPolicy) -> None:
        self._policy = policy

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        loop = asyncio.get_running_loop()
        addresses = await loop.run_in_executor(None, self._policy.resolve, host)
        results: list[ResolveResult] = []
        for address in addresses:
            ip = ipaddress.ip_address(address)
            fam = socket.AF_INET if ip.version == 4 else socket.AF_INET6
            if family in (socket.AF_UNSPEC, fam):
                results.append(
                    ResolveResult(
                        hostname=host,
                        host=str(ip),
                        port=port,
                        family=fam,
                        proto=0,
                        flags=socket.AI_NUMERICHOST,
                    )
                )
        if not results:
            raise OSError(f"no usable address for {host!r}")
        return results

    async def close(self) -> None:
        return None


def make_http_client(
    policy: URLPolicy, *, verify: VerifyTypes = True, max_connections: int = 20
) -> httpx.Client:
    """An ``httpx.Client`` that enforces ``policy`` on every connection; share it freely."""
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=10)
    transport = PolicyHTTPTransport(policy, verify=verify, limits=limits)
    return httpx.Client(transport=transport, trust_env=False, follow_redirects=False)


def make_async_http_client(
    policy: URLPolicy, *, verify: VerifyTypes = True, max_connections: int = 100
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` over aiohttp enforcing ``policy``; one per sweep is ideal.

    Create it (and use it) inside a running event loop; the aiohttp session is created
    lazily on the first request.
    """
    ssl_context = ssl_context_for(verify)

    def session() -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            resolver=PolicyResolver(policy),
            ssl=ssl_context,
            limit=max_connections,
            limit_per_host=0,
            ttl_dns_cache=10,
        )
        return aiohttp.ClientSession(connector=connector, trust_env=False)

    transport = AiohttpTransport(client=session, verify=ssl_context, trust_env=False)
    return httpx.AsyncClient(transport=transport, trust_env=False, follow_redirects=False)


ProblemKind = Literal["connect", "connect_timeout", "read_timeout", "tls", "dropped", "policy"]


@dataclass(frozen=True)
class TransportProblem:
    """What went wrong below HTTP, in words safe to show (no headers, no key)."""

    kind: ProblemKind
    detail: str
    maybe_sent: bool  # the server may have received (and acted on) the request


def triage(exc: BaseException) -> TransportProblem:
    """Classify an httpx (or httpx-aiohttp) exception without keeping a reference to it."""
    cause = exc.__cause__
    if isinstance(cause, aiohttp.ClientError | asyncio.TimeoutError):
        return _triage_aiohttp(cause)
    detail = _short(exc)
    if isinstance(exc, httpx.ConnectError):
        if isinstance(cause, ssl.SSLError) or "SSL" in detail or "certificate" in detail:
            return TransportProblem("tls", _ssl_detail(cause, detail), False)
        return TransportProblem("connect", detail, False)
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        return TransportProblem("connect_timeout", detail, False)
    if isinstance(exc, httpx.TimeoutException):
        return TransportProblem("read_timeout", detail, True)
    return TransportProblem("dropped", detail, True)


def _triage_aiohttp(cause: BaseException) -> TransportProblem:
    detail = _short(cause)
    if isinstance(cause, aiohttp.ClientSSLError | aiohttp.ServerFingerprintMismatch):
        inner = getattr(cause, "certificate_error", None) or getattr(cause, "os_error", None)
        return TransportProblem("tls", _ssl_detail(inner, detail), False)
    if isinstance(cause, aiohttp.ClientConnectorError):
        return TransportProblem("connect", detail, False)
    if isinstance(cause, aiohttp.ConnectionTimeoutError):
        return TransportProblem("connect_timeout", detail, False)
    if isinstance(cause, aiohttp.ServerTimeoutError | asyncio.TimeoutError):
        return TransportProblem("read_timeout", detail, True)
    return TransportProblem("dropped", detail, True)


def _ssl_detail(cause: BaseException | None, fallback: str) -> str:
    if isinstance(cause, ssl.SSLCertVerificationError) and cause.verify_message:
        return f"certificate verify failed: {cause.verify_message}"
    if isinstance(cause, ssl.SSLError) and cause.reason:
        return str(cause.reason)
    return fallback


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]
