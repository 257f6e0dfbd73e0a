"""Creating a space from a blueprint: managed's answers to the registry's create-space hooks
(``spaces.signals.space_setup_options`` / ``space_setup``). The registry may not import
managed, so the create form asks through the signal and hands the new space back to us."""

from __future__ import annotations

import uuid
from typing import Any

from managed import access
from managed.services import blueprints, broker
from managed.services.content import BlueprintInvalid
from spaces.signals import SetupOption

PREFIX = "blueprint:"


def offer(sender: Any, user: Any, **kwargs: Any) -> list[SetupOption]:
    """Every blueprint the person may edit (and so assign), newest revision named."""
    if user is None or not getattr(user, "is_authenticated", False):
        return []
    rows = access.visible_blueprints(user).filter(latest_revision__gt=0).order_by("name")
    return [
        SetupOption(f"{PREFIX}{bp.pk}", f"Blueprint {bp.name} (r{bp.latest_revision})")
        for bp in rows.select_related("management_space")
        if access.can_edit(user, bp)
    ]


def set_up(sender: Any, space: Any, choice: str, actor: Any = None, **kwargs: Any) -> Any:
    """Assign the chosen blueprint to the new space and queue its apply (after commit, by
    the broker: claimed, retried, audited). None when ``choice`` is not ours."""
    if not choice.startswith(PREFIX):
        return None
    try:
        pk = uuid.UUID(choice.removeprefix(PREFIX))
    except ValueError:
        return ["That blueprint does not exist; the space was left blank."]
    rows = access.visible_blueprints(actor) if actor is not None else None
    bp = rows.filter(pk=pk).first() if rows is not None else None
    if bp is None or not access.can_edit(actor, bp) or not access.can_assign(actor, space):
        return ["That blueprint is not yours to apply; the space was left blank."]
    try:
        made = blueprints.assign(bp, [space], actor=actor)
    except BlueprintInvalid as exc:
        return [str(exc)]
    broker.queue_apply(bp, target_ids=[t.pk for t in made], actor=actor)
    return []
