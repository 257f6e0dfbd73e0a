"""A revision fanned out to many subscribers at once: concurrency, the per-instance limit,
claims and idempotency (real octosim over HTTP; real workers where it matters)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.test import override_settings

from octosim.testing import SimInstance
from odcm import fanout as odcm_fanout
from odcm import work
from sharing.models import Delivery, SharedItem, Subscription
from sharing.services import fanout, items

from .conftest import enlist_sim, make_set, space_of, subscribe, trust, variables, wait_for

LATENCY_MS = 150


def puts_per_space(sim: SimInstance) -> Counter[str]:
    """PUTs of variable sets by Octopus space, from octosim's own counters."""
    found: Counter[str] = Counter()
    for key, count in sim.stats()["by_path"].items():
        if key.startswith("PUT /api/Spaces-") and "/variables/" in key:
            found[key.split("/")[2]] += count
    return found


@pytest.fixture
def fleet(make_sim_instance: Callable[..., SimInstance], db: None) -> dict[str, Any]:
    """A publisher and two subscriber instances of 5 spaces each, every space subscribed to
    one variable set at revision 1 (delivered in this process, without latency)."""
    pub = make_sim_instance("fan-pub", seed=101)
    subs = [make_sim_instance(f"fan-sub-{n}", spaces=5, seed=300 + n) for n in range(2)]
    publisher = space_of(enlist_sim(pub))
    insts = [enlist_sim(sim) for sim in subs]
    spaces = [sp for inst in insts for sp in inst.spaces.order_by("octopus_id")]
    for sp in spaces:
        trust(publisher, sp)
    with override_settings(ODCM_FANOUT_BATCH_SIZE=1000):
        item = make_set(publisher)
        subscriptions = [subscribe(item, sp) for sp in spaces]
        fanout.run_many([str(s.pk) for s in subscriptions], 1)
    for sim in subs:
        sim.set_faults(latency_ms=LATENCY_MS)
        sim.reset_stats()
    return {"item": item, "sims": subs, "subs": subscriptions}


def in_sync_at(item: SharedItem, revision: int) -> int:
    return Subscription.objects.filter(
        item=item, status=Subscription.Status.IN_SYNC, delivered_revision=revision
    ).count()


@override_settings(ODCM_OCTOPUS_PER_INSTANCE_CONCURRENCY=2)
def test_a_fan_out_writes_every_subscriber_concurrently_within_the_per_instance_limit(fleet):
    item, sims, subs = fleet["item"], fleet["sims"], fleet["subs"]
    assert in_sync_at(item, 1) == len(subs)
    items.save_revision(item, variables(prod_url="https://r2.example"))

    outcomes = fanout.run_many([str(s.pk) for s in subs], 2)

    assert outcomes == Counter(written=len(subs))
    assert in_sync_at(item, 2) == len(subs)
    for sim in sims:
        # Five spaces of one instance written at once, yet never more than two requests at
        # a time reach it; and more than one did (the deliveries really overlapped).
        assert sim.stats()["peak_in_flight"] == 2
        assert puts_per_space(sim) == dict.fromkeys([f"Spaces-{n}" for n in range(1, 6)], 1)
    attempts = Delivery.objects.filter(subscription__item=item, revision=2)
    assert sorted(attempts.values_list("outcome", flat=True)) == ["written"] * len(subs)


def test_a_fan_out_skips_what_another_worker_holds_and_what_is_current(fleet):
    item, sims, subs = fleet["item"], fleet["sims"], fleet["subs"]
    items.save_revision(item, variables(prod_url="https://r2.example"))
    held = work.claim(Subscription.objects.all(), subs[0].pk, seconds=60)
    assert held is not None

    first = fanout.run_many([str(s.pk) for s in subs], 2)
    again = fanout.run_many([str(s.pk) for s in subs], 2)  # a duplicate message

    assert first == Counter(written=len(subs) - 1, busy=1)
    assert again == Counter(current=len(subs) - 1, busy=1)
    writes = puts_per_space(sims[0]) + puts_per_space(sims[1])
    assert sum(writes.values()) == len(subs) - 1  # nothing written twice
    # The held subscription is untouched: still claimed by its holder, still queued.
    subs[0].refresh_from_db()
    assert subs[0].claim_token == held.token and subs[0].status == Subscription.Status.QUEUED
    assert not Delivery.objects.filter(subscription=subs[0], revision=2).exists()


