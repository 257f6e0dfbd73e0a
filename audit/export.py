"""The audit log as CSV, safe to open in a spreadsheet (``odcm.csvout``: formula-like cells
are neutralised)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from audit.models import AuditEntry
from odcm import csvout

COLUMNS = [
    "at",
    "actor",
    "action",
    "object_type",
    "object_id",
    "object",
    "ip_address",
    "message",
    "changes",
]


class _Echo:
    def write(self, value: str) -> str:
        return value


def rows(entries: Iterable[AuditEntry]) -> Iterator[str]:
    """CSV lines for ``entries`` (a header first), for a streaming response."""
    writer = csvout.writer(_Echo())
    yield writer.writerow(COLUMNS)
    for e in entries:
        yield writer.writerow(
            [
                e.at.isoformat(),
                e.actor_label or "system",
                e.action,
                e.object_type,
                e.object_id,
                e.object_label,
                e.ip_address or "",
                e.message,
                json.dumps(e.changes, sort_keys=True) if e.changes else "",
            ]
        )
