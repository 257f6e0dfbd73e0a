"""The registry's one error type: a code for programs and a message for people."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from octopus import (
    AuthenticationFailed,
    NotAnOctopusServer,
    NotFound,
    OctopusClient,
    OctopusError,
    PermissionDenied,
    ServerTimeout,
    ServerUnavailable,
    TLSError,
    UnexpectedResponse,
    URLNotAllowed,
    ValidationFailed,
)
from odcm.crypto import CryptoError

if TYPE_CHECKING:
    from spaces.models import Instance


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


@contextmanager
def connected(instance: Instance, **options: Any) -> Iterator[OctopusClient]:
    """A client for ``instance`` whose setup failures are registry errors too: a URL that the
    policy now refuses, or a stored key that no longer decrypts, must not become a 500."""
    from odcm.clients import client_for

    try:
        client = client_for(instance, **options)
    except OctopusError as exc:
        raise from_octopus(exc) from None
    except CryptoError:
        raise RegistryError(
            "api_key_unreadable",
            f"The stored API key of {instance.name} cannot be decrypted (was "
            "ODCM_ENCRYPTION_KEYS changed?). Set a new key with “Rotate API key”.",
        ) from None
    with client:
        yield client
