"""Alert emails through a real SMTP server (aiosmtpd), sent in-process and by real workers."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from typing import Any

import pytest

from monitoring import tasks
from monitoring.models import Alert, AlertSettings, Notification
from monitoring.services import alerts
from monitoring.services.status import sweep_status
from octosim.testing import SimInstance
from spaces.models import Instance
from tests.conftest import make_user
from tests.monitoring.conftest import SmtpServer


def go_offline(sim: SimInstance, instance: Instance) -> None:
    assert sweep_status(force=True) is not None
    sim.set_faults(offline="refuse")
    sweep_status(force=True)
    sweep_status(force=True)
    instance.refresh_from_db()
    assert instance.status == "offline"


def wait_for(
    condition: Callable[[], bool], timeout: float = 30.0, poke: Callable[[], Any] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if poke is not None:
            poke()
        time.sleep(0.5)
    raise AssertionError("condition not met in time")


@pytest.mark.django_db
def test_offline_alert_reaches_owner_and_admin_once_with_text_html_and_link(
    sim_instance: SimInstance,
    enlist: Callable[..., Instance],
    smtp_server: SmtpServer,
    space_owner: Any,
    admin_user: Any,
    settings: Any,
) -> None:
    quiet = make_user("quiet-admin", admin=True)  # an admin who opted out gets nothing
    AlertSettings.objects.create(user=quiet, as_administrator=False)
    instance = enlist(sim_instance, owners=[space_owner])
    go_offline(sim_instance, instance)
    outcome = alerts.dispatch()
    assert outcome["sent"] == 2
    assert alerts.dispatch()["sent"] == 0  # nothing twice
    received = smtp_server.sink.by_recipient()
    assert sorted(received) == ["ada@example.com", "owen@example.com"]
    message = received["owen@example.com"][0]
    assert "is offline" in str(message["Subject"])
    notification = Notification.objects.get(email="owen@example.com")
    assert message["Message-ID"] == notification.message_id
    assert notification.state == "sent" and notification.attempts == 1
    text = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    link = f"{settings.ODCM_SITE_URL}/spaces/instances/{instance.pk}/"
    assert link in text and link in html
    assert "Last error:" in text and "Offline" in text and "Since:" in text


@pytest.mark.django_db
def test_owner_who_turned_an_event_off_gets_no_email(
    sim_instance: SimInstance,
    enlist: Callable[..., Instance],
    smtp_server: SmtpServer,
    space_owner: Any,
) -> None:
    AlertSettings.objects.create(user=space_owner, on_offline=False)
    instance = enlist(sim_instance, owners=[space_owner])
    go_offline(sim_instance, instance)
    assert alerts.dispatch()["sent"] == 0
    assert Alert.objects.filter(instance=instance, kind="offline").count() == 1
    assert smtp_server.sink.messages == []


@pytest.mark.django_db
def test_outsider_subscription_to_an_invisible_instance_sends_nothing(
    sim_instance: SimInstance,
    enlist: Callable[..., Instance],
    smtp_server: SmtpServer,
    outsider: Any,
) -> None:
    instance = enlist(sim_instance)
    prefs = AlertSettings.objects.create(user=outsider, all_instances=True)
    prefs.instances.add(instance)
    go_offline(sim_instance, instance)
    alerts.dispatch()
    assert smtp_server.sink.messages == []


@pytest.mark.django_db(transaction=True)
def test_one_email_per_flip_and_recipient_with_two_worker_processes(
    sim_instance: SimInstance,
    enlist: Callable[..., Instance],
    smtp_server: SmtpServer,
    start_celery_worker: Callable[..., Any],
    space_owner: Any,
    admin_user: Any,
) -> None:
    for name in ("w1", "w2"):
        start_celery_worker(concurrency=2, name=name, ODCM_EMAIL_URL=smtp_server.url)
    AlertSettings.objects.create(user=admin_user, all_instances=True)
    instance = enlist(sim_instance, owners=[space_owner])
    go_offline(sim_instance, instance)
    for _ in range(6):  # many dispatchers racing for the same two notifications
        tasks.dispatch_alerts.delay()
    wait_for(lambda: len(smtp_server.sink.messages) >= 2, timeout=60)
    sim_instance.clear_faults()
    sweep_status(force=True)  # recovery: one more email each
    for _ in range(6):
        tasks.dispatch_alerts.delay()
    wait_for(lambda: len(smtp_server.sink.messages) >= 4, timeout=60)
    time.sleep(2)
    received = smtp_server.sink.by_recipient()
    assert {k: len(v) for k, v in received.items()} == {
        "ada@example.com": 2,
        "owen@example.com": 2,
    }
    assert Notification.objects.filter(state="sent").count() == 4


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_smtp_down_then_up_delivers_the_alert_once(
    sim_instance: SimInstance,
    enlist: Callable[..., Instance],
    smtp_server: SmtpServer,
    start_celery_worker: Callable[..., Any],
    space_owner: Any,
) -> None:
    smtp_server.stop()
    # The retry comes 1 s after the failure, not 5 s (the backoff's first step, capped).
    env = {"ODCM_EMAIL_URL": smtp_server.url, "ODCM_ALERT_RETRY_MAX_SECONDS": "1"}
    start_celery_worker(concurrency=1, name="w1", **env)
    instance = enlist(sim_instance, owners=[space_owner])
    go_offline(sim_instance, instance)
    wait_for(
        lambda: (
            Notification.objects.filter(attempts__gte=1, state="pending")
            .exclude(last_error="")
            .exists()
        ),
        timeout=60,
    )
    smtp_server.start()
    wait_for(
        lambda: len(smtp_server.sink.messages) >= 1,
        timeout=60,
        poke=lambda: tasks.dispatch_alerts.delay(),  # stands in for celery beat
    )
    time.sleep(2)
    assert len(smtp_server.sink.messages) == 1
    notification = Notification.objects.get()
    assert notification.state == "sent" and notification.attempts >= 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_worker_killed_while_sending_leaves_the_alert_for_another_worker(
    sim_instance: SimInstance,
    enlist: Callable[..., Instance],
    smtp_server: SmtpServer,
    start_celery_worker: Callable[..., Any],
    space_owner: Any,
) -> None:
    env = {"ODCM_EMAIL_URL": smtp_server.url, "ODCM_ALERT_LEASE_SECONDS": "3"}
    smtp_server.sink.stall.set()  # the server takes the message but never answers DATA
    doomed = start_celery_worker(concurrency=1, name="doomed", **env)
    instance = enlist(sim_instance, owners=[space_owner])
    go_offline(sim_instance, instance)
    wait_for(lambda: smtp_server.sink.stalled_sessions >= 1, timeout=60)
    assert Notification.objects.get().state == "sending"
    doomed.kill(signal.SIGKILL)
    smtp_server.sink.stall.clear()
    start_celery_worker(concurrency=1, name="rescuer", **env)
    wait_for(
        lambda: len(smtp_server.sink.messages) >= 1,
        timeout=60,
        poke=lambda: tasks.dispatch_alerts.delay(),
    )
    time.sleep(2)
    assert len(smtp_server.sink.messages) == 1
    notification = Notification.objects.get()
    assert notification.state == "sent" and notification.attempts == 2
