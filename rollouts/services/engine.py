"""Starting and advancing rollouts.

Guarantees:

* One worker at a time advances a rollout: it holds the rollout's lease (``odcm.work.claim``,
  a conditional UPDATE); a second beat or worker finds it busy and returns.
* A wave starts through ``UPDATE … SET state='delivering' WHERE state='waiting'``: even a
  worker whose lease ran out mid-step cannot start a wave twice.
* Every step is idempotent: it reads where the targets stand (one query through the kind)
  and moves the rollout on only when the rule holds, so repeating it changes nothing.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from audit.services import record
from odcm import work
from rollouts import registry
from rollouts.models import PolicyWave, Rollout, RolloutPolicy, RolloutTarget, RolloutWave
from rollouts.registry import Outcome, Target
from rollouts.services import pipelines
from spaces.models import Instance, Space

logger = logging.getLogger("rollouts.engine")

LEASE_SECONDS = 60
W = RolloutWave.State
T = RolloutTarget.State
R = Rollout.State


# -- starting -----------------------------------------------------------------------------


def on_new_revision(
    kind_name: str, subject_id: uuid.UUID, number: int, ids: list[uuid.UUID]
) -> list[uuid.UUID] | None:
    """The delivery gate: with an enabled policy, start a rollout of ``number`` (which
    delivers wave 1) and hold back everything it covers. None: no policy, not ours."""
    # A subject in a promotion pipeline goes stage by stage; its pipeline decides, not a policy.
    staged = pipelines.on_new_revision(kind_name, subject_id, number, ids)
    if staged is not None:
        return staged
    policy = RolloutPolicy.objects.filter(kind=kind_name, subject_id=subject_id, enabled=True)
    found = policy.first()
    if found is None:
        return None
    rollout = start(found, number)
    covered = set(rollout.targets.values_list("key", flat=True))
    return [pk for pk in ids if pk not in covered]


def _assign(policy: RolloutPolicy, targets: list[Target]) -> list[tuple[str, list[Target]]]:
    """Split targets into the policy's waves, in order; what no wave takes is a last wave."""
    spaces = {
        s.pk: s
        for s in Space.objects.filter(pk__in={t.space_id for t in targets})
        .select_related("instance")
        .prefetch_related("instance__tags")
    }
    # A whole-instance target (an instance baseline) is selected, and sorted, by its instance.
    whole = {t.key for t in targets if t.instance_id is not None}

    def name(t: Target) -> str:
        space = spaces[t.space_id]
        return space.instance.name if t.key in whole else space.name

    remaining = sorted(targets, key=lambda t: (name(t), str(t.key)))
    waves: list[tuple[str, list[Target]]] = []
    for wave in policy.waves.prefetch_related("spaces").order_by("position"):
        taken = _select(wave, remaining, spaces)
        if taken:
            waves.append((str(wave), taken))
            chosen = {t.key for t in taken}
            remaining = [t for t in remaining if t.key not in chosen]
    if remaining:
        waves.append(("Remaining targets", remaining))
    return waves


def _select(wave: PolicyWave, remaining: list[Target], spaces: dict[Any, Space]) -> list[Target]:
    S = PolicyWave.Selector
    if wave.selector == S.SPACES:
        chosen = list(wave.spaces.all())
        wanted = {s.pk for s in chosen}
        instances = {s.instance_id for s in chosen}  # a whole instance: any of its spaces
        return [
            t
            for t in remaining
            if (t.instance_id in instances if t.instance_id is not None else t.space_id in wanted)
        ]
    if wave.selector == S.TAG:
        return [
            t
            for t in remaining
            if wave.value in {tag.name for tag in spaces[t.space_id].instance.tags.all()}
        ]
    if wave.selector == S.REGION:
        region = wave.value.casefold()
        return [t for t in remaining if spaces[t.space_id].instance.region.casefold() == region]
    count = math.ceil(len(remaining) * (wave.percent or 0) / 100)
    return remaining[:count]


def start(policy: RolloutPolicy, revision: int, *, actor: Any = None) -> Rollout:
    """Start rolling ``revision`` out under ``policy`` (superseding an active rollout of the
    same subject) and deliver its first wave. Call inside the publishing transaction."""
    kind = registry.kind(policy.kind)
    with transaction.atomic():
        superseded = Rollout.objects.filter(
            kind=policy.kind, subject_id=policy.subject_id, state__in=Rollout.ACTIVE
        ).update(state=R.SUPERSEDED, finished_at=timezone.now(), claim_token=None)
        rollout = Rollout.objects.create(
            policy=policy,
            kind=policy.kind,
            subject_id=policy.subject_id,
            revision=revision,
            previous_revision=max(0, revision - 1),
            max_failures=policy.max_failures,
            max_failure_ratio=policy.max_failure_ratio,
            soak_seconds=policy.soak_seconds,
            approval_group=policy.approval_group,
        )
        rows: list[RolloutTarget] = []
        for position, (name, targets) in enumerate(
            _assign(policy, kind.targets(policy.subject_id)), 1
        ):
            wave = RolloutWave.objects.create(rollout=rollout, position=position, name=name)
            rows.extend(
                RolloutTarget(
                    rollout=rollout,
                    wave=wave,
                    key=t.key,
                    space_id=t.space_id,
                    instance_id=t.instance_id,
                    previous_revision=t.revision,
                )
                for t in targets
            )
        RolloutTarget.objects.bulk_create(rows)
        record(
            "rollouts.start",
            actor=actor,
            obj=rollout,
            after={"revision": revision, "targets": len(rows), "superseded": superseded},
            message=kind.label(policy.subject_id),
        )
        _step(rollout)
    return rollout


