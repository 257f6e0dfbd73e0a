"""Octopus ``SensitiveValue`` fields (a feed's or Git credential's ``Password``).

On the wire a sensitive value is ``{"HasValue", "NewValue", "Hint"}``: a write with a
``NewValue`` stores it, a write with ``NewValue`` null and ``HasValue`` true keeps the stored
value, ``HasValue`` false clears it. Octopus never sends a value back, so documents keep only
``HasValue`` and the values live in ``InstanceState.sensitive``.
"""

from __future__ import annotations

from typing import Any

from octosim.state import Doc, InstanceState

# where sensitive values sit in the documents that have them
PATHS = (("Password",), ("Details", "Password"))


def _parent(doc: Doc, path: tuple[str, ...]) -> dict[str, Any] | None:
    node: Any = doc
    for key in path[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None


def seal_sensitive(st: InstanceState, doc: Doc, previous: Doc | None) -> None:
    """Move any ``NewValue`` of ``doc`` into the store and leave only ``HasValue``."""
    for path in PATHS:
        parent = _parent(doc, path)
        if parent is None or path[-1] not in parent:
            continue
        raw = parent[path[-1]]
        key = f"{doc['Id']}/{'.'.join(path)}"
        old_parent = _parent(previous, path) if previous else None
        had = bool(old_parent and (old_parent.get(path[-1]) or {}).get("HasValue"))
        if isinstance(raw, dict) and raw.get("NewValue") is not None:
            st.sensitive[key] = str(raw["NewValue"])
        elif isinstance(raw, dict) and raw.get("HasValue") and had:
            pass  # unchanged: the stored value stays
        else:
            st.sensitive.pop(key, None)
        hint = raw.get("Hint") if isinstance(raw, dict) else None
        parent[path[-1]] = {"HasValue": key in st.sensitive, "NewValue": None, "Hint": hint}


def stored_value(st: InstanceState, doc_id: str, path: str) -> str | None:
    """The stored value (for the control API's ground truth; never on the Octopus API)."""
    return st.sensitive.get(f"{doc_id}/{path}")
