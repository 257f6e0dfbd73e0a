"""What blueprints and instance baselines share: numbered revisions whose secrets are sealed
on the row, the settings every one of them has, and letting a target go. Each kind keeps
its own creation and assignment rules (:mod:`managed.services.blueprints`,
:mod:`managed.services.baselines`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db import transaction

from audit.services import record
from managed.models import ManagedParent, ManagedRevision, ManagedTarget
from odcm.crypto import seal, unseal

P = TypeVar("P", bound=ManagedParent)
R = TypeVar("R", bound=ManagedRevision)
Normalize = Callable[[Any, dict[str, str] | None], tuple[dict[str, Any], dict[str, str]]]


@dataclass(frozen=True)
class Revisions(Generic[P, R]):
    """How one kind keeps its revisions: the revision model, the name of its parent (the
    revision's foreign key and the audit word: ``managed.<parent>.revise``), how a document
    becomes (content, secrets), and what an audit row says of a content."""

    model: type[R]
    parent: str
    normalize: Normalize
    summary: Callable[[dict[str, Any]], dict[str, Any]]

    @property
    def action(self) -> str:
        return f"managed.{self.parent}"

    def latest(self, parent: P) -> R | None:
        number = parent.latest_revision
        return self.model._default_manager.filter(**{self.parent: parent, "number": number}).first()

    def new(
        self,
        parent: P,
        content: dict[str, Any],
        secrets: dict[str, str],
        comment: str,
        actor: Any,
    ) -> R:
        """Revision ``latest_revision + 1`` (the caller holds the parent's row lock or has
        just created it)."""
        number = parent.latest_revision + 1
        revision = self.model._default_manager.create(
            **{self.parent: parent},
            number=number,
            content=content,
            comment=comment[:300],
            created_by=actor if getattr(actor, "pk", None) else None,
        )
        if secrets:
            seal(revision, "secrets", json.dumps(secrets, sort_keys=True))
            revision.save(update_fields=["secrets"])
        type(parent)._default_manager.filter(pk=parent.pk).update(latest_revision=number)
        parent.latest_revision = number
        return revision

    def save(self, parent: P, document: Any, *, comment: str = "", actor: Any = None) -> R | None:
        """A new revision if the document differs from the latest; None if it is the same.
        Secrets left out keep the previous revision's."""
        previous = self.latest(parent)
        old_secrets = secrets_of(previous)
        content, secrets = self.normalize(document, old_secrets)
        if previous is not None and previous.content == content and secrets == old_secrets:
            return None
        with transaction.atomic():
            locked = type(parent)._default_manager.select_for_update().get(pk=parent.pk)
            revision = self.new(locked, content, secrets, comment, actor)
            parent.latest_revision = locked.latest_revision
            record(
                f"{self.action}.revise",
                actor=actor,
                obj=parent,
                before={"revision": revision.number - 1},
                after={
                    "revision": revision.number,
                    **self.summary(content),
                    "secrets_changed": secrets != old_secrets,
                },
                message=comment,
            )
        return revision

    def update_settings(
        self,
        parent: P,
        *,
        description: str | None = None,
        on_drift: str | None = None,
        actor: Any = None,
    ) -> None:
        """Change the description or what drift does; audited if anything changed."""
        before = {"description": parent.description, "on_drift": parent.on_drift}
        if description is not None:
            parent.description = description
        if on_drift is not None:
            parent.on_drift = on_drift
        after = {"description": parent.description, "on_drift": parent.on_drift}
        if after != before:
            with transaction.atomic():
                parent.save(update_fields=["description", "on_drift", "updated_at"])
                record(f"{self.action}.update", actor=actor, obj=parent, before=before, after=after)

    def unassign(self, target: ManagedTarget, place: str, *, actor: Any = None) -> None:
        """Stop managing a target's ``place`` (nothing in Octopus is changed)."""
        with transaction.atomic():
            record(
                f"{self.action}.unassign",
                actor=actor,
                obj=getattr(target, self.parent),
                before={place: str(getattr(target, f"{place}_id"))},
            )
            target.delete()


def secrets_of(revision: ManagedRevision | None) -> dict[str, str]:
    """The plaintext secrets of a revision; keep the result in memory only."""
    if revision is None or not revision.secrets:
        return {}
    data: dict[str, str] = json.loads(unseal(revision, "secrets"))
    return data
