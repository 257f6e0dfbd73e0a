"""Delivery gates for blueprints, template projects and instance baselines: a higher app
(rollouts) decides which spaces (or instances) receive a revision now, as ``sharing.gates``
does for shared items.

Managed sits below the apps that stage its deliveries, so it cannot import them; such an app
registers a gate in its ``AppConfig.ready()``::

    from managed.gates import register_gate
    register_gate(my_gate)  # (kind, subject id, revision, target ids) -> ids or None

Only a delivery to *every* target is gated (a person pressing Apply or Push, a template's
new revision reaching its automatic downstreams); a delivery to named targets (the later
waves a rollout queues itself, a drift re-apply) is not. A gate returns the ids that may be
delivered now (it takes over the others) or ``None`` to leave the decision alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

BLUEPRINT = "blueprint"
TEMPLATE_PROJECT = "template_project"
BASELINE = "baseline"

Gate = Callable[[str, uuid.UUID, int, list[Any]], list[Any] | None]
_gates: list[Gate] = []


def register_gate(gate: Gate) -> None:
    if gate not in _gates:
        _gates.append(gate)


def allowed(kind: str, subject_id: uuid.UUID, number: int, ids: list[Any]) -> list[Any]:
    """The targets among ``ids`` that may receive revision ``number`` of the subject now."""
    for gate in list(_gates):
        decided = gate(kind, subject_id, number, ids)
        if decided is not None:
            keep = {str(pk) for pk in decided}
            ids = [pk for pk in ids if str(pk) in keep]
    return ids