def _start_wave(rollout: Rollout, wave: RolloutWave) -> bool:
    """Deliver one wave. The conditional UPDATE makes a second start a no-op."""
    now = timezone.now()
    if not RolloutWave.objects.filter(pk=wave.pk, state=W.WAITING).update(
        state=W.DELIVERING, started_at=now
    ):
        return False
    keys = list(
        RolloutTarget.objects.filter(wave=wave, state=T.WAITING).values_list("key", flat=True)
    )
    RolloutTarget.objects.filter(wave=wave, state=T.WAITING).update(state=T.DELIVERING)
    registry.kind(rollout.kind).deliver(rollout.subject_id, keys, rollout.revision)
    _set(rollout, reason=f"Delivering {wave.name} ({len(keys)} targets).")
    record(
        "rollouts.wave.start",
        obj=rollout,
        after={"wave": wave.position, "name": wave.name, "targets": len(keys)},
    )
    return True


# -- advancing ----------------------------------------------------------------------------


def advance(rollout_id: Any) -> str:
    """One idempotent step of a rollout (what beat and the workers run). Returns what it did."""
    lease = work.claim(
        Rollout.objects.filter(state__in=Rollout.MOVING), rollout_id, seconds=LEASE_SECONDS
    )
    if lease is None:
        return "busy"
    try:
        with transaction.atomic():
            rollout = Rollout.objects.select_for_update().get(pk=rollout_id)
            return _step(rollout)
    finally:
        work.release(Rollout.objects.all(), lease)


def tick() -> int:
    """Periodic: queue one advance per moving rollout (safe with several beats: advancing
    claims the rollout)."""
    ids = list(Rollout.objects.filter(state__in=Rollout.MOVING).values_list("pk", flat=True))
    for pk in ids:
        work.enqueue("rollouts.tasks.advance", str(pk), on_commit=False)
    return len(ids)


def _set(rollout: Rollout, **changes: Any) -> None:
    for key, value in changes.items():
        setattr(rollout, key, value)
    Rollout.objects.filter(pk=rollout.pk).update(**changes, updated_at=timezone.now())


def _step(rollout: Rollout) -> str:
    if rollout.state == R.ROLLING_BACK:
        return _step_back(rollout)
    if rollout.state != R.RUNNING:
        return rollout.state
    wave = rollout.waves.exclude(state=W.DONE).order_by("position").first()
    if wave is None:
        _finish(rollout, R.COMPLETED, "Every wave is done.")
        return "completed"
    if wave.state == W.WAITING:
        if rollout.approval_group_id and wave.position > 1 and wave.approved_at is None:
            _set(
                rollout,
                state=R.WAITING_APPROVAL,
                reason=f"{wave.name} waits for approval by {rollout.approval_group}.",
            )
            return "waiting approval"
        _start_wave(rollout, wave)
        return "started"
    if wave.state == W.DELIVERING:
        return _check_delivering(rollout, wave)
    if wave.state == W.SOAKING:
        return _check_soaking(rollout, wave)
    return wave.state  # halted: a person resumes it


def refresh_wave(rollout: Rollout, wave: RolloutWave) -> dict[str, int]:
    """Record where the wave's targets stand now (what a resume needs: a target may have
    failed after the wave halted, while nothing advanced the rollout)."""
    return _refresh(rollout, wave)


def _refresh(rollout: Rollout, wave: RolloutWave) -> dict[str, int]:
    """Read where the wave's targets stand and record it; counts by outcome."""
    targets = RolloutTarget.objects.filter(wave=wave).exclude(state=T.SKIPPED)
    keys = list(targets.values_list("key", flat=True))
    found = registry.kind(rollout.kind).outcomes(rollout.subject_id, keys, rollout.revision)
    by_state: dict[str, list[uuid.UUID]] = {}
    for key, outcome in found.items():
        state = {
            Outcome.SUCCEEDED: T.SUCCEEDED,
            Outcome.FAILED: T.FAILED,
            Outcome.DRIFTED: T.FAILED,
            Outcome.GONE: T.SKIPPED,
        }.get(outcome, T.DELIVERING)
        by_state.setdefault(state, []).append(key)
    for new_state, ids in by_state.items():
        targets.filter(key__in=ids).exclude(state=new_state).update(state=new_state)
    counts = {str(o): 0 for o in Outcome}
    for outcome in found.values():
        counts[str(outcome)] += 1
    counts["total"] = len(found) - counts[Outcome.GONE]
    return counts


