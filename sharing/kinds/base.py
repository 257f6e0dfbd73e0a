"""What every kind of shared item supplies to the broker, and what the broker hands it.

A kind renders a revision into Octopus API calls (:meth:`Kind.deliver`), compares what is in
Octopus with what was delivered (:meth:`Kind.inspect`), validates authored content
(:meth:`Kind.clean`) and diffs two revisions (:meth:`Kind.diff`). It never touches the
database: the broker passes it a :class:`Target` and stores what it returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from odcm.errors import ServiceError


class DeliveryProblem(Exception):
    """A delivery failed for a reason the broker reports under ``error_class``.

    The message is shown to people and stored: it never contains a sensitive value.
    """

    def __init__(self, error_class: str, message: str) -> None:
        super().__init__(message)
        self.error_class = error_class
        self.message = message


class MissingEnvironment(DeliveryProblem):
    def __init__(self, names: list[str], space: str) -> None:
        listed = ", ".join(repr(n) for n in names)
        super().__init__(
            "missing_environment",
            f"The subscriber space {space} has no environment named {listed}. Create it in "
            "Octopus (names must match the publisher's exactly); nothing was written.",
        )
        self.names = names


class ContentError(ServiceError, ValueError):
    """Authored content is invalid; ``errors`` lists what to fix (no secret values)."""

    errors: list[str]

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors), code="invalid_content", errors=list(errors))


class Calls(Protocol):
    """The few calls a kind makes: an ``OctopusClient``, or a fan-out's bridged client."""

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any: ...

    def put(self, path: str, json: Any = None) -> Any: ...

    def post(self, path: str, json: Any = None, *, idempotent: bool = False) -> Any: ...


class CountingClient:
    """Forwards the few calls a kind makes to an Octopus client and counts them."""

    def __init__(self, client: Calls) -> None:
        self.client = client
        self.requests = 0

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        self.requests += 1
        return self.client.get(path, params=params)

    def put(self, path: str, body: Any) -> Any:
        self.requests += 1
        return self.client.put(path, body)

    def post(self, path: str, body: Any) -> Any:
        self.requests += 1
        return self.client.post(path, body)


@dataclass
class Target:
    """Where a delivery goes and what ODCM last knew about the copy there."""

    space_id: str  # Octopus space id, e.g. Spaces-1
    space_label: str  # for messages
    item_key: str  # stable id of the shared item (derives variable ids)
    name: str
    description: str
    octopus_id: str = ""
    octopus_child_id: str = ""
    octopus_version: int | None = None
    secrets_digest: str = ""


@dataclass
class Written:
    """What a delivery left in Octopus."""

    changed: bool
    octopus_id: str
    octopus_child_id: str
    octopus_version: int | None
    secrets_digest: str = ""


@dataclass
class Inspection:
    """A drift check: ``differences`` is empty when the copy matches its revision."""

    differences: list[dict[str, str]] = field(default_factory=list)
    missing: bool = False


@dataclass
class Change:
    """One line of a revision diff. Sensitive values appear only as changed/unchanged."""

    name: str
    change: str  # added | removed | changed
    details: list[dict[str, Any]] = field(default_factory=list)


class Kind(Protocol):
    key: str
    label: str

    def clean(
        self,
        content: dict[str, Any],
        previous: dict[str, Any],
        previous_secrets: dict[str, str],
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """Validate authored content; return (content without secrets, secrets)."""
        ...

    def deliver(
        self,
        client: CountingClient,
        target: Target,
        content: dict[str, Any],
        secrets: dict[str, str],
        secrets_digest: str,
    ) -> Written: ...

    def inspect(
        self, client: CountingClient, target: Target, content: dict[str, Any]
    ) -> Inspection: ...

    def diff(
        self,
        old: dict[str, Any],
        old_secrets: dict[str, str],
        new: dict[str, Any],
        new_secrets: dict[str, str],
    ) -> list[Change]: ...

    def summary(self, content: dict[str, Any]) -> str: ...
