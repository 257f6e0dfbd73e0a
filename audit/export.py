"""The audit log as CSV, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from typing import Any

from audit.models import AuditEntry

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
# A spreadsheet runs a cell that starts with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> str:
    """The cell's text, with a leading quote if a spreadsheet would read it as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class _Echo:
    def write(self, value: str) -> str:
        return value


def rows(entries: Iterable[AuditEntry]) -> Iterator[str]:
    """CSV lines for ``entries`` (a header first), for a streaming response."""
    writer = csv.writer(_Echo())
    yield writer.writerow(COLUMNS)
    for e in entries:
        cells = [
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
        yield writer.writerow([neutralise(cell) for cell in cells])
