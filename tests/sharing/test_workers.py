"""Real Celery workers: push and on-demand end to end, retries, and a worker killed mid fan-out."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from octosim.testing import SimInstance
from sharing.models import Delivery, SharedItem, Subscription
from sharing.services import items, queueing, subscriptions, trusts

from .conftest import (
    by_name,
    enlist_sim,
    lvs_copy,
    make_set,
    read_copy,
    subscribe,
    variables,
    wait_for,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

FAST = {
    "ODCM_SHARING_RETRY_BASE_SECONDS": "1",
    "ODCM_SHARING_RETRY_MAX_SECONDS": "2",
    "ODCM_SHARING_CLAIM_SECONDS": "5",
    "ODCM_OCTOPUS_READ_TIMEOUT": "2",
}


def status_of(sub: Subscription) -> tuple[str, int | None]:
    sub.refresh_from_db()
    return sub.status, sub.delivered_revision


def test_push_reaches_subscribers_with_scopes_mapped_by_name(pair, start_celery_worker):
    start_celery_worker(concurrency=2, **FAST)
    item = make_set(pair["publisher"])
    sub = subscribe(item, pair["subscriber"])
    wait_for(lambda: status_of(sub) == ("in_sync", 1))
    items.save_revision(item, variables(prod_url="https://r2.example"))
    wait_for(lambda: status_of(sub) == ("in_sync", 2))
    got = by_name(read_copy(pair["inst_b"], "Spaces-1", "DC Common"))
    assert got[("Api.Url", ("Production",))]["Value"] == "https://r2.example"
    assert len(lvs_copy(pair["inst_b"], "Spaces-1", "DC Common")) == 1


def test_on_demand_waits_for_sync_now(pair, start_celery_worker):
    start_celery_worker(concurrency=1, **FAST)
    item = make_set(pair["publisher"], policy=SharedItem.Policy.SUBSCRIBER_CHOOSES)
    sub = subscribe(item, pair["subscriber"], mode=Subscription.Mode.ON_DEMAND)
    time.sleep(1.5)
    assert status_of(sub) == ("update_available", None)
    assert lvs_copy(pair["inst_b"], "Spaces-1", "DC Common") == []
    subscriptions.sync_now(sub)
    wait_for(lambda: status_of(sub) == ("in_sync", 1))
    items.save_revision(item, variables(prod_url="https://r2.example"))
    time.sleep(1.5)
    assert status_of(sub) == ("update_available", 1)
    subscriptions.sync_now(sub)
    wait_for(lambda: status_of(sub) == ("in_sync", 2))


def test_an_offline_subscriber_is_retried_until_it_is_back(pair, start_celery_worker):
    start_celery_worker(concurrency=1, **FAST)
    pair["sim_b"].set_faults(offline="refuse")
    sub = subscribe(make_set(pair["publisher"]), pair["subscriber"])
    wait_for(lambda: sub.deliveries.filter(outcome=Delivery.Outcome.FAILED).count() >= 2)
    sub.refresh_from_db()
    assert sub.error_class == Subscription.ErrorClass.UNREACHABLE
    pair["sim_b"].clear_faults()

    def recovered() -> bool:
        queueing.sweep()  # what beat runs; Celery countdowns bring most retries before it
        return status_of(sub) == ("in_sync", 1)

    wait_for(recovered)


def test_worker_killed_mid_fan_out_loses_nothing(
    make_sim_instance: Callable[..., SimInstance], space_owner: Any, start_celery_worker
):
    publisher_sim = make_sim_instance("fanout-pub", seed=7)
    publisher = enlist_sim(publisher_sim, owners=[space_owner]).spaces.get(octopus_id="Spaces-1")
    targets: list[Any] = []
    sims = []
    for n in range(2):
        sim = make_sim_instance(f"fanout-sub-{n}", spaces=25, seed=20 + n)
        sim.set_faults(latency_ms=60)
        sims.append(sim)
        targets.extend(enlist_sim(sim).spaces.all())
    assert len(targets) == 50
    for space in targets:
        trusts.accept(trusts.propose(publisher, space))
    item = items.create_item(publisher, SharedItem.Kind.VARIABLE_SET, "Fan out")
    items.save_revision(item, {"variables": [{"name": "Only", "value": "one"}]})
    subs = [subscriptions.subscribe(item, space) for space in targets]  # queues r1 for each

    worker = start_celery_worker(concurrency=2, name="doomed", **FAST)
    wait_for(lambda: Delivery.objects.filter(outcome=Delivery.Outcome.WRITTEN).count() >= 8)
    worker.kill()  # SIGKILL, mid fan-out
    done_before = Delivery.objects.filter(outcome=Delivery.Outcome.WRITTEN).count()
    assert done_before < 50, "the fan-out finished before the worker was killed"
    for sim in sims:  # the kill has happened: the rescue need not be slow
        sim.set_faults(latency_ms=0)
    items.save_revision(item, {"variables": [{"name": "Only", "value": "two"}]})

    start_celery_worker(concurrency=2, name="rescuer", **FAST)

    def all_current() -> bool:
        queueing.sweep(requeue_after=5)  # what beat does every ODCM_SHARING_SWEEP_SECONDS
        return (
            Subscription.objects.filter(
                item=item, status=Subscription.Status.IN_SYNC, delivered_revision=2
            ).count()
            == 50
        )

    wait_for(all_current, timeout=120, every=1.0)
    for sub in subs:
        space = sub.space
        copies = lvs_copy(space.instance, space.octopus_id, "Fan out")
        assert len(copies) == 1, space
        assert sub.deliveries.filter(revision=2, outcome__in=["written", "unchanged"]).exists()
    assert not Delivery.objects.filter(outcome=Delivery.Outcome.RUNNING).exists()


def test_push_now_is_recorded_as_push_now_not_sync_now(pair, start_celery_worker):
    start_celery_worker(concurrency=1, **FAST)
    item = make_set(pair["publisher"])
    sub = subscribe(item, pair["subscriber"])
    wait_for(lambda: status_of(sub) == ("in_sync", 1))
    subscriptions.push_now(item)
    wait_for(lambda: sub.deliveries.filter(trigger=Delivery.Trigger.PUSH).exists())
    assert not sub.deliveries.filter(trigger=Delivery.Trigger.SYNC_NOW).exists()
    assert sub.deliveries.get(trigger="push").get_trigger_display() == "Push now"