def test_one_unreachable_instance_fails_its_deliveries_and_not_the_others(fleet):
    item, sims, subs = fleet["item"], fleet["sims"], fleet["subs"]
    items.save_revision(item, variables(prod_url="https://r2.example"))
    sims[1].set_faults(offline="refuse")

    outcomes = fanout.run_many([str(s.pk) for s in subs], 2)

    assert outcomes == Counter(written=5, failed=5)
    failed = Subscription.objects.filter(item=item, status=Subscription.Status.FAILED)
    assert {s.space.instance.slug for s in failed} == {"fan-sub-1"}
    assert set(failed.values_list("error_class", flat=True)) == {"unreachable"}
    assert not Subscription.objects.filter(item=item, claim_token__isnull=False).exists()


def test_batches_keep_an_instance_together_and_stay_within_the_size():
    three_of_four = [[f"s{n}{m}" for m in range(4)] for n in range(3)]
    assert [len(b) for b in odcm_fanout.pack(three_of_four, 6)] == [4, 4, 4]
    assert sorted(len(b) for b in odcm_fanout.pack(three_of_four, 8)) == [4, 8]
    assert odcm_fanout.pack([list(range(5))], 2) == [[0, 1], [2, 3], [4]]
    assert sorted(len(b) for b in odcm_fanout.pack([[1]] * 10, 4)) == [3, 3, 4]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_workers_and_a_duplicate_fan_out_message_write_each_space_once(
    make_sim_instance, start_celery_worker
):
    pub = make_sim_instance("dup-pub", seed=101)
    subs_sims = [make_sim_instance(f"dup-sub-{n}", spaces=4, seed=400 + n) for n in range(2)]
    publisher = space_of(enlist_sim(pub))
    spaces = [sp for sim in subs_sims for sp in enlist_sim(sim).spaces.all()]
    for sp in spaces:
        trust(publisher, sp)
    for sim in subs_sims:
        sim.set_faults(latency_ms=LATENCY_MS)
    env = {"ODCM_OCTOPUS_PER_INSTANCE_CONCURRENCY": "2", "ODCM_SHARING_CLAIM_SECONDS": "60"}
    start_celery_worker(concurrency=2, name="fan-a", **env)
    start_celery_worker(concurrency=2, name="fan-b", **env)
    item = items.create_item(publisher, SharedItem.Kind.VARIABLE_SET, "DC Common")
    subscriptions = [subscribe(item, sp) for sp in spaces]  # nothing to deliver yet
    ids = [str(s.pk) for s in subscriptions]

    items.save_revision(item, variables())  # one deliver_many task for all eight
    for _ in range(3):  # the same message again, as a broker redelivery would
        work.enqueue("sharing.tasks.deliver_many", ids, 1, "publish", on_commit=False)

    wait_for(lambda: in_sync_at(item, 1) == len(ids), timeout=120)
    wait_for(lambda: not Subscription.objects.filter(claim_token__isnull=False).exists())
    for sim in subs_sims:
        assert all(count == 1 for count in puts_per_space(sim).values())
        assert len(puts_per_space(sim)) == 4
        assert sim.stats()["peak_in_flight"] <= 2 * 2  # per process: two processes may meet
    written = Delivery.objects.filter(subscription__item=item, outcome=Delivery.Outcome.WRITTEN)
    assert written.count() == len(ids)
