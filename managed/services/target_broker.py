"""The broker both managed kinds share: queue, claim, plan and apply one target at a time,
retry, drift.

One target row (a blueprint's space, a baseline's instance) is the unit of work. A worker
claims it with ``odcm.work.claim`` (a conditional UPDATE), reads the place, plans, writes
and releases the row with the outcome; each attempt leaves an apply row. A failing target
is retried with backoff and never stops the others; a worker killed mid-way leaves a lease
that runs out, and the sweep queues the target again. Creations are written down as
intended before they are attempted, so the next attempt adopts an item whose POST succeeded
but whose bookkeeping did not: nothing is created twice, and prune still knows it.

A kind subclasses :class:`TargetBroker` with its models, its Celery task, its audit action
prefix, its rollout gate and its Octopus side (how to read, plan and write one target):
:mod:`managed.services.broker` (blueprints) and :mod:`managed.services.baseline_broker`.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, ClassVar, Generic, TypeVar

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from audit.services import record
from managed import gates
from managed.models import ManagedApply, ManagedParent, ManagedRevision, ManagedTarget
from managed.services.octopus_side import Action, counts
from managed.services.revisions import secrets_of
from octopus.errors import OctopusError
from odcm.crypto import CryptoError
from odcm.errors import ServiceError
from odcm.work import Lease, backoff, claim, enqueue, free, mine, release

log = logging.getLogger(__name__)
S = ManagedTarget.Status
WORKABLE = (S.QUEUED, S.FAILED, S.APPLYING)
CHECKABLE = (S.APPLIED, S.DRIFTED)

P = TypeVar("P", bound=ManagedParent)  # the blueprint or baseline
T = TypeVar("T", bound=ManagedTarget)
R = TypeVar("R", bound=ManagedRevision)


def describe(exc: BaseException) -> str:
    """A message for people; never a secret (unknown errors give their type only)."""
    if isinstance(exc, OctopusError | CryptoError | ServiceError):
        return str(exc)[:1000]
    return f"Unexpected {type(exc).__name__} in ODCM."


class LostLease(Exception):
    """The lease ran out mid-apply and another worker took the target over."""

    def __str__(self) -> str:
        return "The apply took longer than its lease; another attempt took over."


def plan_json(actions: list[Action], revision: int) -> dict[str, Any]:
    """A plan as stored on a target (``plan``) and returned by ``plan_targets``."""
    return {
        "revision": revision,
        "counts": counts(actions),
        "actions": [a.as_json() for a in actions if a.verb != "keep"],
        "kept": [a.as_json() for a in actions if a.verb == "keep"],
    }


class TargetBroker(Generic[P, T, R]):
    """Queueing, sweeping, planning, claiming, failing and drift checking, once for every
    kind. A kind names its models and words below and fills in the hooks that follow."""

    target_model: ClassVar[type[ManagedTarget]]
    apply_model: ClassVar[type[ManagedApply]]
    revision_model: ClassVar[type[ManagedRevision]]
    parent: ClassVar[str]  # the parent's foreign key on targets and revisions
    place: ClassVar[str]  # the target's place: its foreign key and its key in audit rows
    places: ClassVar[str]  # the audit key of how many an apply queued
    place_related: ClassVar[str]  # select_related path that reaches the place's instance
    gate: ClassVar[str]  # the rollout kind of managed.gates
    task: ClassVar[str]  # the Celery task that applies one target (persisted in queues)
    action: ClassVar[str]  # the audit action prefix
    failure_log: ClassVar[str]  # the log line of a failed apply: place id, message

    # ------------------------------------------------------------ the kind's hooks

    def rules(self) -> QuerySet[P]:
        """The parents with assignment rules (the sweep syncs their targets)."""
        raise NotImplementedError

    def sync_targets(self, parent: P) -> list[T]:
        raise NotImplementedError

    def compute_plan(
        self, target: T, revision: R, secrets: dict[str, str], prune: bool
    ) -> list[Action]:
        """Read the place and plan; no database access (threads call it)."""
        raise NotImplementedError

    def plan_more(
        self, target: T, revision: R, actions: list[Action], prune: bool
    ) -> list[Action] | str:
        """What ``plan_targets`` adds to a thread's plan from ODCM's own database (in the
        calling thread); a string is that target's error."""
        return actions

    def apply(self, target: T, lease: Lease, number: int) -> dict[str, int]:
        """Bring the claimed target to revision ``number``; returns the counts. Ends with
        :meth:`applied`; raises :class:`LostLease` if the lease ran out."""
        raise NotImplementedError

    def drift_actions(self, target: T, revision: R, secrets: dict[str, str]) -> list[Action]:
        return self.compute_plan(target, revision, secrets, False)

    def drift_of(self, actions: list[Action]) -> list[dict[str, Any]]:
        """The changes that count as drift (a password cannot be read back)."""
        raise NotImplementedError

    # ------------------------------------------------------------ shared

    def rows(self) -> QuerySet[T]:
        rows: QuerySet[T] = self.target_model._default_manager.all()  # type: ignore[assignment]
        return rows

    def requeue_after(self) -> timedelta:
        # A queued target whose message was lost is queued again after one lease's time.
        return timedelta(seconds=settings.ODCM_MANAGED_CLAIM_SECONDS)

    def place_id(self, target: T) -> str:
        return str(getattr(target, f"{self.place}_id"))

    def content(self, target: T, number: int) -> tuple[R, dict[str, str]]:
        lookup = {f"{self.parent}_id": getattr(target, f"{self.parent}_id"), "number": number}
        revision: R = self.revision_model._default_manager.get(**lookup)  # type: ignore[assignment]
        return revision, secrets_of(revision)

    def _load(self, target_id: str, **where: Any) -> T | None:
        found = self.rows().select_related(self.place_related, self.parent)
        row: T | None = found.filter(pk=target_id, **where).first()
        return row

    def queue_apply(
        self,
        parent: P,
        *,
        target_ids: list[Any] | None = None,
        prune: bool = False,
        revision: int | None = None,
        actor: Any = None,
    ) -> int:
        """Queue an apply of ``revision`` (default: the latest) to the parent's targets (or
        some of them); one task per target, sent after commit. With ``prune`` the apply also
        deletes what an earlier apply created and the revision no longer lists. Returns how
        many were queued. An apply to every target passes ``managed.gates`` first: a rollout
        policy or pipeline may let only its first wave through now (and queues the others
        itself, by id)."""
        targets = self.rows().filter(**{self.parent: parent})
        rows = targets
        if target_ids is not None:
            rows = rows.filter(pk__in=target_ids)
        now = timezone.now()
        number = revision or parent.latest_revision
        with transaction.atomic():
            keys = list(rows.values_list("pk", flat=True))
            if target_ids is None:
                keys = gates.allowed(self.gate, parent.pk, number, keys)
                rows = targets.filter(pk__in=keys)
            ids = [str(pk) for pk in keys]
            rows.update(
                target_revision=number,
                prune=prune,
                status=S.QUEUED,
                failures=0,
                last_error="",
                next_attempt_at=now + self.requeue_after(),
            )
            record(
                f"{self.action}.apply",
                actor=actor,
                obj=parent,
                after={"revision": number, self.places: len(ids), "prune": prune},
            )
        for ident in ids:
            enqueue(self.task, ident)
        return len(ids)

    def sweep(self, requeue_after: float | None = None) -> int:
        """Periodic: pick up places newly matched by rules; re-queue due retries, lost
        messages (queued longer than ``requeue_after`` seconds, default one lease) and
        applies whose worker died (their lease ran out)."""
        for parent in self.rules():
            self.sync_targets(parent)
        now = timezone.now()
        lease = self.requeue_after()
        wait = lease if requeue_after is None else timedelta(seconds=requeue_after)
        due = self.rows().filter(free(now), status__in=WORKABLE, target_revision__isnull=False)
        due = due.filter(
            Q(status=S.APPLYING)  # free and applying: its worker died
            | Q(next_attempt_at__isnull=True)
            | Q(next_attempt_at__lte=now)
            | Q(status=S.QUEUED, next_attempt_at__lte=now - lease + wait)
        )
        ids = [str(pk) for pk in due.values_list("pk", flat=True)]
        self.rows().filter(pk__in=ids).update(next_attempt_at=now + wait)
        for ident in ids:
            enqueue(self.task, ident, on_commit=False)
        return len(ids)

    def plan_targets(
        self, parent: P, *, prune: bool = False, concurrency: int = 8
    ) -> dict[str, dict[str, Any]]:
        """Plan every target of the parent against its latest revision (reads only; with
        ``prune``, what an apply and prune would delete too), ``concurrency`` places at a
        time; stores each plan on its target and returns them by place id."""
        revision: R = self.revision_model._default_manager.get(  # type: ignore[assignment]
            **{self.parent: parent, "number": parent.latest_revision}
        )
        secrets = secrets_of(revision)
        assigned = self.rows().filter(**{self.parent: parent})
        targets = list(assigned.select_related(self.place_related))

        def one(target: T) -> list[Action] | str:
            try:
                return self.compute_plan(target, revision, secrets, prune)
            except Exception as exc:  # a place that cannot be read gets its error as its plan
                return describe(exc)

        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            found = list(pool.map(one, targets))
        now = timezone.now()
        out = {}
        for target, actions in zip(targets, found, strict=True):
            if not isinstance(actions, str):
                actions = self.plan_more(target, revision, actions, prune)
            result = (
                {"revision": revision.number, "error": actions}
                if isinstance(actions, str)
                else plan_json(actions, revision.number)
            )
            self.rows().filter(pk=target.pk).update(
                plan=result, planned_at=now, planned_revision=revision.number
            )
            out[self.place_id(target)] = result
        return out

    def apply_target(self, target_id: str) -> str:
        """Bring one target to its target revision (the task's body). Returns the outcome."""
        target = self._load(target_id)
        if target is None or target.target_revision is None or target.status not in WORKABLE:
            return "nothing to do"
        lease = claim(
            self.rows().filter(status__in=WORKABLE),
            target.pk,
            seconds=settings.ODCM_MANAGED_CLAIM_SECONDS,
            status=S.APPLYING,
        )
        if lease is None:
            return "busy"
        target.refresh_from_db()
        number = int(target.target_revision or 0)
        # ``target`` is each concrete apply model's own foreign key (not on the abstract base).
        attempt = self.apply_model._default_manager.create(
            target=target,  # type: ignore[misc]
            revision=number,
        )
        try:
            done = self.apply(target, lease, number)
        except Exception as exc:
            return self._failed(target, lease, attempt, exc)
        self.apply_model._default_manager.filter(pk=attempt.pk).update(
            outcome=ManagedApply.Outcome.APPLIED,
            created=done["create"],
            changed=done["change"],
            deleted=done["delete"],
            finished_at=timezone.now(),
        )
        if done["create"] or done["change"] or done["delete"]:
            record(
                f"{self.action}.applied",
                obj=getattr(target, self.parent),
                after={self.place: self.place_id(target), "revision": number, **done},
            )
        # An apply queued while this one ran (a newer revision) is picked up again.
        if self.rows().filter(pk=target.pk, status=S.QUEUED).exists():
            enqueue(self.task, str(target.pk), on_commit=False)
        return "applied"

    def applied(
        self,
        target: T,
        lease: Lease,
        number: int,
        actions: list[Action],
        created: dict[str, Any],
        written: dict[str, str],
    ) -> None:
        """Release the target after a full apply of revision ``number`` (queued again if a
        newer revision was queued meanwhile)."""
        # Queued again meanwhile: a newer revision, or "apply and prune" asked while an apply
        # without prune ran (``target.prune`` is what this apply ran with, read at its claim).
        again = Q(target_revision__gt=number)
        if not target.prune:
            again |= Q(prune=True, status=S.QUEUED)
        still_queued = self.rows().filter(again, pk=target.pk).exists()
        now = timezone.now()
        unprune: dict[str, Any] = {} if still_queued else {"prune": False}
        ok = release(
            self.rows(),
            lease,
            status=S.QUEUED if still_queued else S.APPLIED,
            applied_revision=number,
            **unprune,
            created=created,
            intended={},
            secret_digests={**target.secret_digests, **written},
            plan=plan_json(actions, number),
            planned_at=now,
            planned_revision=number,
            drift=[],
            failures=0,
            last_error="",
            next_attempt_at=now + self.requeue_after() if still_queued else None,
            applied_at=now,
        )
        if not ok:
            raise LostLease()

    def claimed(self, lease: Lease) -> QuerySet[T]:
        """The claimed row, while the lease is still ours (an update then changes one row)."""
        return mine(self.rows(), lease)

    def _failed(self, target: T, lease: Lease, attempt: ManagedApply, exc: Exception) -> str:
        message = describe(exc) if not isinstance(exc, LostLease) else str(exc)
        log.warning(self.failure_log, self.place_id(target), message)
        failures = target.failures + 1
        delay = backoff(
            failures,
            base=settings.ODCM_MANAGED_RETRY_BASE_SECONDS,
            cap=settings.ODCM_MANAGED_RETRY_MAX_SECONDS,
            jitter=0.1,
        )
        self.apply_model._default_manager.filter(pk=attempt.pk).update(
            outcome=ManagedApply.Outcome.FAILED, error=message, finished_at=timezone.now()
        )
        released = release(
            self.rows(),
            lease,
            status=S.FAILED,
            failures=failures,
            last_error=message,
            next_attempt_at=timezone.now() + timedelta(seconds=delay),
        )
        if released:
            record(
                f"{self.action}.apply_failed",
                obj=getattr(target, self.parent),
                after={self.place: self.place_id(target), "failures": failures},
                message=message,
            )
            enqueue(self.task, str(target.pk), countdown=delay, on_commit=False)
        return "failed"

    def drift_candidates(self) -> list[str]:
        rows = self.rows().filter(status__in=CHECKABLE, applied_revision__isnull=False)
        return [str(pk) for pk in rows.values_list("pk", flat=True)]

    def check_drift(self, target_id: str) -> str:
        """Compare a place with the revision last applied to it. Drift (a person changed or
        deleted what the revision holds) is reported on the target, or the revision is
        applied again if the parent says so (``on_drift``)."""
        target = self._load(target_id, status__in=CHECKABLE)
        if target is None or target.applied_revision is None:
            return "nothing to do"
        lease = claim(self.rows().filter(status__in=CHECKABLE), target.pk, seconds=120)
        if lease is None:
            return "busy"
        try:
            revision, secrets = self.content(target, target.applied_revision)
            actions = self.drift_actions(target, revision, secrets)
        except Exception as exc:
            release(self.rows(), lease, checked_at=timezone.now())
            return f"unreadable: {describe(exc)}"
        found = self.drift_of(actions)
        status = S.DRIFTED if found else S.APPLIED
        release(self.rows(), lease, drift=found, status=status, checked_at=timezone.now())
        if found:
            parent: P = getattr(target, self.parent)
            record(
                f"{self.action}.drift",
                obj=parent,
                after={self.place: self.place_id(target), "changes": len(found)},
            )
            if parent.on_drift == "reapply":
                self.queue_apply(parent, target_ids=[target.pk])
                return "re-applied"
        return "drifted" if found else "in step"
