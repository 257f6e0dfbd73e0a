"""The one status colour scheme: every status ODCM shows maps to one Bootstrap colour.

Instances (online, offline, …), subscriptions (in sync, failed, …) and grant targets (applied,
failed, …) are drawn with these colours everywhere: the dots and badges of the templates
(``{% load ui %}``), the dashboard's rows and timelines built in Python, and the tiles page's
script (which reads the mapping from the page).
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from django.utils.html import format_html
from django.utils.safestring import SafeString

STATUS_COLOURS: dict[str, str] = {
    # Instances
    "online": "success",
    "offline": "danger",
    "unhealthy": "warning",
    "maintenance": "info",
    "unknown": "secondary",
    # Subscriptions
    "in_sync": "success",
    "failed": "danger",
    "drifted": "warning",
    "update_available": "info",
    "queued": "secondary",
    "syncing": "primary",
    "unmanaged": "secondary",
    # Blueprint targets (managed spaces)
    "applying": "primary",
    "pushing": "primary",
    "conflict": "danger",
    "missing_dependency": "warning",
    # Grant targets
    "applied": "success",
    "pending": "warning",
    # Rollouts, their waves and targets (failed and pending as above)
    "running": "primary",
    "waiting_approval": "warning",
    "halted": "danger",
    "completed": "success",
    "rolling_back": "info",
    "rolled_back": "info",
    "delivering": "primary",
    "soaking": "info",
    "done": "success",
    "succeeded": "success",
    "success": "success",
    "executing": "primary",
    "stopped": "danger",
    "cancelled": "secondary",
    # Sign-in through ODCM of an instance (identity.models.OctopusSignIn)
    "configured": "success",
    "manual": "info",
}
DEFAULT_COLOUR = "secondary"


def status_colour(status: str | None) -> str:
    """The Bootstrap colour name (``success``, ``danger``, …) of a status."""
    return STATUS_COLOURS.get(status or "", DEFAULT_COLOUR)


@lru_cache(maxsize=128)  # the dashboard draws one per row; there are only a few statuses
def status_dot(status: str | None, label: str | None = None) -> SafeString:
    """A coloured dot naming the status for screen readers and on hover."""
    text = label or (status or "unknown").replace("_", " ")
    return format_html(
        '<span class="status-dot bg-{}" role="img" aria-label="{}" title="{}"></span>',
        status_colour(status),
        text,
        text,
    )


def status_colours_json() -> str:
    return json.dumps(STATUS_COLOURS, sort_keys=True)


def space_label(space: Any) -> str:
    """ "Space (instance)": how a space is named wherever two could share a name (pages,
    lists, form choices). Works on any object with ``name`` and ``instance.name``: odcm does
    not import the registry."""
    instance = getattr(space, "instance", None)
    name = getattr(space, "name", str(space))
    return f"{name} ({instance.name})" if instance is not None else str(name)
