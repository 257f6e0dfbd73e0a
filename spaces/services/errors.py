"""The registry's one error type: a code for programs and a message for people."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from octopus import UPSTREAM_KINDS, ErrorKind, OctopusClient, OctopusError
from odcm.crypto import CryptoError
from odcm.errors import ServiceError

if TYPE_CHECKING:
    from spaces.models import Instance


class RegistryError(ServiceError):
    """A registry operation that could not be done. ``code`` is stable (API clients branch
    on it); the message says what happened and what to do, and never carries a secret."""

    def __init__(self, code: str, message: str, *, kind: ErrorKind | None = None) -> None:
        super().__init__(message, code=code, kind=kind)


# The registry's code and lead sentence for each kind of Octopus error.
_OCTOPUS_ERRORS: dict[ErrorKind, tuple[str, str]] = {
    ErrorKind.REFUSED_URL: ("url_not_allowed", "ODCM may not connect to this address."),
    ErrorKind.TIMEOUT: ("timeout", "The server did not answer in time."),
    ErrorKind.TLS: ("tls_error", "The secure (TLS) connection to the server failed."),
    ErrorKind.UNREACHABLE: ("unreachable", "The server could not be reached."),
    ErrorKind.NOT_OCTOPUS: (
        "not_octopus",
        "This is not an Octopus Deploy server, or it did not answer like one.",
    ),
    ErrorKind.AUTH: ("wrong_api_key", "Octopus refused the API key."),
    ErrorKind.PERMISSION: ("insufficient_permission", "The API key lacks a permission ODCM needs."),
    ErrorKind.VALIDATION: ("octopus_rejected", "Octopus refused the request."),
    ErrorKind.CONFLICT: ("octopus_rejected", "Octopus refused the request."),
    ErrorKind.NOT_FOUND: ("octopus_not_found", "Octopus does not have it (any more)."),
}


def from_octopus(exc: OctopusError, *, about_input: bool = False) -> RegistryError:
    """Translate a client error into a registry error with a specific code and message.

    ``about_input``: the server and key were given in this request (enlisting, a new key),
    so whatever the server did is a reason to refuse that input, not a gateway failure.
    """
    code, lead = _OCTOPUS_ERRORS.get(exc.kind, ("octopus_error", "Octopus refused the request:"))
    # Octopus refusing ODCM's key or a permission is not the caller's own access failing.
    kind = exc.kind if exc.kind in UPSTREAM_KINDS and not about_input else ErrorKind.VALIDATION
    return RegistryError(code, f"{lead} {exc.message}", kind=kind)


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
