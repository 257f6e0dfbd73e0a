"""Real Celery workers: a baseline applied to 3 instances, re-applied without a write, a
hand edit found by the drift check and repaired."""

from __future__ import annotations

from typing import Any

import pytest

from managed.models import BaselineApply, BaselineTarget
from managed.services import baseline_broker as broker
from managed.services import baselines
from managed.tasks import check_baseline_drift
from odcm.clients import client_for

from .conftest import enlist_sim, wait_for, writes
from .test_baseline import BASELINE, HEADER_SECRET
from .test_workers import FAST

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def settled(bl: Any, revision: int, count: int) -> bool:
    broker.sweep(requeue_after=20)  # what beat does: a lost message is queued again
    rows = BaselineTarget.objects.filter(baseline=bl, status="applied", applied_revision=revision)
    return rows.count() == count


def test_a_baseline_reaches_3_instances_is_reapplied_as_a_no_op_and_a_hand_edit_is_found(
    make_sim_instance, start_celery_worker
):
    sims = [make_sim_instance(f"bl-{n}", spaces=2, seed=70 + n) for n in range(3)]
    insts = [enlist_sim(sim, region="eu") for sim in sims]
    bl = baselines.create_baseline("DC", BASELINE)
    assert len(baselines.set_rules(bl, all_instances=True)) == 3
    start_celery_worker(concurrency=2, **FAST)
    assert broker.queue_apply(bl) == 3
    wait_for(lambda: settled(bl, 1, 3), timeout=240, every=1.0)
    for inst in insts:
        with client_for(inst) as client:
            assert client.get("/api/smtpconfiguration")["SmtpHost"] == "smtp.dc.example"
            assert client.get("/api/configuration/retention-default")["RetentionDays"] == 30
            subs = client.get_all("/api/Spaces-1/subscriptions")
            assert [s["Name"] for s in subs] == ["Failed deployments"]
    for sim in sims:
        sim.reset_stats()
    broker.queue_apply(bl)
    wait_for(lambda: settled(bl, 1, 3) and BaselineApply.objects.count() >= 6, timeout=240)
    assert sum(writes(sim) for sim in sims) == 0
    # A person edits one instance by hand; the drift check (through a worker) finds it.
    with client_for(insts[1]) as client:
        sub = client.get_all("/api/Spaces-1/subscriptions")[0]
        sub["EventNotificationSubscription"]["WebhookURI"] = "https://rogue.example/hook"
        client.put(f"/api/Spaces-1/subscriptions/{sub['Id']}", sub)
        client.put("/api/configuration/authentication-guest/values", {"IsEnabled": True})
    for target in BaselineTarget.objects.filter(baseline=bl):
        check_baseline_drift.delay(str(target.pk))
    drifted = wait_for(
        lambda: list(BaselineTarget.objects.filter(baseline=bl, status="drifted")), timeout=120
    )
    assert [t.instance_id for t in drifted] == [insts[1].pk]
    found = {(d["kind"], d["name"]): d["fields"] for d in drifted[0].drift}
    assert found == {
        ("subscriptions", "Failed deployments"): ["webhook_uri"],
        ("authentication", "guest"): ["enabled"],
    }
    # Re-applied on drift: the worker puts the instance back.
    baselines.update_settings(bl, on_drift="reapply")
    check_baseline_drift.delay(str(drifted[0].pk))
    wait_for(lambda: settled(bl, 1, 3) and not BaselineTarget.objects.exclude(drift=[]), 180)
    with client_for(insts[1]) as client:
        nested = client.get_all("/api/Spaces-1/subscriptions")[0]["EventNotificationSubscription"]
        assert nested["WebhookURI"] == "https://hooks.dc.example/octopus"
        assert nested["WebhookHeaderValue"] == HEADER_SECRET
        guest = client.get("/api/configuration/authentication-guest/values")
        assert guest["IsEnabled"] is False
