"""A wrapper that keeps API keys out of logs, reprs, tracebacks and pickles."""

from __future__ import annotations

import hmac
from typing import Any, NoReturn

MASK = "********"


class Secret:
    """Holds a secret string; every textual form of the object is masked.

    Call :meth:`reveal` at the single place that needs the plain value (building the
    ``X-Octopus-ApiKey`` header). Pickling is refused so a secret cannot travel into a
    Celery message or a cache by accident.
    """

    __slots__ = ("_value",)
    _value: str

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("Secret wraps a str")
        object.__setattr__(self, "_value", value)

    def reveal(self) -> str:
        """Return the plain value. Never log or format the result."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    def __str__(self) -> str:
        return MASK

    def __format__(self, format_spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise AttributeError("Secret is immutable")

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled; store the encrypted value instead")

    @classmethod
    def coerce(cls, value: str | Secret) -> Secret:
        """Accept a plain string or a Secret and return a Secret."""
        return value if isinstance(value, Secret) else cls(value)
