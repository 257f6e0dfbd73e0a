"""The one base of every app's service errors.

A service refuses what it cannot do by raising a :class:`ServiceError` subclass (the registry's
``RegistryError``, identity's ``GrantError``, sharing's ``ContentError``…). Each carries:

- ``code``: stable, for programs (``already_enlisted``, ``wrong_api_key``…);
- ``message``: for people, saying what happened and what to do; never a secret;
- ``kind``: one :class:`octopus.ErrorKind` (validation, conflict, unreachable…), from which the
  API chooses the HTTP status (``odcm/api/exceptions.py``);
- ``errors``: optional field errors (``{"name": ["…"]}``) or a list of problems.

Views and viewsets do not catch these: the API's exception handler turns each into the one
error body, and pages show ``message`` (or each of ``problems``) as a message.
"""

from __future__ import annotations

from typing import ClassVar

from octopus import UPSTREAM_KINDS, ErrorKind, OctopusError

__all__ = ["UPSTREAM_KINDS", "ErrorKind", "ServiceError", "kind_of"]


class ServiceError(Exception):
    """Something a service was asked to do and could not do; safe to show to the caller."""

    default_code: ClassVar[str] = "invalid"
    default_kind: ClassVar[ErrorKind] = ErrorKind.VALIDATION

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        kind: ErrorKind | None = None,
        errors: dict[str, list[str]] | list[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.kind = kind or self.default_kind
        self.errors = errors

    def __str__(self) -> str:
        return self.message

    @property
    def problems(self) -> list[str]:
        """Every problem as a sentence (the message when there is no list)."""
        if isinstance(self.errors, list):
            return list(self.errors)
        if isinstance(self.errors, dict):
            return [f"{field}: {text}" for field, texts in self.errors.items() for text in texts]
        return [self.message]


def kind_of(exc: BaseException) -> ErrorKind:
    """The kind of any error: a service's or Octopus's own, else an internal failure."""
    if isinstance(exc, ServiceError | OctopusError):
        return exc.kind
    return ErrorKind.INTERNAL
