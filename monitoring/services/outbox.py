"""Claiming, leasing and backing off outbound messages (emails and channel posts) alike.

A due row (pending and due, or "sending" whose lease ran out because its worker died) is
claimed under ``SELECT … FOR UPDATE SKIP LOCKED`` with a lease and a claim token; the outcome
is written only if the claim is still ours, so two workers never both record one message.
"""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import TypeVar

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from monitoring.models import Outbound

O = TypeVar("O", bound=Outbound)  # noqa: E741


def claim_next(model: type[O]) -> O | None:
    """Claim one due row of ``model`` with a lease; None when nothing is due."""
    now = timezone.now()
    with transaction.atomic():
        row = (
            model.objects.select_for_update(skip_locked=True)  # type: ignore[attr-defined]
            .filter(
                Q(state=Outbound.State.PENDING, next_attempt_at__lte=now)
                | Q(state=Outbound.State.SENDING, lease_until__lt=now)
            )
            .order_by("next_attempt_at")
            .first()
        )
        if row is None:
            return None
        row.state = Outbound.State.SENDING
        row.lease_until = now + timedelta(seconds=settings.ODCM_ALERT_LEASE_SECONDS)
        row.claim = uuid.uuid4()
        row.attempts += 1
        row.save(update_fields=["state", "lease_until", "claim", "attempts"])
    return row


def backoff_seconds(attempts: int) -> float:
    return float(min(settings.ODCM_ALERT_RETRY_MAX_SECONDS, 5 * 2 ** max(0, attempts - 1)))


def succeeded(row: Outbound, started: float, **fields: object) -> None:
    """Record a send that worked (only if the claim is still ours)."""
    type(row).objects.filter(pk=row.pk, claim=row.claim).update(  # type: ignore[attr-defined]
        state=Outbound.State.SENT,
        sent_at=timezone.now(),
        lease_until=None,
        last_error="",
        last_duration_ms=int((time.perf_counter() - started) * 1000),
        **fields,
    )


def failed(row: Outbound, started: float, error: str, **fields: object) -> None:
    """Record a failed send and schedule the next attempt with exponential backoff."""
    wait = backoff_seconds(row.attempts)
    type(row).objects.filter(pk=row.pk, claim=row.claim).update(  # type: ignore[attr-defined]
        state=Outbound.State.PENDING,
        next_attempt_at=timezone.now() + timedelta(seconds=wait),
        lease_until=None,
        last_error=error[:1000],
        last_duration_ms=int((time.perf_counter() - started) * 1000),
        **fields,
    )
