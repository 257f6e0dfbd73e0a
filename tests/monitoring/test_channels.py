"""Alert channels besides email, against a real local HTTP receiver: a signed JSON webhook,
Slack and Teams payloads, each channel with its own retries and status, the URL policy."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from audit.models import AuditEntry
from monitoring import tasks
from monitoring.models import Alert, AlertChannel, ChannelDelivery, InstanceNode
from monitoring.services import alerts, channels
from monitoring.services.status import sweep_status
from octosim.testing import SimInstance
from spaces.models import Instance
from tests.monitoring.receiver import Receiver
from tests.monitoring.test_alerts import go_offline
from tests.monitoring.test_queues import wait_for

pytestmark = pytest.mark.django_db


def add(kind: str, url: str, name: str = "", secret: str = "", **events: bool) -> AlertChannel:
    channel, _ = channels.create_channel(
        name=name or kind, kind=kind, url=url, secret=secret, events=events or None
    )
    return channel


def test_a_webhook_gets_a_signed_json_alert_when_an_instance_goes_offline(
    sim_instance: SimInstance, enlist: Callable[..., Instance], receiver: Receiver
) -> None:
    channel = add("webhook", receiver.url("/hook"), secret="s3cret")
    instance = enlist(sim_instance)
    go_offline(sim_instance, instance)
    assert alerts.dispatch()["sent"] == 1
    (got,) = receiver.at("/hook")
    stamp = got.headers["X-ODCM-Timestamp"]
    expected = hmac.new(b"s3cret", stamp.encode() + b"." + got.body, hashlib.sha256).hexdigest()
    assert got.headers["X-ODCM-Signature"] == f"sha256={expected}"
    body = got.json()
    assert body["event"] == "offline" and body["instance"]["name"] == instance.name
    assert body["link"].endswith(f"/spaces/instances/{instance.pk}/")
    delivery = ChannelDelivery.objects.get(channel=channel)
    assert got.headers["X-ODCM-Delivery"] == str(delivery.pk)
    assert (delivery.state, delivery.last_status_code, delivery.attempts) == ("sent", 200, 1)
    assert alerts.dispatch()["sent"] == 0  # nothing twice


def test_slack_and_teams_get_their_own_payloads_from_a_test_alert(
    sim_instance: SimInstance, enlist: Callable[..., Instance], receiver: Receiver, admin_user: Any
) -> None:
    add("slack", receiver.url("/slack"))
    add("teams", receiver.url("/teams"))
    instance = enlist(sim_instance)
    alerts.send_test_alert(instance, admin_user)
    alerts.dispatch()
    (slack,) = receiver.at("/slack")
    assert slack.json()["text"].startswith(f"*Test alert for {instance.name}*")
    assert "X-ODCM-Signature" not in slack.headers
    (teams,) = receiver.at("/teams")
    card = teams.json()
    assert card["@type"] == "MessageCard" and card["title"] == f"Test alert for {instance.name}"
    uri = card["potentialAction"][0]["targets"][0]["uri"]
    assert uri.endswith(f"/spaces/instances/{instance.pk}/")


def test_each_channel_retries_on_its_own_and_delivers_once(
    sim_instance: SimInstance,
    enlist: Callable[..., Instance],
    receiver: Receiver,
    settings: Any,
    admin_user: Any,
) -> None:
    # The retry waits (5 s backoff): it is made due by hand below, not by sleeping, so a slow
    # machine cannot retry it inside the first dispatch.
    settings.ODCM_ALERT_RETRY_MAX_SECONDS = 600
    flaky = add("slack", receiver.url("/flaky"), name="flaky")
    steady = add("webhook", receiver.url("/steady"), name="steady")
    receiver.statuses = [500]  # whichever channel posts first is refused once
    instance = enlist(sim_instance)
    alerts.send_test_alert(instance, admin_user)
    first = alerts.dispatch()  # each channel tried once; the retry is not due yet
    assert first["failed"] == 1
    failed = ChannelDelivery.objects.get(state="pending")
    assert failed.last_status_code == 500 and "answered 500" in failed.last_error
    assert failed.attempts == 1 and failed.next_attempt_at > timezone.now()
    ChannelDelivery.objects.filter(pk=failed.pk).update(next_attempt_at=timezone.now())
    alerts.dispatch()
    states = dict(ChannelDelivery.objects.values_list("channel__name", "state"))
    assert states == {"flaky": "sent", "steady": "sent"}
    failed.refresh_from_db()
    assert failed.attempts == 2
    assert {len(receiver.at("/flaky")), len(receiver.at("/steady"))} == {1, 2}
    assert flaky.pk != steady.pk


def test_a_url_outside_the_policy_is_refused_with_a_clear_error(
    admin_user: Any, login: Callable[[Any], Client]
) -> None:
    web = login(admin_user)
    for url in ("http://169.254.169.254/latest/meta-data", "http://10.1.2.3/hook"):
        page = web.post(
            "/monitoring/channels/",
            {"name": "metadata", "kind": "webhook", "url": url, "on_offline": "on"},
        )
        assert page.status_code == 200
        assert "ODCM may not post to this URL" in page.content.decode()
    assert not AlertChannel.objects.exists()


def test_the_url_and_secret_are_encrypted_and_never_shown_or_audited(
    admin_user: Any, login: Callable[[Any], Client], receiver: Receiver
) -> None:
    url = receiver.url("/services/T000/B000/XXXXSECRETPATH")
    web = login(admin_user)
    response = web.post(
        "/monitoring/channels/",
        {"name": "ops", "kind": "slack", "url": url, "on_offline": "on"},
        follow=True,
    )
    page = response.content.decode()
    assert "Added ops" in page and "XXXXSECRETPATH" not in page
    channel = AlertChannel.objects.get()
    assert "XXXXSECRETPATH" not in channel.url and channel.url_host.startswith("http://127.0.0.1")
    entry = AuditEntry.objects.get(action="monitoring.channel.create")
    assert "XXXXSECRETPATH" not in str(entry.changes)


def test_a_generated_webhook_secret_is_shown_once(
    admin_user: Any, login: Callable[[Any], Client], receiver: Receiver
) -> None:
    web = login(admin_user)
    form = {"name": "hook", "kind": "webhook", "url": receiver.url(), "on_offline": "on"}
    shown = web.post("/monitoring/channels/", form, follow=True).content.decode()
    assert "Signing secret for hook (shown once):" in shown
    assert "shown once" not in web.get("/monitoring/channels/").content.decode()


def test_no_recovery_post_for_an_outage_the_channel_was_not_told_about(
    sim_instance: SimInstance, enlist: Callable[..., Instance], receiver: Receiver
) -> None:
    instance = enlist(sim_instance)
    go_offline(sim_instance, instance)
    alerts.dispatch()
    add("webhook", receiver.url("/late"))  # added while the instance is down
    sim_instance.clear_faults()
    sweep_status(force=True)
    alerts.dispatch()
    assert receiver.at("/late") == []


def test_only_administrators_manage_channels(
    space_owner: Any, login: Callable[[Any], Client]
) -> None:
    assert login(space_owner).get("/monitoring/channels/").status_code == 403


@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_post_each_alert_once_per_channel(
    sim_instance: SimInstance,
    enlist: Callable[..., Instance],
    receiver: Receiver,
    start_celery_worker: Callable[..., Any],
) -> None:
    for name in ("w1", "w2"):
        start_celery_worker(concurrency=2, name=name)
    add("webhook", receiver.url("/a"), name="a")
    add("teams", receiver.url("/b"), name="b")
    instance = enlist(sim_instance)
    go_offline(sim_instance, instance)
    for _ in range(6):  # many dispatchers racing for the same two posts
        tasks.dispatch_alerts.delay()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(receiver.requests) < 2:
        time.sleep(0.5)
    time.sleep(2)
    assert (len(receiver.at("/a")), len(receiver.at("/b"))) == (1, 1)
    assert ChannelDelivery.objects.filter(state="sent").count() == 2


def test_queue_alerts_and_their_end_are_posted_like_offline_alerts(
    sim_instance: SimInstance,
    enlist: Callable[..., Instance],
    receiver: Receiver,
    settings: Any,
) -> None:
    add("webhook", receiver.url("/hook"), secret="s3cret")
    add("slack", receiver.url("/slack"))
    add("teams", receiver.url("/quiet"), name="quiet", on_unhealthy=False, on_recovered=False)
    settings.ODCM_QUEUE_ALERT_MINUTES = 24 * 60
    instance = enlist(sim_instance)
    sweep_status(force=True)
    node = InstanceNode.objects.get(instance=instance).name
    sim_instance.set_node(node, max_concurrent_tasks=0)  # the node takes no task: ours wait
    sim_instance.add_activity(deployments=3)
    settings.ODCM_QUEUE_ALERT_MINUTES = 0.02  # 1.2 s: the new tasks soon wait too long
    wait_for(
        lambda: Alert.objects.filter(kind=Alert.Kind.QUEUE).exists(),
        lambda: sweep_status(force=True),
    )
    raised = list(Alert.objects.filter(kind=Alert.Kind.QUEUE).select_related("space"))
    alerts.dispatch()
    hooks = [got.json() for got in receiver.at("/hook")]
    assert {h["event"] for h in hooks} == {"queue"} and len(hooks) == len(raised)
    assert {h["space"]["name"] for h in hooks} == {a.space.name for a in raised if a.space}
    assert all("waiting in the queue of" in h["title"] for h in hooks)
    assert len(receiver.at("/slack")) == len(raised)
    assert receiver.at("/quiet") == []  # it turned unhealthy-like events off

    # A channel added during the wait hears nothing of its end (as for a recovery).
    add("webhook", receiver.url("/late"), name="late", secret="x")
    settings.ODCM_QUEUE_ALERT_MINUTES = 24 * 60
    sweep_status(force=True)
    alerts.dispatch()
    ends = [got.json() for got in receiver.at("/hook")][len(hooks) :]
    assert [e["event"] for e in ends] == ["queue_cleared"] * len(raised)
    assert receiver.at("/late") == [] and receiver.at("/quiet") == []
    assert ChannelDelivery.objects.filter(state="sent").count() == 4 * len(raised)
