"""The broker of instance baselines: queue, claim, plan and apply one instance at a time,
retry, drift. The same shape as :mod:`managed.services.broker` (one :class:`BaselineTarget`
per instance is the unit of work, claimed with ``odcm.work.claim``; each attempt leaves a
:class:`BaselineApply` row; a failing instance is retried with backoff and never stops the
others; a dead worker's lease runs out and the sweep queues the instance again)."""

from __future__ import annotations

import copy
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
from managed.models import BaselineApply, BaselineRevision, BaselineTarget, InstanceBaseline
from managed.services import baseline_side as side
from managed.services.baselines import secrets_of, sync_targets
from managed.services.broker import LostLease
from managed.services.octopus_side import Action, counts
from octopus.errors import OctopusError
from odcm.clients import client_for
from odcm.crypto import CryptoError
from odcm.errors import ServiceError
from odcm.work import Lease, backoff, claim, enqueue, free, mine, release

log = logging.getLogger(__name__)
S = BaselineTarget.Status
WORKABLE = (S.QUEUED, S.FAILED, S.APPLYING)
TASK = "managed.tasks.apply_baseline_target"


def _rows() -> QuerySet[BaselineTarget]:
    return BaselineTarget.objects.all()


def _requeue_after() -> timedelta:
    return timedelta(seconds=settings.ODCM_MANAGED_CLAIM_SECONDS)


def describe(exc: BaseException) -> str:
    """A message for people; never a secret (unknown errors give their type only)."""
    if isinstance(exc, OctopusError | CryptoError | ServiceError):
        return str(exc)[:1000]
    return f"Unexpected {type(exc).__name__} in ODCM."


def queue_apply(
    baseline: InstanceBaseline,
    *,
    target_ids: list[Any] | None = None,
    prune: bool = False,
    revision: int | None = None,
    actor: Any = None,
) -> int:
    """Queue an apply of ``revision`` (default: the latest) to the baseline's instances (or
    some of them); one task per instance, sent after commit. With ``prune`` the apply also
    deletes the subscriptions an earlier apply created and the baseline no longer lists.
    Returns how many were queued. An apply to every instance passes ``managed.gates`` first:
    a rollout policy or pipeline may let only its first wave through now (and queues the
    others itself, by id)."""
    rows = baseline.targets.all()
    if target_ids is not None:
        rows = rows.filter(pk__in=target_ids)
    now = timezone.now()
    number = revision or baseline.latest_revision
    with transaction.atomic():
        keys = list(rows.values_list("pk", flat=True))
        if target_ids is None:
            keys = gates.allowed(gates.BASELINE, baseline.pk, number, keys)
            rows = baseline.targets.filter(pk__in=keys)
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
            "managed.baseline.apply",
            actor=actor,
            obj=baseline,
            after={"revision": number, "instances": len(ids), "prune": prune},
        )
    for ident in ids:
        enqueue(TASK, ident)
    return len(ids)


def sweep(requeue_after: float | None = None) -> int:
    """Periodic: instances newly matched by rules; due retries, lost messages and applies
    whose worker died (their lease ran out) are queued again."""
    ruled = InstanceBaseline.objects.filter(
        Q(all_instances=True) | Q(instance_tags__isnull=False) | ~Q(regions=[])
    ).distinct()
    for baseline in ruled:
        sync_targets(baseline)
    now = timezone.now()
    wait = _requeue_after() if requeue_after is None else timedelta(seconds=requeue_after)
    due = _rows().filter(free(now), status__in=WORKABLE, target_revision__isnull=False)
    due = due.filter(
        Q(status=S.APPLYING)
        | Q(next_attempt_at__isnull=True)
        | Q(next_attempt_at__lte=now)
        | Q(status=S.QUEUED, next_attempt_at__lte=now - _requeue_after() + wait)
    )
    ids = [str(pk) for pk in due.values_list("pk", flat=True)]
    _rows().filter(pk__in=ids).update(next_attempt_at=now + wait)
    for ident in ids:
        enqueue(TASK, ident, on_commit=False)
    return len(ids)


