"""Delivery gates: a higher app decides which subscribers receive a new revision now.

Sharing sits below the apps that stage its deliveries (rollouts), so it cannot import them.
Instead such an app registers a gate in its ``AppConfig.ready()``::

    from sharing.gates import register_gate
    register_gate(my_gate)

When a revision is published, :func:`allowed` hands each gate the item, the revision number and
the automatic subscriptions about to be queued; a gate returns the ids that may be delivered
now (it takes over the others, e.g. wave 2 and later of a staged rollout) or ``None`` to leave
the decision alone. Gates run inside the publishing transaction: what they write commits, or
rolls back, with the revision.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sharing.models import SharedItem

Gate = Callable[["SharedItem", int, list[uuid.UUID]], list[uuid.UUID] | None]
_gates: list[Gate] = []


def register_gate(gate: Gate) -> None:
    if gate not in _gates:
        _gates.append(gate)


def allowed(item: SharedItem, number: int, ids: list[uuid.UUID]) -> list[uuid.UUID]:
    """The subscriptions among ``ids`` that may receive revision ``number`` now."""
    for gate in list(_gates):
        decided = gate(item, number, ids)
        if decided is not None:
            keep = set(decided)
            ids = [pk for pk in ids if pk in keep]
    return ids
