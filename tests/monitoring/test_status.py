"""Status sweeps against octosim: every transition driven by a fault."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from monitoring.models import Alert, InstanceMonitor, MaintenanceWindow, StatusFlip, VersionChange
from monitoring.services.status import set_pin, sweep_status
from octosim.testing import SimInstance
from spaces.models import Instance

pytestmark = pytest.mark.django_db


def sweep(instance: Instance) -> Instance:
    assert sweep_status(force=True) is not None
    instance.refresh_from_db()
    return instance


def transitions(instance: Instance) -> list[tuple[str, str]]:
    return [
        (f.from_status, f.to_status)
        for f in StatusFlip.objects.filter(instance=instance).order_by("at", "id")
    ]


def kinds(instance: Instance) -> list[str]:
    return [a.kind for a in Alert.objects.filter(instance=instance).order_by("created_at")]


def test_instance_goes_offline_only_after_two_failed_checks(
    sim_instance: SimInstance, enlist: Callable[..., Instance], space_owner: Any
) -> None:
    instance = enlist(sim_instance, owners=[space_owner])
    assert sweep(instance).status == "online"
    assert instance.version == sim_instance.version
    assert kinds(instance) == []  # a new instance coming online raises no alert

    sim_instance.set_faults(offline="refuse")
    assert sweep(instance).status == "online"  # one failure is not an outage
    assert InstanceMonitor.objects.get(pk=instance.pk).consecutive_failures == 1
    assert sweep(instance).status == "offline"
    flip = StatusFlip.objects.filter(instance=instance).first()
    assert flip is not None and flip.to_status == "offline" and flip.last_error
    assert "2 consecutive failed checks" in flip.reason
    assert sweep(instance).status == "offline"  # still down: no new flip

    sim_instance.clear_faults()
    assert sweep(instance).status == "online"
    assert transitions(instance) == [
        ("unknown", "online"),
        ("online", "offline"),
        ("offline", "online"),
    ]
    assert kinds(instance) == ["offline", "recovered"]


def test_health_418_is_unhealthy_and_draining_is_maintenance(
    sim_instance: SimInstance, enlist: Callable[..., Instance]
) -> None:
    instance = enlist(sim_instance)
    sweep(instance)
    sim_instance.set_faults(unhealthy=True)
    assert sweep(instance).status == "unhealthy"  # a definite answer: no second check needed
    sim_instance.set_faults(unhealthy=False, draining=True)
    assert sweep(instance).status == "maintenance"
    sim_instance.clear_faults()
    assert sweep(instance).status == "online"
    assert transitions(instance)[1:] == [
        ("online", "unhealthy"), ("unhealthy", "maintenance"), ("maintenance", "online")
    ]  # fmt: skip
    assert kinds(instance) == ["unhealthy", "recovered"]  # draining raises nothing


def test_version_change_against_pin_is_recorded_and_alerted(
    sim_instance: SimInstance, enlist: Callable[..., Instance]
) -> None:
    instance = enlist(sim_instance)
    sweep(instance)
    before = sim_instance.version
    set_pin(instance, before)
    sim_instance.set_faults(version="2025.1.99")
    assert sweep(instance).version == "2025.1.99"
    change = VersionChange.objects.get(instance=instance)
    assert (change.from_version, change.to_version, change.unexpected) == (
        before,
        "2025.1.99",
        True,
    )
    assert kinds(instance) == ["version"]
    assert InstanceMonitor.objects.get(pk=instance.pk).version_mismatch
    # an expected upgrade (pin moved first) is recorded but not alerted
    set_pin(instance, "2025.2.1")
    sim_instance.set_faults(version="2025.2.1")
    sweep(instance)
    assert VersionChange.objects.filter(instance=instance).count() == 2
    assert kinds(instance) == ["version"]


def test_maintenance_window_silences_alerts_and_alerts_when_it_ends_on_a_down_instance(
    sim_instance: SimInstance, enlist: Callable[..., Instance]
) -> None:
    instance = enlist(sim_instance)
    sweep(instance)
    now = timezone.now()
    window = MaintenanceWindow.objects.create(
        instance=instance, starts_at=now - timedelta(minutes=1), ends_at=now + timedelta(hours=1)
    )
    sim_instance.set_faults(offline="refuse")
    assert sweep(instance).status == "maintenance"
    assert sweep(instance).status == "maintenance"
    assert kinds(instance) == []
    window.ends_at = timezone.now()
    window.save()
    assert sweep(instance).status == "offline"  # failures counted during the window
    assert kinds(instance) == ["offline"]


def test_a_second_sweep_within_the_interval_is_skipped(
    sim_instance: SimInstance, enlist: Callable[..., Instance]
) -> None:
    enlist(sim_instance)
    assert sweep_status(force=True) is not None
    assert sweep_status() is None  # a second beat scheduler's copy of the same run


@pytest.mark.django_db(transaction=True)
def test_concurrent_sweeps_record_each_change_once(
    sim_instance: SimInstance, enlist: Callable[..., Instance], settings: Any
) -> None:
    import threading

    from django.db import connection

    settings.ODCM_OFFLINE_AFTER = 1
    instance = enlist(sim_instance)
    sweep(instance)
    sim_instance.set_faults(unhealthy=True)

    def run() -> None:
        try:
            sweep_status(force=True)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    instance.refresh_from_db()
    assert instance.status == "unhealthy"
    assert transitions(instance) == [("unknown", "online"), ("online", "unhealthy")]
    assert kinds(instance) == ["unhealthy"]


@pytest.mark.django_db(transaction=True)
def test_two_workers_applying_the_same_results_record_one_flip(
    sim_instance: SimInstance, enlist: Callable[..., Instance]
) -> None:
    """Below the sweep lock: the conditional UPDATE alone keeps a flip single."""
    import threading

    from django.db import connection

    from monitoring.services.checks import check_instances
    from monitoring.services.status import apply_results

    instance = enlist(sim_instance)
    sweep(instance)
    sim_instance.set_faults(unhealthy=True)
    barrier = threading.Barrier(3)

    def run() -> None:
        try:
            instances = list(Instance.objects.all())  # both see "online"
            results = check_instances(instances)
            barrier.wait()
            apply_results(instances, results)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert transitions(instance) == [("unknown", "online"), ("online", "unhealthy")]
    assert kinds(instance) == ["unhealthy"]