# ---------------------------------------------------------------- plan


def _content(target: BaselineTarget, number: int) -> tuple[BaselineRevision, dict[str, str]]:
    revision = BaselineRevision.objects.get(baseline_id=target.baseline_id, number=number)
    return revision, secrets_of(revision)


def compute_plan(
    target: BaselineTarget,
    revision: BaselineRevision,
    secrets: dict[str, str],
    prune: bool = False,
) -> list[Action]:
    """Read the instance and plan; no database access (threads call it)."""
    created = target.created if prune else None
    with client_for(target.instance) as client:
        view = side.read_instance(client, revision.content, created)
    return side.plan(
        revision.content, view, secrets, target.secret_digests, created=created, prune=prune
    )


def _plan_json(actions: list[Action], revision: int) -> dict[str, Any]:
    return {
        "revision": revision,
        "counts": counts(actions),
        "actions": [a.as_json() for a in actions if a.verb != "keep"],
        "kept": [a.as_json() for a in actions if a.verb == "keep"],
    }


def plan_targets(
    baseline: InstanceBaseline, *, prune: bool = False, concurrency: int = 8
) -> dict[str, dict[str, Any]]:
    """Plan every instance of the baseline against its latest revision (reads only; with
    ``prune``, what an apply and prune would delete too); stores each plan on its target and
    returns them by instance id."""
    revision = BaselineRevision.objects.get(baseline=baseline, number=baseline.latest_revision)
    secrets = secrets_of(revision)
    targets = list(baseline.targets.select_related("instance"))

    def one(target: BaselineTarget) -> dict[str, Any]:
        try:
            return _plan_json(compute_plan(target, revision, secrets, prune), revision.number)
        except Exception as exc:  # an unreadable instance gets its error as its plan
            return {"revision": revision.number, "error": describe(exc)}

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        plans = list(pool.map(one, targets))
    now = timezone.now()
    out = {}
    for target, result in zip(targets, plans, strict=True):
        BaselineTarget.objects.filter(pk=target.pk).update(
            plan=result, planned_at=now, planned_revision=revision.number
        )
        out[str(target.instance_id)] = result
    return out


# ---------------------------------------------------------------- apply


