"""A template project's document as units, and the three-way merge of them.

A unit is the smallest part merged on its own: each project setting, each deployment step,
each runbook's settings and each of its steps, each channel, a channel's tenant tags, each
variable (by name and scope) and each variable template. Keys are name-based paths
(``step/Deploy``, ``channel/Hotfix/tenant-tags``), so one space's edit of a unit and
upstream's change of another never conflict.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

Doc = dict[str, Any]
# A channel's tenant tags are a unit of their own (not a field of the channel's unit): a
# space that retags a channel and an upstream that edits its description both keep their
# change, and documents saved before tags were carried merge exactly as before.
TAGS = "/tenant-tags"


def scope_key(scope: Doc) -> str:
    return json.dumps({k: sorted(v) for k, v in sorted(scope.items()) if v}, sort_keys=True)


def units(doc: Doc) -> dict[str, Any]:
    """The document as independent units keyed by stable, name-based paths."""
    out: dict[str, Any] = {}
    for key, value in (doc.get("Project") or {}).items():
        if key != "Name":  # the name is per space (an override), never merged
            out[f"project/{key}"] = value
    for n, step in enumerate(doc.get("Steps") or []):
        out[f"step/{step['Name']}"] = {**step, "_order": n}
    for rb in doc.get("Runbooks") or []:
        out[f"runbook/{rb['Name']}"] = {"Description": rb["Description"]}
        for n, step in enumerate(rb.get("Steps") or []):
            out[f"runbook/{rb['Name']}/step/{step['Name']}"] = {**step, "_order": n}
    for ch in doc.get("Channels") or []:
        out[f"channel/{ch['Name']}"] = {k: v for k, v in ch.items() if k != "TenantTags"}
        if ch.get("TenantTags"):
            out[f"channel/{ch['Name']}{TAGS}"] = list(ch["TenantTags"])
    for var in doc.get("Variables") or []:
        out[f"variable/{var['Name']}/{scope_key(var['Scope'])}"] = var
    for tpl in doc.get("Templates") or []:
        out[f"template/{tpl['Name']}"] = tpl
    return out


def document(name: str, parts: dict[str, Any]) -> Doc:
    """The inverse of :func:`units` (ordered by each unit's recorded position)."""
    doc: Doc = {
        "Project": {"Name": name},
        "Steps": [],
        "Runbooks": [],
        "Channels": [],
        "Variables": [],
        "Templates": [],
    }
    runbooks: dict[str, Doc] = {}
    rb_steps: dict[str, list[Doc]] = {}
    channel_tags: dict[str, list[str]] = {}
    for key, value in parts.items():
        kind, _, rest = key.partition("/")
        if kind == "project":
            doc["Project"][rest] = value
        elif kind == "step":
            doc["Steps"].append(value)
        elif kind == "runbook" and "/step/" in rest:
            rb, _, _ = rest.partition("/step/")
            rb_steps.setdefault(rb, []).append(value)
        elif kind == "runbook":
            runbooks[rest] = {"Name": rest, **value, "Steps": []}
        elif kind == "channel" and rest.endswith(TAGS):
            channel_tags[rest[: -len(TAGS)]] = list(value)
        elif kind == "channel":
            doc["Channels"].append(dict(value))
        elif kind == "variable":
            doc["Variables"].append(value)
        elif kind == "template":
            doc["Templates"].append(value)
    doc["Steps"].sort(key=lambda s: s.get("_order", 0))
    for rb, steps in rb_steps.items():
        if rb in runbooks:
            runbooks[rb]["Steps"] = sorted(steps, key=lambda s: s.get("_order", 0))
    doc["Runbooks"] = list(runbooks.values())
    for step in [*doc["Steps"], *(s for r in doc["Runbooks"] for s in r["Steps"])]:
        step.pop("_order", None)
    for channel in doc["Channels"]:  # tags of a channel the merge removed go with it
        if channel_tags.get(channel["Name"]):
            channel["TenantTags"] = channel_tags[channel["Name"]]
    return doc


@dataclass
class Merge:
    parts: dict[str, Any]
    conflicts: list[Doc]
    upstream_changes: int


def merge3(
    base: dict[str, Any],
    upstream: dict[str, Any],
    downstream: dict[str, Any],
    resolutions: dict[str, str] | None = None,
) -> Merge:
    """Per unit: upstream's change where downstream did not touch it, downstream's edit where
    upstream did not change it; both changed differently is a conflict unless resolved
    (``"upstream"`` or ``"downstream"``)."""
    resolutions = resolutions or {}
    parts: dict[str, Any] = {}
    conflicts: list[Doc] = []
    changes = 0
    missing = object()
    for key in sorted(set(base) | set(upstream) | set(downstream)):
        b, u, d = base.get(key, missing), upstream.get(key, missing), downstream.get(key, missing)
        if _same(u, b):
            chosen = d
        elif _same(d, b) or _same(u, d) or resolutions.get(key) == "upstream":
            chosen, changes = u, changes + 1
        elif resolutions.get(key) == "downstream":
            chosen = d
        else:
            conflicts.append(
                {
                    "key": key,
                    "base": None if b is missing else b,
                    "upstream": None if u is missing else u,
                    "downstream": None if d is missing else d,
                }
            )
            chosen = d
        if chosen is not missing:
            parts[key] = chosen
    return Merge(parts, conflicts, changes)


def _same(a: Any, b: Any) -> bool:
    strip = lambda v: {k: x for k, x in v.items() if k != "_order"} if isinstance(v, dict) else v  # noqa: E731
    return bool(strip(a) == strip(b))
