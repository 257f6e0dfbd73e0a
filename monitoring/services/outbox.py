"""Claiming, leasing and backing off outbound messages (emails and channel posts) alike.

Every row is an :class:`~monitoring.models.Outbound` (an ``odcm.work.Leased`` row): a due row
(pending and due, or "sending" whose lease ran out because its worker died) is claimed with
:func:`odcm.work.claim_next` (``SKIP LOCKED``, then one conditional UPDATE); the outcome is
written only while the lease is still ours (:func:`odcm.work.release`), so two workers never
both record one message.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from monitoring.models import Outbound
from monitoring.services.stamp import bump
from odcm import work

O = TypeVar("O", bound=Outbound)  # noqa: E741


def _rows(model: type[Outbound]) -> QuerySet[Any]:
    return model._default_manager.all()


def claim_next(model: type[O]) -> O | None:
    """Claim one due row of ``model`` with a lease; None when nothing is due."""
    now = timezone.now()
    due = _rows(model).filter(
        Q(state=Outbound.State.PENDING, next_attempt_at__lte=now)
        | Q(state=Outbound.State.SENDING)  # only those whose lease ran out are free
    )
    lease = work.claim_next(
        due,
        order_by="next_attempt_at",
        seconds=settings.ODCM_ALERT_LEASE_SECONDS,
        now=now,
        state=Outbound.State.SENDING,
        attempts=F("attempts") + 1,
    )
    if lease is None:
        return None
    row: O = model._default_manager.get(pk=lease.pk)
    return row


def backoff_seconds(attempts: int) -> float:
    return work.backoff(attempts, base=5, cap=settings.ODCM_ALERT_RETRY_MAX_SECONDS)


def _lease(row: Outbound) -> work.Lease:
    if row.claim_token is None or row.claimed_until is None:
        raise ValueError("only a row from claim_next() can be sent")
    return work.Lease(row.pk, row.claim_token, row.claimed_until)


def _elapsed_ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def succeeded(row: Outbound, started: float, **fields: object) -> bool:
    """Record a send that worked (only if the lease is still ours)."""
    done = work.release(
        _rows(type(row)),
        _lease(row),
        state=Outbound.State.SENT,
        sent_at=timezone.now(),
        last_error="",
        last_duration_ms=_elapsed_ms(started),
        **fields,
    )
    if done and row.last_error:
        _failing_changed()  # it was failing: the dashboard's card counts one fewer
    return done


def failed(row: Outbound, started: float, error: str, **fields: object) -> bool:
    """Record a failed send and schedule the next attempt with exponential backoff."""
    wait = backoff_seconds(row.attempts)
    done = work.release(
        _rows(type(row)),
        _lease(row),
        state=Outbound.State.PENDING,
        next_attempt_at=timezone.now() + timedelta(seconds=wait),
        last_error=error[:1000],
        last_duration_ms=_elapsed_ms(started),
        **fields,
    )
    if done and not row.last_error:
        _failing_changed()  # its first failure: the dashboard's card counts one more
    return done


def _failing_changed() -> None:
    """A delivery started or stopped failing: cached dashboard figures (the fleet's "failed
    alert deliveries" card) are stale. Only on that change, not on every retry."""
    bump()
