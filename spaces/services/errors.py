"""The registry's one error type: a code for programs and a message for people."""

from __future__ import annotations

from octopus import (
    AuthenticationFailed,
    NotAnOctopusServer,
    NotFound,
    OctopusError,
    PermissionDenied,
    ServerTimeout,
    ServerUnavailable,
    TLSError,
    UnexpectedResponse,
    URLNotAllowed,
    ValidationFailed,
)


class RegistryError(Exception):
    """A registry operation that could not be done. ``code`` is stable (API clients branch
    on it); the message says what happened and what to do, and never carries a secret."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message


# (error class, code, lead sentence) — the first matching row wins, so subclasses go first.
_OCTOPUS_ERRORS: list[tuple[type[OctopusError], str, str]] = [
    (URLNotAllowed, "url_not_allowed", "ODCM may not connect to this address."),
    (ServerTimeout, "timeout", "The server did not answer in time."),
    (TLSError, "tls_error", "The secure (TLS) connection to the server failed."),
    (ServerUnavailable, "unreachable", "The server could not be reached."),
    (NotAnOctopusServer, "not_octopus", "This is not an Octopus Deploy server."),
    (AuthenticationFailed, "wrong_api_key", "Octopus refused the API key."),
    (PermissionDenied, "insufficient_permission", "The API key lacks a permission ODCM needs."),
    (UnexpectedResponse, "not_octopus", "The server did not answer like Octopus Deploy."),
    (ValidationFailed, "octopus_rejected", "Octopus refused the request."),
    (NotFound, "octopus_not_found", "Octopus does not have it (any more)."),
]


def from_octopus(exc: OctopusError) -> RegistryError:
    """Translate a client error into a registry error with a specific code and message."""
    for cls, code, lead in _OCTOPUS_ERRORS:
        if isinstance(exc, cls):
            return RegistryError(code, f"{lead} {exc.message}")
    return RegistryError("octopus_error", f"Octopus refused the request: {exc.message}")
