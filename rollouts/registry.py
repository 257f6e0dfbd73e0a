"""Rollout target kinds: what rollouts needs to know about a deliverable, and nothing more.

Rollouts stages anything ODCM pushes into spaces. It knows each deliverable through a
:class:`TargetKind` registered under a name; it never imports the app behind it. An app whose
deliverable should roll out in waves registers its kind in its ``AppConfig.ready()``::

    from rollouts.registry import register
    register(MyKind())

(An app below rollouts, such as sharing, cannot import it: its kind is written on rollouts'
side, ``rollouts/kinds.py``, which may import sharing.) A kind must also tell rollouts when a
new revision appears; sharing does it through its delivery gate (``sharing.gates``), another
app calls :func:`rollouts.services.engine.start` itself.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Target:
    """One place a revision is delivered to: the kind's id for it, its space, and the revision
    it holds now (0: none; what a rollback goes back to).

    A target that is a whole instance (an instance baseline) also names ``instance_id``; its
    ``space_id`` is then one space of that instance, standing for it (waves select it by the
    instance: its tag, its region, or any of its spaces chosen)."""

    key: uuid.UUID
    space_id: uuid.UUID
    revision: int = 0
    instance_id: uuid.UUID | None = None


class Outcome(enum.StrEnum):
    PENDING = "pending"  # not delivered yet (queued, being written, retrying)
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DRIFTED = "drifted"  # delivered, then changed in Octopus by someone else
    GONE = "gone"  # the target stopped existing (unsubscribed)


class TargetKind(Protocol):
    """What one deliverable kind tells rollouts. Subjects are UUIDs (a shared item)."""

    name: str

    def label(self, subject_id: uuid.UUID) -> str:
        """The subject's name, for pages and emails."""
        ...

    def url(self, subject_id: uuid.UUID) -> str:
        """Path of the subject's page."""
        ...

    def latest_revision(self, subject_id: uuid.UUID) -> int:
        """The newest revision of the subject (0: none yet)."""
        ...

    def targets(self, subject_id: uuid.UUID) -> list[Target]:
        """Every target a revision of the subject goes to."""
        ...

    def deliver(self, subject_id: uuid.UUID, keys: list[uuid.UUID], revision: int) -> None:
        """Queue ``revision`` for the targets ``keys`` (also backwards: a rollback)."""
        ...

    def outcomes(
        self, subject_id: uuid.UUID, keys: list[uuid.UUID], revision: int
    ) -> dict[uuid.UUID, Outcome]:
        """Where each target stands with ``revision`` (one query for all of them)."""
        ...

    def owners(self, subject_id: uuid.UUID) -> list[str]:
        """Email addresses to tell when a rollout halts."""
        ...

    def visible_subjects(self, user: Any) -> Any:
        """A queryset of the subject ids ``user`` may see (``values("pk")``)."""
        ...

    def may_manage(self, user: Any, subject_id: uuid.UUID) -> bool:
        """Whether ``user`` may change the policy and pause, resume, abort, roll back."""
        ...


_kinds: dict[str, TargetKind] = {}


def register(kind: TargetKind) -> None:
    _kinds[kind.name] = kind


def kind(name: str) -> TargetKind:
    """The registered kind ``name`` (KeyError when none is)."""
    return _kinds[name]


def names() -> list[str]:
    return sorted(_kinds)
