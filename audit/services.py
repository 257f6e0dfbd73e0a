"""The one way to write the audit log. Every write in ODCM calls :func:`record`."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from django.db import models
from django.http import HttpRequest

from audit.models import AuditEntry
from odcm.clientip import client_ip

SECRET_NAME = re.compile(r"(?i)(password|secret|token|api_?key|private|credential|sensitive)")
REDACTED = "[secret]"


def scrub(data: Mapping[str, Any] | None) -> dict[str, Any]:
    """A copy of ``data`` with every secret-looking field replaced by a marker."""
    if not data:
        return {}
    clean: dict[str, Any] = {}
    for key, value in data.items():
        if SECRET_NAME.search(str(key)):
            clean[key] = REDACTED if value not in (None, "") else value
        elif isinstance(value, Mapping):
            clean[key] = scrub(value)
        else:
            clean[key] = (
                value if isinstance(value, str | int | float | bool | None | list) else str(value)
            )
    return clean


def client_address(request: HttpRequest | None) -> str | None:
    """The client's address (behind ODCM_TRUSTED_PROXY_HOPS proxies, not the proxy's)."""
    if request is None:
        return None
    return client_ip(request)


def record(
    action: str,
    *,
    actor: Any = None,
    request: HttpRequest | None = None,
    obj: models.Model | None = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    message: str = "",
) -> AuditEntry:
    """Write one audit entry.

    ``actor`` defaults to the request's user; ``before``/``after`` are summaries of the object's
    fields (secrets are scrubbed here, so callers cannot forget).
    """
    row = entry(
        action, actor=actor, request=request, obj=obj, before=before, after=after, message=message
    )
    row.save(force_insert=True)
    return row


def entry(
    action: str,
    *,
    actor: Any = None,
    request: HttpRequest | None = None,
    obj: models.Model | None = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    message: str = "",
) -> AuditEntry:
    """The entry :func:`record` would write, not yet saved: for :func:`record_many`."""
    if actor is None and request is not None:
        user = getattr(request, "user", None)
        actor = user if user is not None and user.is_authenticated else None
    changes = {}
    if before:
        changes["before"] = scrub(before)
    if after:
        changes["after"] = scrub(after)
    return AuditEntry(
        actor=actor,
        actor_label=getattr(actor, "username", "") if actor is not None else "",
        action=action,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        object_label=str(obj)[:300] if obj is not None else "",
        ip_address=client_address(request),
        message=message,
        changes=changes,
    )


def record_many(entries: Iterable[AuditEntry]) -> list[AuditEntry]:
    """Write entries made by :func:`entry` in one statement (a push recording 200 teams)."""
    return AuditEntry.objects.bulk_create(list(entries))