def apply_target(target_id: str) -> str:
    """Bring one instance to its target revision (the task's body). Returns the outcome."""
    target = (
        BaselineTarget.objects.select_related("instance", "baseline").filter(pk=target_id).first()
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
    attempt = BaselineApply.objects.create(target=target, revision=number)
    try:
        done = _apply(target, lease, number)
    except Exception as exc:
        return _failed(target, lease, attempt, exc)
    BaselineApply.objects.filter(pk=attempt.pk).update(
        outcome=BaselineApply.Outcome.APPLIED,
        created=done["create"],
        changed=done["change"],
        deleted=done["delete"],
        finished_at=timezone.now(),
    )
    if done["create"] or done["change"] or done["delete"]:
        record(
            "managed.baseline.applied",
            obj=target.baseline,
            after={"instance": str(target.instance_id), "revision": number, **done},
        )
    if BaselineTarget.objects.filter(pk=target.pk, status=S.QUEUED).exists():
        enqueue(TASK, str(target.pk), on_commit=False)
    return "applied"


def _apply(target: BaselineTarget, lease: Lease, number: int) -> dict[str, int]:
    revision, secrets = _content(target, number)
    content = revision.content
    created: dict[str, Any] = copy.deepcopy(target.created)
    prune = target.prune
    with client_for(target.instance) as client:
        view = side.read_instance(client, content, created if prune else None)

        # Adopt what an earlier, interrupted attempt created but could not write down.
        for lower in (target.intended or {}).get("subscriptions", []):
            for space_id, docs in view.subscriptions.items():
                doc = docs.get(lower)
                if doc is not None and lower not in created.get("subscriptions", {}):
                    side.remember(created, lower, space_id, str(doc["Id"]), made=True)
        actions = side.plan(
            content, view, secrets, target.secret_digests, created=created, prune=prune
        )
        intended = {
            "subscriptions": [a.name.lower() for a in actions if a.verb == "create"],
        }
        if not mine(_rows(), lease).update(intended=intended, created=created):
            raise LostLease()

        def note(lower: str, space_id: str, ident: str, made: bool) -> None:
            side.remember(created, lower, space_id, ident, made=made)
            mine(_rows(), lease).update(created=created)

        written = side.write(client, content, view, actions, secrets, note, created)
    done = counts(actions)
    still_queued = _rows().filter(pk=target.pk, target_revision__gt=number).exists()
    now = timezone.now()
    # a newer apply queued meanwhile keeps its own prune choice
    unprune: dict[str, Any] = {} if still_queued else {"prune": False}
    ok = release(
        _rows(),
        lease,
        status=S.QUEUED if still_queued else S.APPLIED,
        applied_revision=number,
        **unprune,
        created=created,
        intended={},
        secret_digests={**target.secret_digests, **written},
        plan=_plan_json(actions, number),
        planned_at=now,
        planned_revision=number,
        drift=[],
        failures=0,
        last_error="",
        next_attempt_at=now + _requeue_after() if still_queued else None,
        applied_at=now,
    )
    if not ok:
        raise LostLease()
    return done


def _failed(target: BaselineTarget, lease: Lease, attempt: BaselineApply, exc: Exception) -> str:
    message = describe(exc) if not isinstance(exc, LostLease) else str(exc)
    log.warning("managed: baseline apply to instance %s failed: %s", target.instance_id, message)
    failures = target.failures + 1
    delay = backoff(
        failures,
        base=settings.ODCM_MANAGED_RETRY_BASE_SECONDS,
        cap=settings.ODCM_MANAGED_RETRY_MAX_SECONDS,
        jitter=0.1,
    )
    BaselineApply.objects.filter(pk=attempt.pk).update(
        outcome=BaselineApply.Outcome.FAILED, error=message, finished_at=timezone.now()
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
            "managed.baseline.apply_failed",
            obj=target.baseline,
            after={"instance": str(target.instance_id), "failures": failures},
            message=message,
        )
        enqueue(TASK, str(target.pk), countdown=delay, on_commit=False)
    return "failed"


# ---------------------------------------------------------------- drift


def drift_candidates() -> list[str]:
    rows = _rows().filter(status__in=[S.APPLIED, S.DRIFTED], applied_revision__isnull=False)
    return [str(pk) for pk in rows.values_list("pk", flat=True)]


def check_drift(target_id: str) -> str:
    """Compare an instance with the revision last applied to it. Drift (a person changed
    the SMTP settings, a provider, a subscription, …) is reported on the target, or the
    baseline is re-applied if it says so. The SMTP password cannot be read back."""
    target = (
        BaselineTarget.objects.select_related("instance", "baseline")
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
        actions = compute_plan(target, revision, secrets)
    except Exception as exc:
        release(_rows(), lease, checked_at=timezone.now())
        return f"unreadable: {describe(exc)}"
    found = side.drift_of(actions)
    status = S.DRIFTED if found else S.APPLIED
    release(_rows(), lease, drift=found, status=status, checked_at=timezone.now())
    if found:
        record(
            "managed.baseline.drift",
            obj=target.baseline,
            after={"instance": str(target.instance_id), "changes": len(found)},
        )
        if target.baseline.on_drift == InstanceBaseline.OnDrift.REAPPLY:
            queue_apply(target.baseline, target_ids=[target.pk])
            return "re-applied"
    return "drifted" if found else "in step"
