"""Shared items and their immutable revisions: authoring, diffs and imports."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import transaction

from audit.services import record
from odcm.clients import client_for
from odcm.crypto import seal
from sharing.kinds import Change, ContentError, kind_for
from sharing.kinds.step_template import from_export
from sharing.kinds.variable_set import from_octopus, reference_names
from sharing.models import Revision, SharedItem
from sharing.secrets import secrets_digest, secrets_of
from sharing.services import queueing
from sharing.services.subscriptions import on_new_revision
from spaces.models import Space


def create_item(
    publisher: Space,
    kind: str,
    name: str,
    *,
    description: str = "",
    policy: str = SharedItem.Policy.PUSH,
    actor: Any = None,
) -> SharedItem:
    kind_for(kind)  # KeyError for an unknown kind
    name = name.strip()
    if not name:
        raise ContentError(["A shared item needs a name."])
    if SharedItem.objects.filter(publisher=publisher, kind=kind, name__iexact=name).exists():
        raise ContentError(
            [f"{publisher.name} already shares a {kind.replace('_', ' ')} named {name!r}."]
        )
    item = SharedItem.objects.create(
        publisher=publisher,
        kind=kind,
        name=name,
        description=description,
        policy=policy,
        created_by=actor,
    )
    record(
        "sharing.item.create",
        actor=actor,
        obj=item,
        after={"kind": kind, "name": name, "policy": policy},
    )
    return item


def update_item(item: SharedItem, *, actor: Any = None, **changes: Any) -> SharedItem:
    """Change the description, sync policy or pause (the name is fixed: it names the copies).

    Resuming a paused item re-queues its held deliveries at once.
    """
    allowed = {"description", "policy", "paused"}
    before = {k: getattr(item, k) for k in allowed}
    for key, value in changes.items():
        if key not in allowed:
            raise ContentError([f"{key} cannot be changed."])
        setattr(item, key, value)
    item.save(update_fields=[*changes.keys(), "updated_at"])
    if before["paused"] and not item.paused:
        transaction.on_commit(lambda: queueing.sweep(requeue_after=0))
    record(
        "sharing.item.update",
        actor=actor,
        obj=item,
        before=before,
        after={k: getattr(item, k) for k in allowed},
    )
    return item


def latest(item: SharedItem) -> Revision | None:
    return item.revisions.filter(number=item.latest_revision).first()


@dataclass
class Saved:
    revision: Revision
    created: bool


def save_revision(
    item: SharedItem, content: dict[str, Any], *, actor: Any = None, comment: str = ""
) -> Saved:
    """Validate ``content`` and make it the item's next revision, then fan it out.

    A sensitive variable sent without a value keeps the value it had in the latest revision.
    Saving content identical to the latest revision makes no new revision. Raises
    :class:`ContentError`.
    """
    kind = kind_for(item.kind)
    original = item
    with transaction.atomic():
        item = SharedItem.objects.select_for_update().get(pk=item.pk)
        previous = latest(item)
        previous_secrets = secrets_of(previous)
        clean, secrets = kind.clean(content, previous.content if previous else {}, previous_secrets)
        if (
            previous is not None
            and previous.content == clean
            and secrets_digest(previous_secrets) == secrets_digest(secrets)
        ):
            return Saved(previous, False)
        revision = Revision(
            item=item,
            number=item.latest_revision + 1,
            content=clean,
            comment=comment[:300],
            created_by=actor,
        )
        if secrets:
            seal(revision, "secrets", json.dumps(secrets))
        revision.save()
        item.latest_revision = revision.number
        item.draft = {}
        item.save(update_fields=["latest_revision", "draft", "updated_at"])
        record(
            "sharing.revision.publish",
            actor=actor,
            obj=item,
            after={"revision": revision.number, "summary": kind.summary(clean)},
            message=comment[:300],
        )
        on_new_revision(item, revision.number)
    original.latest_revision, original.draft = item.latest_revision, item.draft
    return Saved(revision, True)


def diff(item: SharedItem, old_number: int, new_number: int) -> list[Change]:
    """Differences between two revisions (0 as ``old_number`` means "nothing")."""
    revisions = {r.number: r for r in item.revisions.filter(number__in=[old_number, new_number])}
    if new_number not in revisions or (old_number and old_number not in revisions):
        raise Revision.DoesNotExist(f"no revision {old_number} or {new_number}")
    old = revisions.get(old_number)
    new = revisions[new_number]
    return kind_for(item.kind).diff(
        old.content if old else {}, secrets_of(old), new.content, secrets_of(new)
    )


# -- imports ---------------------------------------------------------------------------


def import_variable_set(
    publisher: Space,
    library_variable_set_id: str,
    *,
    actor: Any = None,
    policy: str = SharedItem.Policy.PUSH,
) -> SharedItem:
    """Import a library variable set from the publisher's own Octopus space.

    Non-sensitive values are copied. Octopus never returns sensitive values, so when there are
    any the import is kept as a draft listing them; revision 1 is published once values are
    given. Without sensitive variables revision 1 is published at once.
    """
    space = publisher.octopus_id
    with client_for(publisher.instance) as client:
        lvs = client.get(f"/api/{space}/libraryvariablesets/{library_variable_set_id}")
        doc = client.get(f"/api/{space}/variables/{lvs['VariableSetId']}")
        references = reference_names(client, space, doc)
    content, needing = from_octopus(doc, references)
    item = create_item(
        publisher,
        SharedItem.Kind.VARIABLE_SET,
        lvs["Name"],
        description=lvs.get("Description") or "",
        policy=policy,
        actor=actor,
    )
    if needing:
        item.draft = {"content": content, "needs_values": needing}
        item.save(update_fields=["draft", "updated_at"])
    else:
        save_revision(item, content, actor=actor, comment=f"Imported from {lvs['Id']}")
    return item


def import_step_template(
    publisher: Space,
    data: dict[str, Any],
    *,
    actor: Any = None,
    policy: str = SharedItem.Policy.PUSH,
    comment: str = "Imported",
) -> SharedItem:
    """Create (or add a revision to) a shared step template from an export's JSON."""
    content = from_export(data)
    item = SharedItem.objects.filter(
        publisher=publisher, kind=SharedItem.Kind.STEP_TEMPLATE, name__iexact=content["Name"]
    ).first()
    if item is None:
        item = create_item(
            publisher,
            SharedItem.Kind.STEP_TEMPLATE,
            content["Name"],
            description=content["Description"][:2000],
            policy=policy,
            actor=actor,
        )
    save_revision(item, content, actor=actor, comment=comment)
    return item


def import_action_template(
    publisher: Space,
    source: Space,
    action_template_id: str,
    *,
    actor: Any = None,
    policy: str = SharedItem.Policy.PUSH,
) -> SharedItem:
    """Import an action template from an enlisted space (often the publisher itself)."""
    with client_for(source.instance) as client:
        data = client.get(f"/api/{source.octopus_id}/actiontemplates/{action_template_id}")
    return import_step_template(
        publisher,
        data,
        actor=actor,
        policy=policy,
        comment=f"Imported from {action_template_id} in {source.name}",
    )


def import_template_folder(
    publisher: Space, folder: Path, *, actor: Any = None
) -> tuple[list[SharedItem], list[str]]:
    """Import every ``*.json`` community step template in ``folder`` (offline).

    Returns the items touched and one message per file that could not be imported.
    """
    items, problems = [], []
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            items.append(
                import_step_template(
                    publisher, data, actor=actor, comment=f"Imported from {path.name}"
                )
            )
        except (OSError, ValueError) as exc:
            errors = exc.errors if isinstance(exc, ContentError) else [str(exc)[:200]]
            problems.append(f"{path.name}: {'; '.join(errors)}")
    return items, problems