def _over_limit(rollout: Rollout, failed: int, total: int) -> bool:
    if failed > rollout.max_failures:
        return True
    return bool(rollout.max_failure_ratio and total and failed / total > rollout.max_failure_ratio)


def _check_delivering(rollout: Rollout, wave: RolloutWave) -> str:
    counts = _refresh(rollout, wave)
    failed = counts[Outcome.FAILED] + counts[Outcome.DRIFTED]
    if failed and _over_limit(rollout, failed, counts["total"]):
        _halt(rollout, wave, f"{failed} of {counts['total']} targets of {wave.name} failed.")
        return "halted"
    if counts[Outcome.PENDING]:
        _set(
            rollout,
            reason=f"{wave.name}: {counts[Outcome.SUCCEEDED]} of {counts['total']} delivered, "
            f"{failed} failing (within the limit), waiting for the rest.",
        )
        return "delivering"
    if failed:
        # Failures the policy tolerates leave the wave: the soak watches the others.
        RolloutTarget.objects.filter(wave=wave, state=T.FAILED).update(
            state=T.SKIPPED, message="Failed within the policy's limit; left out of the rollout."
        )
    soak_until = timezone.now() + timedelta(seconds=rollout.soak_seconds)
    RolloutWave.objects.filter(pk=wave.pk, state=W.DELIVERING).update(
        state=W.SOAKING, soak_until=soak_until
    )
    _set(rollout, reason=f"{wave.name} delivered; soaking until {soak_until:%H:%M:%S} UTC.")
    return "soaking"


def _offline(wave: RolloutWave) -> list[str]:
    spaces = RolloutTarget.objects.filter(wave=wave).exclude(state=T.SKIPPED).values("space")
    down = Instance.objects.filter(spaces__in=spaces, status=Instance.Status.OFFLINE)
    return sorted(set(down.values_list("name", flat=True)))


def _check_soaking(rollout: Rollout, wave: RolloutWave) -> str:
    counts = _refresh(rollout, wave)
    failed = counts[Outcome.FAILED] + counts[Outcome.DRIFTED]
    if failed:
        _halt(rollout, wave, f"{failed} targets of {wave.name} failed or drifted while soaking.")
        return "halted"
    down = _offline(wave)
    if down:
        _halt(rollout, wave, f"Instance {', '.join(down)} went offline while {wave.name} soaked.")
        return "halted"
    if wave.soak_until and wave.soak_until > timezone.now():
        _set(rollout, reason=f"{wave.name} soaking until {wave.soak_until:%H:%M:%S} UTC.")
        return "soaking"
    RolloutWave.objects.filter(pk=wave.pk, state=W.SOAKING).update(
        state=W.DONE, finished_at=timezone.now()
    )
    record("rollouts.wave.done", obj=rollout, after={"wave": wave.position, "name": wave.name})
    return _step(rollout)  # the next wave (or approval, or completion) at once


def _halt(rollout: Rollout, wave: RolloutWave, reason: str) -> None:
    RolloutWave.objects.filter(pk=wave.pk).update(state=W.HALTED)
    _set(rollout, state=R.HALTED, reason=reason, halt_notified_at=None)
    record("rollouts.halt", obj=rollout, message=reason)
    rollout_id = str(rollout.pk)
    transaction.on_commit(lambda: work.enqueue("rollouts.tasks.notify_halt", rollout_id))
    logger.warning("rollout %s halted: %s", rollout.pk, reason)


def _finish(rollout: Rollout, state: str, reason: str) -> None:
    _set(rollout, state=state, reason=reason, finished_at=timezone.now())
    record(f"rollouts.{state}", obj=rollout, message=reason)


def _step_back(rollout: Rollout) -> str:
    """Rolling back: done when every target sent back holds its previous revision."""
    back = RolloutTarget.objects.filter(rollout=rollout, state=T.DELIVERING)
    by_revision: dict[int, list[uuid.UUID]] = {}
    for key, previous in back.values_list("key", "previous_revision"):
        by_revision.setdefault(previous, []).append(key)
    kind = registry.kind(rollout.kind)
    pending = 0
    for number, keys in by_revision.items():
        found = kind.outcomes(rollout.subject_id, keys, number)
        done = [k for k, o in found.items() if o in (Outcome.SUCCEEDED, Outcome.GONE)]
        back.filter(key__in=done).update(state=T.ROLLED_BACK)
        pending += len(keys) - len(done)
    if pending:
        _set(rollout, reason=f"Rolling back: {pending} targets still to go back.")
        return "rolling back"
    _finish(rollout, R.ROLLED_BACK, "Every target that received the revision was sent back.")
    return "rolled back"


def targets_of(rollout: Rollout) -> QuerySet[RolloutTarget]:
    return rollout.targets.select_related("space__instance", "instance", "wave")


def keys(rows: Iterable[RolloutTarget]) -> list[uuid.UUID]:
    return [r.key for r in rows]
