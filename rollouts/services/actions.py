"""What people do to a rollout: pause, resume, approve, skip a target, abort, roll back; and
the policies themselves. Each action is one conditional UPDATE on the rollout's state (two
people clicking at once: one wins, the other is told), audited, then an advance is queued."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.services import record
from identity.access import user_groups
from identity.models import Group
from odcm import work
from odcm.errors import ErrorKind, ServiceError
from rollouts import registry
from rollouts.models import PolicyWave, Rollout, RolloutPolicy, RolloutTarget, RolloutWave
from rollouts.services import engine
from spaces.models import Space

R = Rollout.State
T = RolloutTarget.State
W = RolloutWave.State


class RolloutError(ServiceError, ValueError):
    """A rollout action that cannot be taken now; the message is for people."""


def _kick(rollout: Rollout) -> None:
    work.enqueue("rollouts.tasks.advance", str(rollout.pk))


def _move(rollout: Rollout, allowed: tuple[str, ...], to: str, verb: str, **changes: Any) -> None:
    won = Rollout.objects.filter(pk=rollout.pk, state__in=allowed).update(
        state=to, updated_at=timezone.now(), **changes
    )
    if not won:
        rollout.refresh_from_db(fields=["state"])
        raise RolloutError(
            f"A {rollout.get_state_display().lower()} rollout cannot be {verb}.",
            code="wrong_state",
            kind=ErrorKind.CONFLICT,
        )
    rollout.state = to
    for key, value in changes.items():
        setattr(rollout, key, value)


def pause(rollout: Rollout, *, actor: Any = None) -> None:
    with transaction.atomic():
        _move(rollout, (R.RUNNING, R.WAITING_APPROVAL), R.PAUSED, "paused", reason="Paused.")
        record("rollouts.pause", actor=actor, obj=rollout)


def resume(rollout: Rollout, *, actor: Any = None) -> None:
    """Resume a paused or halted rollout; a halted wave delivers its failed targets again."""
    with transaction.atomic():
        was = rollout.state
        _move(rollout, (R.PAUSED, R.HALTED), R.RUNNING, "resumed", reason="Resumed.")
        halted = rollout.waves.filter(state=W.HALTED).first()
        if halted is not None:
            # Targets that failed after the halt (a slower failure of the same wave) are
            # delivered again too, not found failed on the next step (a second halt).
            engine.refresh_wave(rollout, halted)
            RolloutWave.objects.filter(pk=halted.pk).update(state=W.DELIVERING)
            failed = RolloutTarget.objects.filter(wave=halted, state=T.FAILED)
            again = list(failed.values_list("key", flat=True))
            failed.update(state=T.DELIVERING)
            if again:
                registry.kind(rollout.kind).deliver(rollout.subject_id, again, rollout.revision)
        record("rollouts.resume", actor=actor, obj=rollout, before={"state": was})
        _kick(rollout)


def may_approve(user: Any, rollout: Rollout) -> bool:
    return bool(
        rollout.approval_group_id
        and user_groups(user).filter(pk=rollout.approval_group_id).exists()
    )


def approve(rollout: Rollout, *, actor: Any) -> None:
    """Approve the next wave (members of the policy's approval group only)."""
    if not may_approve(actor, rollout):
        raise RolloutError(
            "Only members of the approval group approve this rollout.",
            code="not_approver",
            kind=ErrorKind.PERMISSION,
        )
    with transaction.atomic():
        wave = rollout.waves.filter(state=W.WAITING).order_by("position").first()
        _move(rollout, (R.WAITING_APPROVAL,), R.RUNNING, "approved", reason="Approved.")
        if wave is not None:
            RolloutWave.objects.filter(pk=wave.pk, approved_at__isnull=True).update(
                approved_by=actor, approved_at=timezone.now()
            )
        record(
            "rollouts.approve",
            actor=actor,
            obj=rollout,
            after={"wave": wave.position if wave else None},
        )
        _kick(rollout)


def skip_target(rollout: Rollout, key: uuid.UUID, *, actor: Any = None) -> None:
    """Leave one target out (it keeps what it has); a halted rollout still needs a resume."""
    with transaction.atomic():
        if rollout.state not in Rollout.ACTIVE:
            raise RolloutError(
                "Only an active rollout's targets can be skipped.", code="wrong_state"
            )
        skipped = RolloutTarget.objects.filter(
            rollout=rollout, key=key, state__in=[T.WAITING, T.DELIVERING, T.FAILED]
        ).update(state=T.SKIPPED, message="Skipped by a person.")
        if not skipped:
            raise RolloutError("That target is not waiting, delivering or failed.")
        record("rollouts.skip", actor=actor, obj=rollout, after={"target": str(key)})
        _kick(rollout)


def abort(rollout: Rollout, *, actor: Any = None) -> None:
    """Stop here: the waves not started keep what they had."""
    with transaction.atomic():
        _move(
            rollout,
            Rollout.ACTIVE,
            R.ABORTED,
            "aborted",
            reason="Aborted; the remaining waves keep their revision.",
            finished_at=timezone.now(),
        )
        record("rollouts.abort", actor=actor, obj=rollout)


def roll_back(rollout: Rollout, *, actor: Any = None) -> int:
    """Deliver each target's previous revision to the waves already started. Returns how
    many targets go back."""
    with transaction.atomic():
        _move(
            rollout,
            (*Rollout.ACTIVE, R.COMPLETED),
            R.ROLLING_BACK,
            "rolled back",
            reason="Rolling back.",
            finished_at=None,
        )
        started = RolloutTarget.objects.filter(
            rollout=rollout, state__in=[T.DELIVERING, T.SUCCEEDED, T.FAILED]
        )
        nothing = started.filter(previous_revision=0)
        nothing.update(state=T.SKIPPED, message="Held no earlier revision: left as it is.")
        back = started.exclude(previous_revision=0)
        by_revision: dict[int, list[uuid.UUID]] = {}
        for key, previous in back.values_list("key", "previous_revision"):
            by_revision.setdefault(previous, []).append(key)
        back.update(state=T.DELIVERING, message="Going back to its previous revision.")
        kind = registry.kind(rollout.kind)
        for number, keys in by_revision.items():
            kind.deliver(rollout.subject_id, keys, number)
        count = sum(len(k) for k in by_revision.values())
        record("rollouts.rollback", actor=actor, obj=rollout, after={"targets": count})
        _kick(rollout)
    return count


def start(kind_name: str, subject_id: uuid.UUID, revision: int, *, actor: Any = None) -> Rollout:
    """Start rolling ``revision`` out by hand (e.g. after a policy was added) under the
    subject's policy; an active rollout of the subject is superseded."""
    policy = RolloutPolicy.objects.filter(kind=kind_name, subject_id=subject_id).first()
    if policy is None:
        raise RolloutError("Give it a rollout policy first.", code="no_policy")
    latest = registry.kind(kind_name).latest_revision(subject_id)
    if not 0 < revision <= latest:
        raise RolloutError(
            f"There is no revision {revision}.", errors={"revision": ["No such revision."]}
        )
    return engine.start(policy, revision, actor=actor)


# -- policies ------------------------------------------------------------------------------


def save_policy(
    kind_name: str,
    subject_id: uuid.UUID,
    waves: list[dict[str, Any]],
    *,
    max_failures: int = 0,
    max_failure_ratio: float = 0.0,
    soak_seconds: int = 300,
    approval_group: Group | None = None,
    enabled: bool = True,
    actor: Any = None,
) -> RolloutPolicy:
    """Create or replace the rollout policy of a subject. ``waves``: dicts with ``selector``
    (spaces, tag, region, percent), ``name`` and ``spaces`` (ids), ``value`` or ``percent``."""
    registry.kind(kind_name)  # KeyError for an unknown kind
    problems = _check_waves(waves)
    if not 0 <= max_failure_ratio <= 1:
        problems.append("The failure ratio is between 0 and 1.")
    if problems:
        raise RolloutError("The policy is not valid: " + " ".join(problems), errors=problems)
    with transaction.atomic():
        values = {
            "max_failures": max_failures,
            "max_failure_ratio": max_failure_ratio,
            "soak_seconds": soak_seconds,
            "approval_group": approval_group,
            "enabled": enabled,
        }
        policy, created = RolloutPolicy.objects.update_or_create(
            kind=kind_name,
            subject_id=subject_id,
            defaults=values,
            create_defaults={**values, "created_by": actor},
        )
        policy.waves.all().delete()
        for position, spec in enumerate(waves, 1):
            wave = PolicyWave.objects.create(
                policy=policy,
                position=position,
                name=str(spec.get("name") or "")[:100],
                selector=spec["selector"],
                value=str(spec.get("value") or "")[:100],
                percent=spec.get("percent"),
            )
            if spec["selector"] == PolicyWave.Selector.SPACES:
                wave.spaces.set(Space.objects.filter(pk__in=spec.get("spaces") or []))
        record(
            "rollouts.policy.save",
            actor=actor,
            obj=policy,
            after={
                "waves": len(waves),
                "max_failures": max_failures,
                "max_failure_ratio": max_failure_ratio,
                "soak_seconds": soak_seconds,
                "approval_group": str(approval_group) if approval_group else None,
                "created": created,
            },
        )
    return policy


def delete_policy(policy: RolloutPolicy, *, actor: Any = None) -> None:
    """Remove a policy: later revisions go to every target at once; running rollouts go on."""
    with transaction.atomic():
        record("rollouts.policy.delete", actor=actor, obj=policy)
        policy.delete()


def _check_waves(waves: list[dict[str, Any]]) -> list[str]:
    problems = []
    if not waves:
        problems.append("A policy needs at least one wave.")
    S = PolicyWave.Selector
    for n, spec in enumerate(waves, 1):
        selector = spec.get("selector")
        if selector not in S.values:
            problems.append(f"Wave {n}: choose spaces, tag, region or percent.")
        elif selector == S.SPACES and not spec.get("spaces"):
            problems.append(f"Wave {n}: name at least one space.")
        elif selector in (S.TAG, S.REGION) and not str(spec.get("value") or "").strip():
            problems.append(f"Wave {n}: name the {selector}.")
        elif selector == S.PERCENT and not (
            isinstance(spec.get("percent"), int) and 1 <= spec["percent"] <= 100
        ):
            problems.append(f"Wave {n}: the percentage is a whole number from 1 to 100.")
    return problems
