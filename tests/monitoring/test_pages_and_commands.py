"""Instance page (pin, maintenance windows), alert settings, management commands, the
enlist hook and reminders."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from audit.models import AuditEntry
from monitoring import tasks
from monitoring.models import (
    Alert,
    AlertSettings,
    DeploymentTask,
    InstanceMonitor,
    MaintenanceWindow,
    SpaceDay,
)
from monitoring.services.status import sweep_status
from octosim.testing import SimInstance
from spaces.models import Instance, Space

pytestmark = pytest.mark.django_db


def test_owner_pins_a_version_and_schedules_a_window_outsider_gets_404(
    sim_instance: SimInstance,
    enlist: Callable[..., Instance],
    login: Callable[[Any], Client],
    space_owner: Any,
    outsider: Any,
) -> None:
    instance = enlist(sim_instance, owners=[space_owner])
    url = f"/monitoring/instances/{instance.slug}/"
    assert login(outsider).get(url).status_code == 404
    assert login(outsider).post(url, {"action": "pin", "pinned_version": "1"}).status_code == 404
    web = login(space_owner)
    # One instance page: the monitoring URL redirects to the registry's, which shows it all.
    response = web.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"/spaces/instances/{instance.pk}/"
    assert b'data-testid="flips"' in web.get(response["Location"]).content
    assert web.post(url, {"action": "pin", "pinned_version": "2024.4.1234"}).status_code == 302
    assert InstanceMonitor.objects.get(pk=instance.pk).pinned_version == "2024.4.1234"
    now = timezone.now()
    response = web.post(
        url,
        {
            "action": "window",
            "starts_at": (now - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
            "reason": "upgrade",
        },
    )
    assert response.status_code == 302
    window = MaintenanceWindow.objects.get(instance=instance)
    sweep_status(force=True)
    instance.refresh_from_db()
    assert instance.status == "maintenance"
    web.post(url, {"action": "end-window", "window": str(window.pk)})
    sweep_status(force=True)
    instance.refresh_from_db()
    assert instance.status == "online"
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"monitoring.pin", "monitoring.window.create", "monitoring.window.end"} <= actions


def test_alert_settings_page_saves_choices_limited_to_visible_instances(
    sim_instance: SimInstance,
    enlist: Callable[..., Instance],
    login: Callable[[Any], Client],
    space_owner: Any,
) -> None:
    mine = enlist(sim_instance, owners=[space_owner])
    web = login(space_owner)
    page = web.get("/monitoring/alerts/")
    assert page.status_code == 200 and mine.name.encode() in page.content
    response = web.post(
        "/monitoring/alerts/",
        {"on_offline": "on", "on_recovered": "on", "owned_instances": "on", "instances": [mine.pk]},
    )
    assert response.status_code == 302
    prefs = AlertSettings.objects.get(user=space_owner)
    assert (prefs.on_offline, prefs.on_unhealthy, prefs.on_recovered) == (True, False, True)
    assert list(prefs.instances.all()) == [mine]


def test_sweep_once_and_backfill_commands(
    sim_instance: SimInstance, enlist: Callable[..., Instance]
) -> None:
    instance = enlist(sim_instance)
    out = io.StringIO()
    call_command("sweep", "--once", stdout=out)
    text = out.getvalue()
    assert "status: {'checked': 1" in text and "inventory:" in text and "deployments:" in text
    instance.refresh_from_db()
    assert instance.status == "online"
    assert Space.objects.filter(instance=instance, project_count__isnull=False).count() == 3
    before = DeploymentTask.objects.count()
    assert before > 0
    out = io.StringIO()
    call_command("backfill_deployments", "--instance", instance.slug, "--days", "90", stdout=out)
    assert "3 space(s)" in out.getvalue()
    assert DeploymentTask.objects.count() >= before


def test_enlist_hook_reads_counts_and_backfills_90_days(
    sim_instance: SimInstance, enlist: Callable[..., Instance]
) -> None:
    instance = enlist(sim_instance)
    result = tasks.instance_enlisted(str(instance.pk))
    assert result is not None and result["deployments"]["errors"] == 0
    assert result["deployments"]["new"] > 0
    assert SpaceDay.objects.filter(space__instance=instance).exists()
    assert not Space.objects.filter(instance=instance, project_count__isnull=True).exists()
    assert tasks.instance_enlisted("00000000-0000-0000-0000-000000000000") is None


def test_reminders_repeat_while_down_when_enabled(
    sim_instance: SimInstance, enlist: Callable[..., Instance], settings: Any
) -> None:
    settings.ODCM_ALERT_REMINDER_HOURS = 4
    instance = enlist(sim_instance)
    sweep_status(force=True)
    sim_instance.set_faults(offline="refuse")
    sweep_status(force=True)
    sweep_status(force=True)
    monitor = InstanceMonitor.objects.get(pk=instance.pk)
    assert monitor.down_alerted and monitor.next_reminder_at is not None
    sweep_status(force=True)
    assert Alert.objects.filter(instance=instance, kind="reminder").count() == 0  # not due yet
    InstanceMonitor.objects.filter(pk=instance.pk).update(
        next_reminder_at=timezone.now() - timedelta(minutes=1)
    )
    sweep_status(force=True)
    sweep_status(force=True)
    assert Alert.objects.filter(instance=instance, kind="reminder").count() == 1
    sim_instance.clear_faults()
    sweep_status(force=True)
    assert InstanceMonitor.objects.get(pk=instance.pk).next_reminder_at is None


def test_a_bad_maintenance_window_is_refused_with_a_message_and_nothing_saved(
    sim_instance: SimInstance,
    enlist: Callable[..., Instance],
    login: Callable[[Any], Client],
    admin_user: Any,
) -> None:
    instance = enlist(sim_instance)
    now = timezone.now()
    response = login(admin_user).post(
        f"/monitoring/instances/{instance.slug}/",
        {
            "action": "window",
            "starts_at": (now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
            "ends_at": now.strftime("%Y-%m-%dT%H:%M"),
        },
        follow=True,
    )
    assert response.redirect_chain[-1][0] == f"/spaces/instances/{instance.pk}/"
    text = response.content.decode()
    assert "Maintenance window not scheduled." in text and "must end after it starts" in text
    assert not MaintenanceWindow.objects.exists()
