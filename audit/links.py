"""Where an audit entry's object lives in ODCM, by its type: a link from the log to it.

By URL name only (no import of the apps above audit); an object type with no page, or a URL
that no longer resolves, simply gets no link."""

from __future__ import annotations

from django.urls import NoReverseMatch, reverse

from audit.models import AuditEntry

PAGES = {
    "spaces.instance": "spaces:instance",
    "spaces.space": "spaces:space",
    "sharing.shareditem": "sharing:item",
    "sharing.subscription": "sharing:subscription",
    "identity.group": "identity:group",
}


def object_url(entry: AuditEntry) -> str:
    name = PAGES.get(entry.object_type)
    if not name or not entry.object_id:
        return ""
    try:
        return reverse(name, args=[entry.object_id])
    except NoReverseMatch:
        return ""
