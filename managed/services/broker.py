"""The broker of blueprints: queue, claim, plan and apply one space at a time, retry, drift.

One :class:`BlueprintTarget` per space is the unit of work. A worker claims it with
``odcm.work.claim`` (a conditional UPDATE), reads the space, plans, writes the plan and
releases the row with the outcome; each attempt leaves a :class:`BlueprintApply` row. A
failing space is retried with backoff and never stops the others; a worker killed mid-way
leaves a lease that runs out, and the sweep queues the space again. Creations are written
down as intended before they are attempted, so the next attempt adopts an item whose POST
succeeded but whose bookkeeping did not: nothing is created twice, and prune still knows it.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from audit.services import record
from managed import gates
from managed.models import Blueprint, BlueprintApply, BlueprintRevision, BlueprintTarget
from managed.services import blueprint_step_templates as steps
from managed.services import blueprint_teams as teams
from managed.services import octopus_side as side
from managed.services.blueprints import secrets_of, sync_targets
from octopus.errors import OctopusError
from odcm.clients import client_for
from odcm.crypto import CryptoError
from odcm.errors import ServiceError
from odcm.work import Lease, backoff, claim, enqueue, free, mine, release

log = logging.getLogger(__name__)
S = BlueprintTarget.Status
WORKABLE = (S.QUEUED, S.FAILED, S.APPLYING)


def _rows() -> QuerySet[BlueprintTarget]:
    return BlueprintTarget.objects.all()


def _requeue_after() -> timedelta:
    # A queued target whose message was lost is queued again after one lease's time.
    return timedelta(seconds=settings.ODCM_MANAGED_CLAIM_SECONDS)


def describe(exc: BaseException) -> str:
    """A message for people; never a secret (unknown errors give their type only)."""
    if isinstance(exc, OctopusError | CryptoError | ServiceError):
        return str(exc)[:1000]
    return f"Unexpected {type(exc).__name__} in ODCM."


# ---------------------------------------------------------------- queueing


def queue_apply(
    blueprint: Blueprint,
    *,
    target_ids: list[Any] | None = None,
    prune: bool = False,
    revision: int | None = None,
    actor: Any = None,
) -> int:
    """Queue an apply of ``revision`` (default: the latest) to the blueprint's targets (or
    some of them); one task per space, sent after commit. Returns how many were queued.
    An apply to every target passes ``managed.gates`` first: a rollout policy or pipeline
    may let only its first wave through now (and queues the others itself, by id)."""
    rows = blueprint.targets.all()
    if target_ids is not None:
        rows = rows.filter(pk__in=target_ids)
    now = timezone.now()
    number = revision or blueprint.latest_revision
    with transaction.atomic():
        keys = list(rows.values_list("pk", flat=True))
        if target_ids is None:
            keys = gates.allowed(gates.BLUEPRINT, blueprint.pk, number, keys)
            rows = blueprint.targets.filter(pk__in=keys)
        ids = [str(pk) for pk in keys]
        rows.update(
            target_revision=number,
            prune=prune,
            status=S.QUEUED,
            failures=0,
            last_error="",
            next_attempt_at=now + _requeue_after(),
        )
        record(
            "managed.blueprint.apply",
            actor=actor,
            obj=blueprint,
            after={"revision": number, "spaces": len(ids), "prune": prune},
        )
    for ident in ids:
        enqueue("managed.tasks.apply_target", ident)
    return len(ids)


def sweep(requeue_after: float | None = None) -> int:
    """Periodic: pick up spaces newly matched by rules; re-queue due retries, lost messages
    (queued longer than ``requeue_after`` seconds, default one lease) and applies whose
    worker died (their lease ran out)."""
    for blueprint in Blueprint.objects.filter(
        Q(instance_tags__isnull=False) | ~Q(regions=[])
    ).distinct():
        sync_targets(blueprint)
    now = timezone.now()
    wait = _requeue_after() if requeue_after is None else timedelta(seconds=requeue_after)
    due = _rows().filter(free(now), status__in=WORKABLE, target_revision__isnull=False)
    due = due.filter(
        Q(status=S.APPLYING)  # free and applying: its worker died
        | Q(next_attempt_at__isnull=True)
        | Q(next_attempt_at__lte=now)
        | Q(status=S.QUEUED, next_attempt_at__lte=now - _requeue_after() + wait)
    )
    ids = [str(pk) for pk in due.values_list("pk", flat=True)]
    _rows().filter(pk__in=ids).update(next_attempt_at=now + wait)
    for ident in ids:
        enqueue("managed.tasks.apply_target", ident, on_commit=False)
    return len(ids)


# ---------------------------------------------------------------- plan


def _content(target: BlueprintTarget, number: int) -> tuple[BlueprintRevision, dict[str, str]]:
    revision = BlueprintRevision.objects.get(blueprint_id=target.blueprint_id, number=number)
    return revision, secrets_of(revision)


def compute_plan(
    target: BlueprintTarget, revision: BlueprintRevision, secrets: dict[str, str], prune: bool
) -> list[side.Action]:
    """Read the space (one GET per kind) and plan; no database access (threads call it)."""
    with client_for(target.space.instance) as client:
        space = side.read_space(client, target.space.octopus_id)
    return side.plan(
        revision.content,
        space,
        secrets,
        target.secret_digests,
        created=target.created,
        prune=prune,
    )


def _plan_json(actions: list[side.Action], revision: int) -> dict[str, Any]:
    return {
        "revision": revision,
        "counts": side.counts(actions),
        "actions": [a.as_json() for a in actions if a.verb != "keep"],
        "kept": [a.as_json() for a in actions if a.verb == "keep"],
    }


def plan_targets(
    blueprint: Blueprint, *, prune: bool = False, concurrency: int = 8
) -> dict[str, dict[str, Any]]:
    """Plan every target of the blueprint against its latest revision, ``concurrency``
    spaces at a time; stores each plan on its target and returns them by space id."""
    revision = BlueprintRevision.objects.get(blueprint=blueprint, number=blueprint.latest_revision)
    secrets = secrets_of(revision)
    targets = list(blueprint.targets.select_related("space__instance"))

    def one(target: BlueprintTarget) -> list[side.Action] | str:
        try:
            return compute_plan(target, revision, secrets, prune)
        except Exception as exc:  # a space that cannot be read gets its error as its plan
            return describe(exc)

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        found = list(pool.map(one, targets))
    now = timezone.now()
    out = {}
    for target, actions in zip(targets, found, strict=True):
        if isinstance(actions, str):
            result: dict[str, Any] = {"revision": revision.number, "error": actions}
        else:  # teams and step templates live in ODCM's database: planned here, not in threads
            actions += teams.plan_teams(
                revision.content, target.space, created=target.created, prune=prune
            )
            try:
                actions += steps.plan_step_templates(
                    revision.content,
                    target.space,
                    blueprint.management_space,
                    created=target.created,
                    prune=prune,
                )
            except ServiceError as exc:  # a missing library template: that space's error
                actions = describe(exc)
            result = (
                {"revision": revision.number, "error": actions}
                if isinstance(actions, str)
                else _plan_json(actions, revision.number)
            )
        BlueprintTarget.objects.filter(pk=target.pk).update(
            plan=result, planned_at=now, planned_revision=revision.number
        )
        out[str(target.space_id)] = result
    return out


# ---------------------------------------------------------------- apply


def apply_target(target_id: str) -> str:
    """Bring one space to its target revision (the task's body). Returns the outcome."""
    target = (
        BlueprintTarget.objects.select_related("space__instance", "blueprint")
        .filter(pk=target_id)
        .first()
    )
    if target is None or target.target_revision is None or target.status not in WORKABLE:
        return "nothing to do"
    lease = claim(
        _rows().filter(status__in=WORKABLE),
        target.pk,
        seconds=settings.ODCM_MANAGED_CLAIM_SECONDS,
        status=S.APPLYING,
    )
    if lease is None:
        return "busy"
    target.refresh_from_db()
    number = int(target.target_revision or 0)
    attempt = BlueprintApply.objects.create(target=target, revision=number)
    try:
        counts = _apply(target, lease, number)
    except Exception as exc:
        return _failed(target, lease, attempt, exc)
    now = timezone.now()
    BlueprintApply.objects.filter(pk=attempt.pk).update(
        outcome=BlueprintApply.Outcome.APPLIED,
        created=counts["create"],
        changed=counts["change"],
        deleted=counts["delete"],
        finished_at=now,
    )
    if counts["create"] or counts["change"] or counts["delete"]:
        record(
            "managed.blueprint.applied",
            obj=target.blueprint,
            after={"space": str(target.space_id), "revision": number, **counts},
        )
    # An apply queued while this one ran (a newer revision) is picked up again.
    again = BlueprintTarget.objects.filter(pk=target.pk, status=S.QUEUED).exists()
    if again:
        enqueue("managed.tasks.apply_target", str(target.pk), on_commit=False)
    return "applied"


def _apply(target: BlueprintTarget, lease: Lease, number: int) -> dict[str, int]:
    revision, secrets = _content(target, number)
    created: dict[str, dict[str, str]] = {k: dict(v) for k, v in target.created.items()}
    publisher = target.blueprint.management_space
    # Step templates first: a name the library lacks fails the space before anything is written.
    steps.adopt(
        revision.content,
        target.space,
        publisher,
        (target.intended or {}).get(steps.KIND, []),
        created,
    )
    step_actions = steps.plan_step_templates(
        revision.content, target.space, publisher, created=created, prune=target.prune
    )
    with client_for(target.space.instance) as client:
        space = side.read_space(client, target.space.octopus_id)
        # Adopt what an earlier, interrupted attempt created but could not write down.
        for kind, names in (target.intended or {}).items():
            for lower in names:
                doc = space.docs.get(kind, {}).get(lower)
                if doc is not None and lower not in created.get(kind, {}):
                    created.setdefault(kind, {})[lower] = str(doc["Id"])
        actions = side.plan(
            revision.content,
            space,
            secrets,
            target.secret_digests,
            created=created,
            prune=target.prune,
        )
        intended: dict[str, list[str]] = {}
        for action in actions + step_actions:
            if action.verb == "create":
                intended.setdefault(action.kind, []).append(action.name.lower())
        if not mine(_rows(), lease).update(intended=intended, created=created):
            raise LostLease()

        def note(kind: str, lower: str, ident: str | None) -> None:
            if ident is None:
                created.get(kind, {}).pop(lower, None)
            else:
                created.setdefault(kind, {})[lower] = ident
            mine(_rows(), lease).update(created=created)

        written = side.write(
            client, target.space.octopus_id, revision.content, space, actions, secrets, note
        )
    team_actions = teams.plan_teams(
        revision.content, target.space, created=created, prune=target.prune
    )
    teams.apply_teams(revision.content, target.space, team_actions, created)
    mine(_rows(), lease).update(created=created)  # the grants made, before anything else
    steps.apply_step_templates(revision.content, target.space, publisher, step_actions, created)
    mine(_rows(), lease).update(created=created)
    actions += team_actions + step_actions
    counts = side.counts(actions)
    still_queued = _rows().filter(pk=target.pk, target_revision__gt=number).exists()
    ok = release(
        _rows(),
        lease,
        status=S.QUEUED if still_queued else S.APPLIED,
        applied_revision=number,
        created=created,
        intended={},
        secret_digests={**target.secret_digests, **written},
        plan=_plan_json(actions, number),
        planned_at=timezone.now(),
        planned_revision=number,
        drift=[],
        failures=0,
        last_error="",
        next_attempt_at=timezone.now() + _requeue_after() if still_queued else None,
        applied_at=timezone.now(),
        prune=False,
    )
    if not ok:
        raise LostLease()
    return counts


class LostLease(Exception):
    """The lease ran out mid-apply and another worker took the space over."""

    def __str__(self) -> str:
        return "The apply took longer than its lease; another attempt took over."


def _failed(target: BlueprintTarget, lease: Lease, attempt: BlueprintApply, exc: Exception) -> str:
    message = describe(exc) if not isinstance(exc, LostLease) else str(exc)
    log.warning("managed: apply to space %s failed: %s", target.space_id, message)
    failures = target.failures + 1
    delay = backoff(
        failures,
        base=settings.ODCM_MANAGED_RETRY_BASE_SECONDS,
        cap=settings.ODCM_MANAGED_RETRY_MAX_SECONDS,
        jitter=0.1,
    )
    BlueprintApply.objects.filter(pk=attempt.pk).update(
        outcome=BlueprintApply.Outcome.FAILED, error=message, finished_at=timezone.now()
    )
    released = release(
        _rows(),
        lease,
        status=S.FAILED,
        failures=failures,
        last_error=message,
        next_attempt_at=timezone.now() + timedelta(seconds=delay),
    )
    if released:
        record(
            "managed.blueprint.apply_failed",
            obj=target.blueprint,
            after={"space": str(target.space_id), "failures": failures},
            message=message,
        )
        enqueue("managed.tasks.apply_target", str(target.pk), countdown=delay, on_commit=False)
    return "failed"


# ---------------------------------------------------------------- drift


def drift_candidates() -> list[str]:
    rows = _rows().filter(status__in=[S.APPLIED, S.DRIFTED], applied_revision__isnull=False)
    return [str(pk) for pk in rows.values_list("pk", flat=True)]


def check_drift(target_id: str) -> str:
    """Compare a space with the revision last applied to it. Drift (a person changed a
    managed environment or lifecycle, or deleted one) is reported on the target, or the
    blueprint is re-applied if it says so. Passwords cannot be read back, so not checked."""
    target = (
        BlueprintTarget.objects.select_related("space__instance", "blueprint")
        .filter(pk=target_id, status__in=[S.APPLIED, S.DRIFTED])
        .first()
    )
    if target is None or target.applied_revision is None:
        return "nothing to do"
    lease = claim(_rows().filter(status__in=[S.APPLIED, S.DRIFTED]), target.pk, seconds=120)
    if lease is None:
        return "busy"
    try:
        revision, secrets = _content(target, target.applied_revision)
        actions = compute_plan(target, revision, secrets, prune=False)
        actions += teams.plan_teams(revision.content, target.space)
        actions += steps.plan_step_templates(
            revision.content, target.space, target.blueprint.management_space, inspect=True
        )
    except Exception as exc:
        release(_rows(), lease, checked_at=timezone.now())
        return f"unreadable: {describe(exc)}"
    found = [
        a.as_json()
        for a in actions
        if a.verb == "create" or (a.verb == "change" and set(a.fields) - {"password"})
    ]
    status = S.DRIFTED if found else S.APPLIED
    release(_rows(), lease, drift=found, status=status, checked_at=timezone.now())
    if found:
        record(
            "managed.blueprint.drift",
            obj=target.blueprint,
            after={"space": str(target.space_id), "changes": len(found)},
        )
        if target.blueprint.on_drift == Blueprint.OnDrift.REAPPLY:
            queue_apply(target.blueprint, target_ids=[target.pk])
            return "re-applied"
    return "drifted" if found else "in step"
