"""Alerts out of the box, in a browser: a new administrator sees who is told about an instance,
sends a test alert that a real worker delivers over SMTP, then opts out and sees nobody is;
a webhook channel added in the page receives the test alert at a local HTTP receiver."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from octosim.testing import SimInstance
from tests.conftest import PASSWORD
from tests.monitoring.conftest import SmtpServer, enlist_sim
from tests.monitoring.receiver import Receiver


@pytest.mark.django_db(transaction=True)
def test_admin_is_told_by_default_sends_a_test_alert_and_can_opt_out(
    live_server: Any,
    page: Any,
    sim_instance: SimInstance,
    admin_user: Any,
    smtp_server: SmtpServer,
    start_celery_worker: Callable[..., Any],
) -> None:
    start_celery_worker(concurrency=1, name="alerts", ODCM_EMAIL_URL=smtp_server.url)
    instance = enlist_sim(sim_instance)  # no owner, no alert settings: the defaults
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_login", admin_user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")

    # The first-run checklist: email works and someone receives alerts; no test sent yet.
    page.wait_for_selector("[data-testid=first-run-checklist]")
    assert page.get_attribute("[data-testid=step-email]", "data-done") == "yes"
    assert page.get_attribute("[data-testid=step-listeners]", "data-done") == "yes"
    assert page.get_attribute("[data-testid=step-test]", "data-done") == "no"

    # The instance page says who is told and why.
    page.goto(f"{live_server.url}/spaces/instances/{instance.pk}/")
    me = page.locator("[data-testid=listener][data-user=ada]")
    assert me.get_attribute("data-receives") == "yes"
    assert "administrator" in me.inner_text()

    # A test alert goes through the real path: planned, sent by the worker, shown as sent.
    page.click("[data-testid=test-alert]")
    page.wait_for_selector("text=Test alert queued for ada")
    for _ in range(60):
        if page.locator("[data-testid=notification][data-state=sent]").count():
            break
        page.wait_for_timeout(500)
        page.reload()
    assert page.locator("[data-testid=notification][data-state=sent]").count() == 1
    (message,) = smtp_server.sink.messages
    assert str(message["Subject"]) == f"[ODCM] Test alert for {instance.name}"
    assert str(message["To"]) == admin_user.email

    # Opting out: the page then says nobody is told, and the checklist asks again.
    page.goto(f"{live_server.url}/monitoring/alerts/")
    page.uncheck("#id_as_administrator")
    page.click("main button.btn-primary[type=submit]")
    page.wait_for_selector("text=Alert settings saved.")
    page.goto(f"{live_server.url}/spaces/instances/{instance.pk}/")
    assert page.locator("[data-testid=nobody-alerted]").is_visible()
    page.goto(f"{live_server.url}/")
    assert page.get_attribute("[data-testid=step-listeners]", "data-done") == "no"


@pytest.mark.django_db(transaction=True)
def test_admin_adds_a_webhook_channel_and_a_test_alert_reaches_the_local_receiver(
    live_server: Any,
    page: Any,
    sim_instance: SimInstance,
    admin_user: Any,
    receiver: Receiver,
    start_celery_worker: Callable[..., Any],
) -> None:
    start_celery_worker(concurrency=1, name="channels")
    instance = enlist_sim(sim_instance)
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_login", admin_user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")

    page.goto(f"{live_server.url}/monitoring/channels/")
    page.fill("#id_name", "Ops hook")
    page.select_option("#id_kind", "webhook")
    page.fill("#id_url", receiver.url("/ops"))
    page.fill("#id_secret", "hook-secret")
    page.click("[data-testid=channel-form] button[type=submit]")
    page.wait_for_selector("text=Added Ops hook")
    assert "/ops" not in page.inner_text("[data-testid=channels]")  # the path stays secret

    page.goto(f"{live_server.url}/spaces/instances/{instance.pk}/")
    assert "Ops hook" in page.inner_text("[data-testid=alert-channels]")
    page.click("[data-testid=test-alert]")
    page.wait_for_selector("text=channel Ops hook")
    for _ in range(60):
        if receiver.at("/ops"):
            break
        page.wait_for_timeout(500)
    (got,) = receiver.at("/ops")
    assert got.json()["event"] == "test" and got.headers["X-ODCM-Signature"].startswith("sha256=")
    page.goto(f"{live_server.url}/monitoring/channels/")
    page.wait_for_selector("[data-testid=channel-delivery][data-state=sent]")
