"""Small typed results returned by the client helpers, and client settings."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from .version import OctopusVersion


@dataclass(frozen=True)
class Timeouts:
    """Seconds to wait to connect, for each read, for a free pooled connection, and in
    all for one answer (``total`` stops a server that trickles its body byte by byte)."""

    connect: float = 5.0
    read: float = 30.0
    pool: float = 60.0
    total: float = 300.0

    def as_httpx(self) -> httpx.Timeout:
        return httpx.Timeout(connect=self.connect, read=self.read, write=self.read, pool=self.pool)


@dataclass(frozen=True)
class RetryPolicy:
    """Retries with exponential backoff and jitter.

    Retried: connection failures and timeouts, and HTTP 429/502/503/504 (``Retry-After``
    honoured on 429 and 503 up to ``max_retry_after`` seconds; a longer wait raises
    ``RateLimited`` at once). Never retried: any other 4xx, 500, policy refusals,
    oversized bodies.

    Non-idempotent requests (POST unless the caller says ``idempotent=True``) are retried
    only when the request cannot have reached the server (connection refused, connect
    timeout, no free connection) or on 429 (the server refused it before doing anything).
    A read timeout, a dropped connection or a 502/504 after a POST may mean Octopus
    already acted on it (created the deployment, the space, the API key); sending it again
    could do it twice, so the error is raised and the caller decides.

    PUT and DELETE are retried like reads (PUT replaces the whole document). One
    consequence: if a variable-set PUT lands but its answer is lost, the retry carries the
    old ``Version`` and fails with ``VersionConflict``; re-read the set to see whether the
    change is already there before applying it again.
    """

    max_retries: int = 3
    backoff: float = 0.5
    max_backoff: float = 10.0
    max_retry_after: float = 60.0
    retry_statuses: frozenset[int] = frozenset({429, 502, 503, 504})


@dataclass(frozen=True)
class RawResponse:
    """A complete (size-limited) HTTP answer."""

    status_code: int
    headers: httpx.Headers
    content: bytes


@dataclass(frozen=True)
class RootDocument:
    """``GET /api``: what the server is, its version and its installation id."""

    application: str
    version: OctopusVersion
    api_version: str | None
    installation_id: uuid.UUID | None
    links: Mapping[str, str] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class HealthStatus:
    """``GET /api/serverstatus/health``: 200 is ``ok``, 418 is ``unhealthy``."""

    status: Literal["ok", "unhealthy"]
    description: str
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True)
class PingStatus:
    """``GET /api/octopusservernodes/ping``: 200 is ``ok``, 418 is ``draining``."""

    status: Literal["ok", "draining"]
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return self.status == "ok"
