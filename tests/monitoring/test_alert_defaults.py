"""Alerts out of the box: administrators are told unless they opt out, the instance page says
who is told and why, a test alert goes through the real path, recoveries say how long the
outage lasted and only reach people who heard of it. Real SMTP (aiosmtpd), real sweeps
against octosim."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from audit.models import AuditEntry
from monitoring.models import Alert, AlertSettings, InstanceMonitor, Notification
from monitoring.services import alerts
from monitoring.services.status import sweep_status
from octosim.testing import SimInstance
from odcm.crypto import seal
from spaces.models import Instance
from tests.conftest import make_user
from tests.monitoring.conftest import SmtpServer
from tests.monitoring.test_alerts import go_offline

pytestmark = pytest.mark.django_db


def body(message: Any) -> str:
    return str(message.get_body(preferencelist=("plain",)).get_content())


def test_an_administrator_receives_an_offline_alert_without_any_setup(
    sim_instance: SimInstance,
    enlist: Callable[..., Instance],
    smtp_server: SmtpServer,
    admin_user: Any,
) -> None:
    instance = enlist(sim_instance)  # no owner, no alert settings anywhere
    go_offline(sim_instance, instance)
    assert alerts.dispatch()["sent"] == 1
    assert list(smtp_server.sink.by_recipient()) == ["ada@example.com"]


def test_an_administrator_who_opted_out_gets_nothing_and_the_page_says_so(
    sim_instance: SimInstance,
    enlist: Callable[..., Instance],
    smtp_server: SmtpServer,
    admin_user: Any,
    login: Callable[[Any], Client],
) -> None:
    web = login(admin_user)
    response = web.post(
        "/monitoring/alerts/",
        {"on_offline": "on", "on_recovered": "on", "owned_instances": "on"},  # box unticked
    )
    assert response.status_code == 302
    assert AlertSettings.objects.get(user=admin_user).as_administrator is False
    instance = enlist(sim_instance)
    page = web.get(f"/spaces/instances/{instance.pk}/").content.decode()
    assert 'data-testid="nobody-alerted"' in page
    assert "opted out (administrator)" in page
    go_offline(sim_instance, instance)
    assert alerts.dispatch()["sent"] == 0
    assert smtp_server.sink.messages == []


def test_the_instance_page_lists_who_is_told_and_why_and_does_not_call_admins_owners(
    sim_instance: SimInstance,
    enlist: Callable[..., Instance],
    admin_user: Any,
    space_owner: Any,
    login: Callable[[Any], Client],
) -> None:
    mute = make_user("mute-owner")
    AlertSettings.objects.create(user=mute, on_offline=False)
    instance = enlist(sim_instance, owners=[space_owner, mute])
    follower = make_user("fay")
    instance.owners.add(follower)  # sees it ...
    prefs = AlertSettings.objects.create(user=follower, owned_instances=False)
    prefs.instances.add(instance)  # ... and subscribed to it by name
    page = login(space_owner).get(f"/spaces/instances/{instance.pk}/").content.decode()
    assert 'data-user="ada" data-receives="yes"' in page
    assert 'data-user="owen" data-receives="yes"' in page
    assert 'data-user="fay" data-receives="yes"' in page
    assert 'data-user="mute-owner" data-receives="no"' in page
    assert "turned off offline alerts" in page
    assert "subscribed to this instance" in page and "administrator" in page
    assert "3 people are told" in page

    bare = enlist_bare(sim_instance, instance)
    text = login(admin_user).get(f"/spaces/instances/{bare.pk}/").content.decode()
    assert "Owners: administrators" not in text and ">administrators<" not in text
    assert "none <span" in text  # "Owners: none (administrators manage every instance)"


def enlist_bare(sim: SimInstance, other: Instance) -> Instance:
    """A second instance row with no owner (same simulator, another name and URL)."""
    bare = Instance(name="Bare", slug="bare", base_url=sim.url + "/bare")
    seal(bare, "api_key", sim.api_key)
    bare.save()
    return bare


def test_send_a_test_alert_goes_through_the_real_path_and_is_audited(
    sim_instance: SimInstance,
    enlist: Callable[..., Instance],
    smtp_server: SmtpServer,
    admin_user: Any,
    space_owner: Any,
    outsider: Any,
    login: Callable[[Any], Client],
) -> None:
    instance = enlist(sim_instance, owners=[space_owner])
    url = f"/monitoring/instances/{instance.slug}/"
    assert login(outsider).post(url, {"action": "test-alert"}).status_code == 404
    web = login(space_owner)
    response = web.post(url, {"action": "test-alert"}, follow=True)
    assert "Test alert queued for ada, owen" in response.content.decode()
    alert = Alert.objects.get(instance=instance, kind="test")
    assert alert.requested_by == space_owner
    entry = AuditEntry.objects.get(action="monitoring.alert.test")
    assert entry.actor_id == space_owner.pk and entry.object_id == str(instance.pk)
    assert alerts.dispatch()["sent"] == 2
    received = smtp_server.sink.by_recipient()
    assert sorted(received) == ["ada@example.com", "owen@example.com"]
    assert (
        str(received["owen@example.com"][0]["Subject"]) == f"[ODCM] Test alert for {instance.name}"
    )
    assert "This is a test" in body(received["owen@example.com"][0])
    page = web.get(f"/spaces/instances/{instance.pk}/").content.decode()
    assert page.count('data-testid="notification" data-state="sent"') == 2


def test_a_test_alert_that_would_reach_nobody_is_not_sent_and_says_why(
    sim_instance: SimInstance,
    enlist: Callable[..., Instance],
    admin_user: Any,
    login: Callable[[Any], Client],
) -> None:
    AlertSettings.objects.create(user=admin_user, as_administrator=False)
    instance = enlist(sim_instance)
    response = login(admin_user).post(
        f"/monitoring/instances/{instance.slug}/", {"action": "test-alert"}, follow=True
    )
    assert "Nobody would be told" in response.content.decode()
    assert not Alert.objects.filter(kind="test").exists()


def test_a_recovery_says_how_long_the_instance_was_down(
    sim_instance: SimInstance,
    enlist: Callable[..., Instance],
    smtp_server: SmtpServer,
    space_owner: Any,
) -> None:
    instance = enlist(sim_instance, owners=[space_owner])
    go_offline(sim_instance, instance)
    alerts.dispatch()
    # The outage began 2 h 5 min ago (as if the sweeps had seen it then).
    began = timezone.now() - timedelta(hours=2, minutes=5)
    InstanceMonitor.objects.filter(pk=instance.pk).update(down_since=began)
    sim_instance.clear_faults()
    sweep_status(force=True)
    assert alerts.dispatch()["sent"] == 1
    recovery = smtp_server.sink.messages[-1]
    assert "back online" in str(recovery["Subject"])
    assert "Down for:   2 h 5 min" in body(recovery)


def test_no_recovery_is_sent_for_an_outage_nobody_was_told_about(
    sim_instance: SimInstance,
    enlist: Callable[..., Instance],
    smtp_server: SmtpServer,
    admin_user: Any,
) -> None:
    prefs = AlertSettings.objects.create(user=admin_user, as_administrator=False)
    instance = enlist(sim_instance)
    go_offline(sim_instance, instance)
    assert alerts.dispatch()["sent"] == 0  # nobody told
    prefs.as_administrator = True  # the admin opts back in while it is down
    prefs.save()
    sim_instance.clear_faults()
    sweep_status(force=True)
    assert Alert.objects.filter(instance=instance, kind="recovered").exists()
    assert alerts.dispatch()["sent"] == 0
    assert smtp_server.sink.messages == []
    assert not Notification.objects.exists()


def test_first_run_checklist_asks_for_email_and_a_recipient_until_both_are_there(
    admin_user: Any, login: Callable[[Any], Client], settings: Any
) -> None:
    admin_user.email = ""
    admin_user.save()
    web = login(admin_user)
    page = web.get("/").content.decode()
    assert 'data-testid="first-run-checklist"' in page
    assert 'data-testid="step-email" data-done="no"' in page
    assert 'data-testid="step-listeners" data-done="no"' in page
    admin_user.email = "ada@example.com"
    admin_user.save()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    page = web.get("/").content.decode()
    assert 'data-testid="step-email" data-done="yes"' in page
    assert 'data-testid="step-listeners" data-done="yes"' in page


def test_non_administrators_see_no_checklist(
    space_owner: Any, login: Callable[[Any], Client]
) -> None:
    assert b"first-run-checklist" not in login(space_owner).get("/").content


def test_the_instance_page_runs_the_same_number_of_queries_however_many_alerts(
    sim_instance: SimInstance,
    enlist: Callable[..., Instance],
    admin_user: Any,
    login: Callable[[Any], Client],
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    instance = enlist(sim_instance)
    web = login(admin_user)
    url = f"/spaces/instances/{instance.pk}/"

    def raise_alerts(count: int) -> None:
        for _ in range(count):
            alerts.send_test_alert(instance, admin_user)
        alerts.plan_alerts()

    raise_alerts(2)
    web.get(url)  # warm caches (sessions, content types)
    with CaptureQueriesContext(connection) as few:
        assert web.get(url).status_code == 200
    raise_alerts(8)
    with CaptureQueriesContext(connection) as many:
        assert web.get(url).status_code == 200
    assert len(many) == len(few)
