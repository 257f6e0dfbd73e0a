"""Task queues: the status sweep reads each instance's nodes and its spaces' queued and
executing tasks from octosim; a queue that waits too long alerts by email (real SMTP) once,
and its end sends one "moving again" email to the same people."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from monitoring.models import Alert, InstanceNode, SpaceQueue
from monitoring.services import alerts
from monitoring.services.checks import CheckResult
from monitoring.services.queues import apply_queues
from monitoring.services.status import sweep_status
from octosim.testing import SimInstance
from spaces.models import Instance
from tests.monitoring.conftest import SmtpServer

pytestmark = pytest.mark.django_db


def wait_for(condition: Callable[[], bool], poke: Callable[[], Any], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        poke()
        if condition():
            return
        time.sleep(0.3)
    raise AssertionError("condition not met in time")


def node_name(sim: SimInstance) -> str:
    sweep_status(force=True)
    return InstanceNode.objects.get(instance__slug=sim.slug).name


def test_the_sweep_reads_nodes_and_queues_and_a_long_wait_alerts_once_then_recovers(
    sim_instance: SimInstance,
    enlist: Callable[..., Instance],
    smtp_server: SmtpServer,
    space_owner: Any,
    settings: Any,
) -> None:
    # octosim's generated history has a few tasks of its own queued minutes ago: with a
    # day's threshold none of them (nor ours, below) is "too long" yet.
    settings.ODCM_QUEUE_ALERT_MINUTES = 24 * 60
    instance = enlist(sim_instance, owners=[space_owner])
    name = node_name(sim_instance)
    assert SpaceQueue.objects.filter(space__instance=instance).count() == 3
    sim_instance.set_node(name, max_concurrent_tasks=0)  # the node takes no task: ours wait
    sim_instance.add_activity(deployments=3)
    sweep_status(force=True)
    node = InstanceNode.objects.get(instance=instance)
    assert (node.max_tasks, node.in_maintenance, node.offline) == (0, False, False)
    assert node.last_seen is not None
    queues = SpaceQueue.objects.filter(space__instance=instance)
    assert sum(q.queued for q in queues) >= 1
    assert all(q.oldest_queued_at is not None for q in queues if q.queued)
    assert not Alert.objects.filter(kind=Alert.Kind.QUEUE).exists()

    settings.ODCM_QUEUE_ALERT_MINUTES = 0.02  # 1.2 s: now our waiting tasks are too old

    def alerted_spaces() -> set[Any]:
        return set(Alert.objects.filter(kind=Alert.Kind.QUEUE).values_list("space_id", flat=True))

    wait_for(
        lambda: (
            bool(alerted_spaces())
            and alerted_spaces()
            == set(SpaceQueue.objects.filter(alerted=True).values_list("pk", flat=True))
        ),
        lambda: sweep_status(force=True),
    )
    sweep_status(force=True)  # still waiting: never a second alert for the same wait
    raised = Alert.objects.filter(kind=Alert.Kind.QUEUE)
    assert raised.count() == len(alerted_spaces())
    assert alerts.dispatch()["sent"] == raised.count()
    mail = smtp_server.sink.by_recipient()["owen@example.com"]
    assert len(mail) == raised.count()
    assert all("waiting in the queue of" in str(m["Subject"]) for m in mail)
    body = mail[0].get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "Space:" in body and "queued" in body and "the oldest has waited" in body

    # The instance page shows the nodes and the waiting queue.
    client = Client()
    client.force_login(space_owner)
    page = client.get(reverse("spaces:instance", args=[instance.pk])).content.decode()
    assert f'data-node="{name}"' in page and 'data-testid="queue-waiting"' in page

    # The dashboard: a Queue column, and the "queue waiting" filter keeps only those spaces.
    settings.ODCM_DASHBOARD_CACHE_SECONDS = 0
    waiting_slugs = set(
        SpaceQueue.objects.filter(alerted=True).values_list("space__slug", flat=True)
    )
    everything = client.get("/").content.decode()
    assert 'title="queued / executing"' in everything and ">Queue</th>" in everything
    filtered = client.get("/?problem=queue").content.decode()
    assert set(re.findall(r'data-testid="space-row" data-space="([^"]+)"', filtered)) == (
        waiting_slugs
    )
    assert filtered.count('data-testid="queue-waiting"') == len(waiting_slugs)
    api = client.get("/api/v1/reports/spaces/?problem=queue").json()
    assert {row["slug"] for row in api["results"]} == waiting_slugs
    assert all(row["queue_waiting"] and row["queued"] >= 1 for row in api["results"])
    bad = client.get("/api/v1/reports/spaces/?problem=nonsense")
    assert bad.status_code == 400 and "problem" in bad.content.decode()

    # Metrics carry the queue, labelled with odcm_instance.
    settings.ODCM_METRICS_TOKEN = ""
    metrics = Client().get("/metrics").content.decode()
    assert f'odcm_node_max_tasks{{node="{name}",odcm_instance="{instance.slug}"}} 0.0' in metrics
    assert "odcm_space_tasks_queued{" in metrics and "odcm_space_queue_oldest_seconds{" in metrics

    # The threshold goes back up (or the queue drains): one "moving again" per alert, to the
    # people told of the wait.
    settings.ODCM_QUEUE_ALERT_MINUTES = 24 * 60
    sweep_status(force=True)
    cleared = Alert.objects.filter(kind=Alert.Kind.QUEUE_CLEARED)
    assert set(cleared.values_list("space_id", flat=True)) == alerted_spaces()
    assert not SpaceQueue.objects.filter(alerted=True).exists()
    assert alerts.dispatch()["sent"] == cleared.count()
    mail = smtp_server.sink.by_recipient()["owen@example.com"]
    assert sum("moving again" in str(m["Subject"]) for m in mail) == cleared.count()
    sweep_status(force=True)
    assert alerts.dispatch()["sent"] == 0  # nothing twice


def test_with_queue_alerts_off_a_wait_is_shown_and_nobody_is_told(
    sim_instance: SimInstance,
    enlist: Callable[..., Instance],
    smtp_server: SmtpServer,
    space_owner: Any,
    settings: Any,
) -> None:
    settings.ODCM_QUEUE_ALERT_MINUTES = 0  # off: even a long wait stays quiet
    instance = enlist(sim_instance, owners=[space_owner])
    name = node_name(sim_instance)
    sim_instance.set_node(name, max_concurrent_tasks=0)
    sim_instance.add_activity(deployments=2)
    sweep_status(force=True)
    assert SpaceQueue.objects.filter(space__instance=instance, queued__gt=0).exists()
    sim_instance.set_node(name, max_concurrent_tasks=5)
    sweep_status(force=True)
    assert not Alert.objects.filter(kind__in=[Alert.Kind.QUEUE, Alert.Kind.QUEUE_CLEARED]).exists()
    alerts.dispatch()
    assert smtp_server.sink.messages == []


def test_a_queue_that_could_not_be_read_keeps_its_last_figures(
    sim_instance: SimInstance, enlist: Callable[..., Instance]
) -> None:
    instance = enlist(sim_instance)
    name = node_name(sim_instance)
    sim_instance.set_node(name, max_concurrent_tasks=0)
    sim_instance.add_activity(deployments=2)
    sweep_status(force=True)
    before = {q.space_id: q.queued for q in SpaceQueue.objects.filter(space__instance=instance)}
    assert sum(before.values()) >= 1
    # The status check answered but the task list did not (a timeout, a 500).
    apply_queues([instance], [CheckResult(instance_id=instance.pk, answered=True, queue=None)])
    after = {q.space_id: q.queued for q in SpaceQueue.objects.filter(space__instance=instance)}
    assert after == before
    assert InstanceNode.objects.filter(instance=instance).count() == 1


def test_a_fresh_octosim_fleet_raises_no_queue_alert_at_the_default_threshold(
    make_sim_instance: Callable[..., SimInstance],
    enlist: Callable[..., Instance],
    settings: Any,
) -> None:
    # What `make demo` does: octosim instances with generated history, ODCM's default of 15
    # minutes. Their work in flight is queued minutes ago and moves on: nobody is alerted.
    settings.ODCM_QUEUE_ALERT_MINUTES = 15
    for n in range(3):
        enlist(make_sim_instance(f"fresh-{n}", spaces=3, seed=300 + n))
    sweep_status(force=True)
    queues = SpaceQueue.objects.all()
    assert sum(q.queued for q in queues) >= 1  # there is work waiting, just not for long
    assert not queues.filter(alerted=True).exists()
    assert not Alert.objects.filter(kind=Alert.Kind.QUEUE).exists()
