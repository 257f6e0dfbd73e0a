"""The status sweep: decide each instance's status, record flips and version changes, and
raise alerts. Safe with several schedulers and workers: a sweep is claimed with a conditional
UPDATE that takes the job's lease (``odcm.work``), and every status change is itself a
conditional UPDATE."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from monitoring import version_rules
from monitoring.models import (
    Alert,
    InstanceMonitor,
    MaintenanceWindow,
    StatusFlip,
    SweepRun,
    VersionChange,
)
from monitoring.services.alerts import dispatch_on_commit
from monitoring.services.checks import CheckResult, check_instances
from monitoring.services.queues import apply_queues
from odcm import work
from spaces.models import Instance

log = logging.getLogger(__name__)
Status = Instance.Status
DOWN = (Status.OFFLINE, Status.UNHEALTHY)

# A run's lease, renewed while it runs (odcm.work.kept). A run whose worker died (or lost its
# database) frees the job when this runs out: it used to be the task's time limit, up to 30
# minutes without deployment pulls after one killed worker (found by tests/chaos).
LEASE_SECONDS = 60


def claim_run(name: str, interval: float, *, force: bool = False) -> work.Lease | None:
    """Claim the next run of a periodic job; None if another scheduler ran it just now or a
    run is still going.

    Two beat schedulers each enqueue the job; only the first one inside the interval (less a
    little slack for timer drift) wins the lease, which it holds until the run ends."""
    now = timezone.now()
    SweepRun.objects.get_or_create(name=name)
    runs = SweepRun.objects.all()
    if not force:
        cutoff = now - timedelta(seconds=interval * 0.8)
        runs = runs.filter(Q(started_at__isnull=True) | Q(started_at__lt=cutoff))
    return work.claim(runs, name, seconds=LEASE_SECONDS, now=now, started_at=now)


@contextmanager
def job_run(name: str, interval: float, *, force: bool = False) -> Iterator[work.Lease | None]:
    """A run of a periodic job: its lease, or None if it is not this process's turn. The lease
    is released when the block ends, however it ends."""
    lease = claim_run(name, interval, force=force)
    try:
        if lease is None:
            yield lease
        else:
            with work.kept(SweepRun.objects.all(), [lease], seconds=LEASE_SECONDS):
                yield lease
    finally:
        if lease is not None:
            work.release(SweepRun.objects.all(), lease)


def finish_run(name: str, started: float, items: int, errors: int) -> None:
    """Record a run's figures (the run still holds the job's lease; ``job_run`` releases it)."""
    SweepRun.objects.filter(name=name).update(
        finished_at=timezone.now(),
        duration_seconds=time.perf_counter() - started,
        items=items,
        errors=errors,
    )


@dataclass
class Decision:
    status: str
    reason: str
    failures: int


def decide(
    current: str, failures: int, result: CheckResult, in_window: bool, offline_after: int
) -> Decision:
    """The status a check implies, given the current status and the failure count so far."""
    if result.answered:
        failures = 0
        if result.draining:
            observed, reason = Status.MAINTENANCE, "the node is draining"
        elif not result.healthy:
            observed = Status.UNHEALTHY
            reason = "health check answered 418" + (
                f": {result.health_description}" if result.health_description else ""
            )
        else:
            observed, reason = Status.ONLINE, "answered normally"
    else:
        failures += 1
        if failures >= offline_after:
            observed = Status.OFFLINE
            reason = f"{failures} consecutive failed checks: {result.error}"
        else:
            observed, reason = Status(current), f"check failed ({failures} of {offline_after})"
    if in_window:
        return Decision(Status.MAINTENANCE, "maintenance window", failures)
    return Decision(observed, reason[:500], failures)


def active_windows(now: datetime) -> set[object]:
    return set(
        MaintenanceWindow.objects.filter(starts_at__lte=now, ends_at__gt=now).values_list(
            "instance_id", flat=True
        )
    )


def sweep_status(*, force: bool = False) -> dict[str, int] | None:
    """One status sweep over every instance. None if another process has it or ran it just
    now (``force`` skips the interval check, not the lock)."""
    with job_run("status", settings.ODCM_SWEEP_SECONDS, force=force) as run:
        if run is None:
            return None
        started = time.perf_counter()
        instances = list(Instance.objects.all())
        network_started = time.perf_counter()
        results = check_instances(instances) if instances else []
        network = time.perf_counter() - network_started
        summary = apply_results(instances, results)
        summary["queue_alerts"] = apply_queues(instances, results)
        summary["network_ms"] = int(network * 1000)
        summary["total_ms"] = int((time.perf_counter() - started) * 1000)
        finish_run("status", started, len(instances), summary["failed"])
        return summary


def apply_results(instances: list[Instance], results: list[CheckResult]) -> dict[str, int]:
    now = timezone.now()
    ids = [i.pk for i in instances]
    InstanceMonitor.objects.bulk_create(
        [InstanceMonitor(instance_id=pk) for pk in ids], ignore_conflicts=True
    )
    monitors = {m.instance_id: m for m in InstanceMonitor.objects.filter(instance_id__in=ids)}
    windows = active_windows(now)
    by_id = {i.pk: i for i in instances}
    changed_monitors: list[InstanceMonitor] = []
    seen: list[Any] = []
    flips = failed = 0
    for result in results:
        instance, monitor = by_id[result.instance_id], monitors[result.instance_id]
        decision = decide(
            instance.status,
            monitor.consecutive_failures,
            result,
            instance.pk in windows,
            settings.ODCM_OFFLINE_AFTER,
        )
        if not result.answered:
            failed += 1
        else:
            seen.append(instance.pk)
        if _monitor_changed(monitor, decision, result, now):
            changed_monitors.append(monitor)
        if decision.status != instance.status and _flip(instance, monitor, decision, now):
            flips += 1
        if result.answered and result.version and result.version != instance.version:
            _version_changed(instance, monitor, result.version, now)
    if changed_monitors:
        InstanceMonitor.objects.bulk_update(
            changed_monitors,
            ["consecutive_failures", "last_error", "last_error_at", "health_description"],
            batch_size=500,
        )
    if seen:
        Instance.objects.filter(pk__in=seen).update(last_seen_at=now)
    _reminders(now)
    return {"checked": len(results), "failed": failed, "flips": flips}


def _monitor_changed(
    monitor: InstanceMonitor, decision: Decision, result: CheckResult, now: datetime
) -> bool:
    before = (monitor.consecutive_failures, monitor.last_error, monitor.health_description)
    monitor.consecutive_failures = decision.failures
    if result.error:
        monitor.last_error, monitor.last_error_at = result.error, now
    if result.answered:
        monitor.health_description = result.health_description
    return before != (monitor.consecutive_failures, monitor.last_error, monitor.health_description)


def _alert_kind(old: str, new: str, monitor: InstanceMonitor) -> str | None:
    if new == Status.OFFLINE:
        return Alert.Kind.OFFLINE
    if new == Status.UNHEALTHY:
        return Alert.Kind.UNHEALTHY
    if new == Status.ONLINE and monitor.down_alerted:
        return Alert.Kind.RECOVERED
    return None


def _flip(instance: Instance, monitor: InstanceMonitor, decision: Decision, now: datetime) -> bool:
    old = instance.status
    with transaction.atomic():
        won = Instance.objects.filter(pk=instance.pk, status=old).update(
            status=decision.status, status_since=now
        )
        if won != 1:
            return False  # someone else recorded this change already
        error = monitor.last_error if decision.status == Status.OFFLINE else ""
        flip = StatusFlip.objects.create(
            instance=instance,
            from_status=old,
            to_status=decision.status,
            at=now,
            reason=decision.reason,
            last_error=error,
        )
        kind = _alert_kind(old, decision.status, monitor)
        down_since = monitor.down_since
        monitor_fields: dict[str, object] = {}
        if kind in (Alert.Kind.OFFLINE, Alert.Kind.UNHEALTHY):
            monitor_fields["down_alerted"] = True
            if not monitor.down_alerted:  # unhealthy then offline is one outage
                monitor_fields["down_since"] = now
            hours = settings.ODCM_ALERT_REMINDER_HOURS
            monitor_fields["next_reminder_at"] = now + timedelta(hours=hours) if hours else None
        elif kind == Alert.Kind.RECOVERED:
            monitor_fields.update(down_alerted=False, down_since=None, next_reminder_at=None)
        if monitor_fields:
            InstanceMonitor.objects.filter(pk=instance.pk).update(**monitor_fields)
            for key, value in monitor_fields.items():
                setattr(monitor, key, value)
        if kind is not None:
            Alert.objects.create(
                instance=instance,
                kind=kind,
                flip=flip,
                status=decision.status,
                since=now,
                last_error=error or (monitor.health_description if kind == "unhealthy" else ""),
                detail=decision.reason,
                down_since=down_since if kind == Alert.Kind.RECOVERED else None,
            )
            dispatch_on_commit()
    instance.status, instance.status_since = decision.status, now
    log.info("instance %s: %s -> %s (%s)", instance.slug, old, decision.status, decision.reason)
    return True


def _version_changed(
    instance: Instance, monitor: InstanceMonitor, version: str, now: datetime
) -> None:
    old = instance.version
    with transaction.atomic():
        if Instance.objects.filter(pk=instance.pk, version=old).update(version=version) != 1:
            return
        instance.version = version
        if not old:
            return  # the first version seen is not a change
        pin = monitor.pinned_version
        # A pipeline stage's allowed versions replace the pin (monitoring.version_rules).
        allowed = version_rules.rules([instance.pk]).get(instance.pk)
        unexpected = version_rules.off(version, pin, allowed)
        change = VersionChange.objects.create(
            instance=instance,
            from_version=old,
            to_version=version,
            pinned_version=(str(allowed) if allowed else pin)[:50],
            unexpected=unexpected,
            at=now,
        )
        if unexpected:
            Alert.objects.create(
                instance=instance,
                kind=Alert.Kind.VERSION,
                version_change=change,
                status=instance.status,
                since=now,
                detail=f"version changed from {old} to {version}; "
                + (
                    f"{allowed.source} allows {allowed}"
                    if allowed is not None
                    else f"pinned to {pin}"
                ),
            )
            dispatch_on_commit()


def _reminders(now: datetime) -> None:
    hours = settings.ODCM_ALERT_REMINDER_HOURS
    if not hours:
        return
    due = InstanceMonitor.objects.filter(
        down_alerted=True,
        next_reminder_at__lte=now,
        instance__status__in=DOWN,
    ).select_related("instance")
    for monitor in due:
        with transaction.atomic():
            claimed = InstanceMonitor.objects.filter(
                pk=monitor.pk, next_reminder_at=monitor.next_reminder_at
            ).update(next_reminder_at=now + timedelta(hours=hours))
            if claimed != 1:
                continue
            instance = monitor.instance
            Alert.objects.create(
                instance=instance,
                kind=Alert.Kind.REMINDER,
                status=instance.status,
                since=instance.status_since or now,
                last_error=monitor.last_error,
                detail=f"still {instance.status}",
            )
            dispatch_on_commit()


def set_pin(instance: Instance, version: str) -> None:
    InstanceMonitor.objects.get_or_create(instance=instance)
    InstanceMonitor.objects.filter(pk=instance.pk).update(pinned_version=version.strip())
