"""Typed errors raised by the Octopus client.

Every message is written for a person: what failed, on which server (the base URL,
never with credentials), and what to do about it. No error carries the API key, the
request headers or the httpx exception that caused it (the client raises these errors
outside its ``except`` blocks, so ``__context__`` and ``__cause__`` stay empty).

Hierarchy::

    OctopusError
    ├── URLNotAllowed                   the outbound-URL policy refused the address
    ├── ServerUnavailable               could not connect / connection dropped
    │   ├── ServerTimeout               connect or read timeout
    │   └── TLSError                    certificate or handshake failure
    ├── TaskWaitTimedOut                tasks still running when the wait ran out
    ├── UnexpectedResponse              JSON of the wrong shape, redirects, size
    │   ├── NotAnOctopusServer          HTML, no root document, no Application field
    │   ├── RedirectRefused             3xx (redirects are never followed)
    │   └── ResponseTooLarge            body above the configured limit
    └── OctopusHTTPError                any other non-2xx answer
        ├── AuthenticationFailed        401
        ├── PermissionDenied            403 (``missing_permission``)
        ├── NotFound                    404
        ├── ValidationFailed            400 / 409 (``error_message``, ``errors``)
        │   ├── VersionConflict         the Version concurrency check failed
        │   ├── LifecycleRefused        the lifecycle does not allow that environment yet
        │   ├── DuplicateVersion        that release or package version already exists
        │   └── MissingPackage          a package version the release needs is not in a feed
        ├── RateLimited                 429 (``retry_after``)
        └── ServerError                 5xx

Each class carries a ``kind`` (:class:`ErrorKind`): what went wrong in one word, so that
callers (the registry, the broker, the API) branch on one small enum instead of on classes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any, ClassVar


class ErrorKind(StrEnum):
    """What went wrong, for programs. Stable values: they are stored and sent by the API."""

    UNREACHABLE = "unreachable"  # no connection, DNS failure, connection dropped
    TIMEOUT = "timeout"
    TLS = "tls"
    REFUSED_URL = "refused_url"  # ODCM's outbound-URL policy refused the address
    NOT_OCTOPUS = "not_octopus"  # an answer, but not one the Octopus API gives
    AUTH = "auth"  # the API key was refused
    PERMISSION = "permission"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    VALIDATION = "validation"
    RATE_LIMITED = "rate_limited"
    SERVER = "server"  # a failure inside the other side
    INTERNAL = "internal"  # a failure inside ODCM


# The other side could not be reached or failed: nobody's input is at fault.
UPSTREAM_KINDS = frozenset(
    {
        ErrorKind.UNREACHABLE,
        ErrorKind.TIMEOUT,
        ErrorKind.TLS,
        ErrorKind.NOT_OCTOPUS,
        ErrorKind.RATE_LIMITED,
        ErrorKind.SERVER,
    }
)


class OctopusError(Exception):
    """Base class. ``base_url`` is the server (without credentials) when known."""

    kind: ClassVar[ErrorKind] = ErrorKind.SERVER

    def __init__(
        self,
        message: str,
        *,
        base_url: str | None = None,
        method: str | None = None,
        path: str | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.base_url = base_url
        self.method = method
        self.path = path
        self.status_code = status_code

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep errors picklable despite keyword-only constructor arguments.
        return (_rebuild, (type(self), self.message, dict(self.__dict__)))

    @property
    def request_label(self) -> str:
        """``GET /api/spaces`` or ``the request`` when unknown."""
        if self.method and self.path:
            return f"{self.method} {self.path}"
        return "the request"


def _rebuild(cls: type[OctopusError], message: str, state: dict[str, Any]) -> OctopusError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class URLNotAllowed(OctopusError):
    """The outbound-URL policy refused the URL or an address its host resolves to."""

    kind = ErrorKind.REFUSED_URL

    def __init__(self, reason: str, *, url: str | None = None) -> None:
        where = f"The URL {url!r} is not allowed" if url else "The address is not allowed"
        super().__init__(f"{where}: {reason}", base_url=url)
        self.reason = reason
        self.url = url


class ServerUnavailable(OctopusError):
    """No usable answer: connection refused, DNS failure, connection dropped."""

    kind = ErrorKind.UNREACHABLE


class ServerTimeout(ServerUnavailable):
    """The server did not connect or answer within the configured timeout."""

    kind = ErrorKind.TIMEOUT


class TLSError(ServerUnavailable):
    """The TLS handshake failed (untrusted or mismatched certificate, protocol error)."""

    kind = ErrorKind.TLS


class UnexpectedResponse(OctopusError):
    """The server answered, but not with what the Octopus API returns."""

    kind = ErrorKind.NOT_OCTOPUS


class NotAnOctopusServer(UnexpectedResponse):
    """Wrong content type, no root document or no ``Application`` field."""


class RedirectRefused(UnexpectedResponse):
    """The server answered with a redirect; the client never follows them."""

    def __init__(self, message: str, *, location: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.location = location


class ResponseTooLarge(UnexpectedResponse):
    """The body exceeded ``max_response_bytes``."""

    def __init__(self, message: str, *, limit: int = 0, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.limit = limit


class OctopusHTTPError(OctopusError):
    """A non-2xx answer. ``error_message``/``errors`` come from Octopus's error body."""

    def __init__(
        self,
        message: str,
        *,
        error_message: str | None = None,
        errors: Sequence[str] = (),
        help_text: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.error_message = error_message
        self.errors = list(errors)
        self.help_text = help_text


class AuthenticationFailed(OctopusHTTPError):
    """401: the API key is missing, wrong, expired or revoked."""

    kind = ErrorKind.AUTH


class PermissionDenied(OctopusHTTPError):
    """403: the key's user lacks a permission (``missing_permission`` when Octopus says)."""

    kind = ErrorKind.PERMISSION

    def __init__(self, message: str, *, missing_permission: str | None = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.missing_permission = missing_permission


class NotFound(OctopusHTTPError):
    """404: the resource (or the space in its path) does not exist."""

    kind = ErrorKind.NOT_FOUND


class ValidationFailed(OctopusHTTPError):
    """400 or 409: Octopus refused the request body."""

    kind = ErrorKind.VALIDATION


class VersionConflict(ValidationFailed):
    """Someone changed the document since it was read (variable-set ``Version`` check)."""

    kind = ErrorKind.CONFLICT


class LifecycleRefused(ValidationFailed):
    """The release may not be deployed to that environment yet (lifecycle phases)."""

    kind = ErrorKind.CONFLICT


class DuplicateVersion(ValidationFailed):
    """A release with that version exists in the project, or the package version in the
    feed (``FailIfExists``)."""

    kind = ErrorKind.CONFLICT


class MissingPackage(ValidationFailed):
    """A package version a release or step needs is not in the feed."""

    kind = ErrorKind.VALIDATION


class TaskWaitTimedOut(OctopusError):
    """Waiting for server tasks ran out of time; ``statuses`` is the last state seen."""

    kind = ErrorKind.TIMEOUT

    def __init__(self, message: str, *, statuses: Mapping[str, Any] | None = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.statuses = dict(statuses or {})


class RateLimited(OctopusHTTPError):
    """429 after retries, or a ``Retry-After`` longer than the client will wait."""

    kind = ErrorKind.RATE_LIMITED

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(OctopusHTTPError):
    """5xx: a failure inside the Octopus server or a proxy in front of it."""

    kind = ErrorKind.SERVER


__all__ = [
    "UPSTREAM_KINDS",
    "AuthenticationFailed",
    "DuplicateVersion",
    "ErrorKind",
    "LifecycleRefused",
    "MissingPackage",
    "NotAnOctopusServer",
    "NotFound",
    "OctopusError",
    "OctopusHTTPError",
    "PermissionDenied",
    "RateLimited",
    "RedirectRefused",
    "ResponseTooLarge",
    "ServerError",
    "ServerTimeout",
    "ServerUnavailable",
    "TLSError",
    "TaskWaitTimedOut",
    "URLNotAllowed",
    "UnexpectedResponse",
    "ValidationFailed",
    "VersionConflict",
]
