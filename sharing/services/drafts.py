"""The variable editor's draft: unpublished rows kept server-side, per item.

A publisher edits a shared variable set as a draft (add, change, remove rows), reloads, comes
back later, and publishes it as the next revision or discards it. The draft's content never
holds a sensitive value: typed sensitive values are sealed on the item
(``SharedItem.draft_secrets``) and never rendered back. A publish that fails validation keeps
the draft, so nothing typed is lost.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.services import record
from odcm.crypto import seal, unseal
from sharing.kinds import ContentError
from sharing.models import SharedItem
from sharing.secrets import secrets_of
from sharing.services import items

MAX_DRAFT_VARIABLES = 5000


@dataclass
class Draft:
    """What the editor shows of a saved draft (no secret: only which keys hold one)."""

    content: dict[str, Any]
    needs_values: list[str]
    base_revision: int
    saved_at: str = ""
    saved_by: str = ""
    secret_keys: set[str] = field(default_factory=set)


def _open(item: SharedItem) -> dict[str, str]:
    if not item.draft_secrets:
        return {}
    data: dict[str, str] = json.loads(unseal(item, "draft_secrets"))
    return data


def draft_of(item: SharedItem) -> Draft | None:
    """The item's draft, or None when the editor should start from the latest revision."""
    raw = item.draft or {}
    if "content" not in raw:
        return None
    return Draft(
        content=raw["content"],
        needs_values=list(raw.get("needs_values", [])),
        base_revision=int(raw.get("base_revision", 0)),
        saved_at=str(raw.get("saved_at", "")),
        saved_by=str(raw.get("saved_by", "")),
        secret_keys=set(_open(item)),
    )


def _split(
    content: dict[str, Any], kept: dict[str, str], published: dict[str, str]
) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """Content without values for sensitive rows, the sensitive values by key (typed now, or
    kept from the draft), and the names of sensitive rows with no value anywhere yet."""
    raw_vars = content.get("variables") if isinstance(content, dict) else None
    if not isinstance(raw_vars, list):
        raise ContentError(["'variables' must be a list."])
    if len(raw_vars) > MAX_DRAFT_VARIABLES:
        raise ContentError([f"A shared set holds at most {MAX_DRAFT_VARIABLES} variables."])
    variables: list[dict[str, Any]] = []
    secrets: dict[str, str] = {}
    needing: list[str] = []
    for raw in raw_vars:
        var = dict(raw)
        # Every draft row has a key, so a sensitive value typed now stays bound to its row.
        var["key"] = str(var.get("key") or uuid.uuid4())
        if var.get("type") == "Sensitive":
            typed = var.get("value")
            if typed:
                secrets[var["key"]] = str(typed)
            elif var["key"] in kept:
                secrets[var["key"]] = kept[var["key"]]
            elif var["key"] not in published:
                needing.append(str(var.get("name") or "?"))
            var["value"] = None
        variables.append(var)
    return {"variables": variables}, secrets, needing


def save_draft(item: SharedItem, content: dict[str, Any], *, actor: Any = None) -> Draft:
    """Keep ``content`` (the editor's rows) as the item's draft.

    A sensitive row sent without a value keeps the value typed into the draft before, or the
    published one. Raises :class:`ContentError` only for content the editor cannot show.
    """
    with transaction.atomic():
        locked = SharedItem.objects.select_for_update().get(pk=item.pk)
        published = secrets_of(items.latest(locked))
        clean, secrets, needing = _split(content, _open(locked), published)
        base = (locked.draft or {}).get("base_revision", locked.latest_revision)
        locked.draft = {
            "content": clean,
            "needs_values": needing,
            "base_revision": base,
            "saved_at": timezone.now().isoformat(timespec="seconds"),
            "saved_by": getattr(actor, "username", "") or "",
        }
        if secrets:
            seal(locked, "draft_secrets", json.dumps(secrets))
        else:
            locked.draft_secrets = ""
        locked.save(update_fields=["draft", "draft_secrets", "updated_at"])
        record(
            "sharing.draft.save",
            actor=actor,
            obj=locked,
            after={"variables": len(clean["variables"]), "base_revision": base},
        )
    item.draft, item.draft_secrets = locked.draft, locked.draft_secrets
    draft = draft_of(item)
    assert draft is not None
    return draft


def discard_draft(item: SharedItem, *, actor: Any = None) -> None:
    """Forget the draft (its sealed values too); the editor starts again from the latest
    revision."""
    with transaction.atomic():
        updated = SharedItem.objects.filter(pk=item.pk).update(
            draft={}, draft_secrets="", updated_at=timezone.now()
        )
        if updated:
            record("sharing.draft.discard", actor=actor, obj=item)
    item.draft, item.draft_secrets = {}, ""


def publish(
    item: SharedItem, content: dict[str, Any], *, actor: Any = None, comment: str = ""
) -> items.Saved:
    """Publish the editor's rows as the next revision, using values typed into the draft.

    On a :class:`ContentError` the rows are kept as the draft (nothing typed is lost) and
    the error is raised again.
    """
    kept = _open(item)
    rows = []
    for raw in content.get("variables", []):
        var = dict(raw)
        if var.get("type") == "Sensitive" and not var.get("value") and var.get("key") in kept:
            var["value"] = kept[var["key"]]
        rows.append(var)
    try:
        with transaction.atomic():
            saved = items.save_revision(item, {"variables": rows}, actor=actor, comment=comment)
            SharedItem.objects.filter(pk=item.pk).update(draft={}, draft_secrets="")
    except ContentError:
        save_draft(item, content, actor=actor)
        raise
    item.draft, item.draft_secrets = {}, ""
    return saved
