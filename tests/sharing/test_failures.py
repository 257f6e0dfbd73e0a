"""Failed deliveries: each error class, retries with backoff, the sweep, alerts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from odcm.crypto import seal
from sharing.models import Delivery, Subscription
from sharing.services import alerts, delivery, fanout, items, queueing

from .conftest import Recorder, by_name, make_set, read_copy, subscribe, variables

pytestmark = pytest.mark.django_db


def deliver(sub: Subscription, **kwargs: Any) -> str:
    sub.refresh_from_db()
    return delivery.run(str(sub.pk), sub.target_revision, **kwargs)


def fails_with(sub: Subscription, error_class: str) -> Subscription:
    assert deliver(sub) == "failed"
    sub.refresh_from_db()
    assert sub.status == Subscription.Status.FAILED, sub.error_message
    assert sub.error_class == error_class, sub.error_message
    assert sub.error_message and sub.next_retry_at and sub.next_retry_at > timezone.now()
    attempt = sub.deliveries.first()
    assert attempt is not None
    assert attempt.outcome == Delivery.Outcome.FAILED and attempt.error_class == error_class
    return sub


def retried_after_recovery(sub: Subscription) -> None:
    """The sweep re-queues the due retry; the retry then delivers."""
    assert sub.next_retry_at is not None
    assert queueing.sweep(now=sub.next_retry_at - timedelta(seconds=1)) == 0
    assert queueing.sweep(now=sub.next_retry_at + timedelta(seconds=1)) == 1
    sub.refresh_from_db()
    assert sub.status == Subscription.Status.QUEUED
    assert deliver(sub, trigger=Delivery.Trigger.SWEEP) == "written"
    sub.refresh_from_db()
    assert sub.status == Subscription.Status.IN_SYNC
    assert sub.error_class == "" and sub.failing_since is None
    assert sub.consecutive_failures == 0


def test_wrong_api_key_is_an_auth_failure_and_is_retried(pair):
    sub = subscribe(make_set(pair["publisher"]), pair["subscriber"])
    inst = pair["inst_b"]
    seal(inst, "api_key", "API-WRONGKEYWRONGKEYWRONGKEY00")
    inst.save()
    sub = fails_with(sub, Subscription.ErrorClass.AUTH)
    assert "401" in sub.error_message
    seal(inst, "api_key", pair["sim_b"].api_key)
    inst.save()
    retried_after_recovery(sub)


def test_read_only_key_is_a_permission_failure(pair):
    sub = subscribe(make_set(pair["publisher"]), pair["subscriber"])
    inst = pair["inst_b"]
    seal(inst, "api_key", pair["sim_b"].read_only_api_key)
    inst.save()
    sub = fails_with(sub, Subscription.ErrorClass.PERMISSION)
    assert "403" in sub.error_message


def test_server_errors_fail_and_back_off_further_each_time(pair):
    sub = subscribe(make_set(pair["publisher"]), pair["subscriber"])
    pair["sim_b"].set_faults(error_rate=1.0)
    sub = fails_with(sub, Subscription.ErrorClass.SERVER)
    assert sub.next_retry_at is not None
    first_wait = (sub.next_retry_at - timezone.now()).total_seconds()
    first_failing_since = sub.failing_since
    queueing.queue([sub.pk], 1, Delivery.Trigger.RETRY)
    sub = fails_with(sub, Subscription.ErrorClass.SERVER)
    assert sub.next_retry_at is not None
    second_wait = (sub.next_retry_at - timezone.now()).total_seconds()
    assert sub.consecutive_failures == 2 and second_wait > first_wait * 1.5
    assert sub.failing_since == first_failing_since
    assert sub.deliveries.filter(outcome=Delivery.Outcome.FAILED).count() == 2
    pair["sim_b"].clear_faults()
    retried_after_recovery(sub)


def test_timeouts_are_unreachable(pair, settings):
    # A read times out four times (the client's three retries): 0.5 s each, not 1 s.
    settings.ODCM_OCTOPUS_READ_TIMEOUT = 0.5
    sub = subscribe(make_set(pair["publisher"]), pair["subscriber"])
    pair["sim_b"].set_faults(latency_ms=1500)
    sub = fails_with(sub, Subscription.ErrorClass.UNREACHABLE)
    assert "timeout" in sub.error_message.lower() or "within" in sub.error_message
    pair["sim_b"].clear_faults()
    settings.ODCM_OCTOPUS_READ_TIMEOUT = 5  # the recovery is not at the mercy of a busy machine
    retried_after_recovery(sub)


def test_unreachable_instance_gets_the_newest_revision_when_back(pair):
    item = make_set(pair["publisher"])
    sub = subscribe(item, pair["subscriber"])
    pair["sim_b"].set_faults(offline="refuse")
    sub = fails_with(sub, Subscription.ErrorClass.UNREACHABLE)
    items.save_revision(item, variables(prod_url="https://r2.example"))
    items.save_revision(item, variables(prod_url="https://r3.example"))
    sub.refresh_from_db()
    assert sub.target_revision == 3 and sub.status == Subscription.Status.QUEUED
    pair["sim_b"].clear_faults()
    assert deliver(sub) == "written"
    sub.refresh_from_db()
    assert sub.delivered_revision == 3
    got = by_name(read_copy(pair["inst_b"], "Spaces-1", "DC Common"))
    assert got[("Api.Url", ("Production",))]["Value"] == "https://r3.example"


def test_version_conflict_is_read_again_and_retried(pair):
    item = make_set(pair["publisher"])
    sub = subscribe(item, pair["subscriber"])
    deliver(sub)
    sub.refresh_from_db()
    items.save_revision(item, variables(prod_url="https://r2.example"))

    def someone_saves() -> None:
        pair["sim_b"].edit_variable_set(sub.octopus_child_id, set={"Meanwhile": "edited"})

    recorder = Recorder(before_put=someone_saves, times=1)
    assert deliver(sub, wrap=recorder.wrap) == "written"
    assert [m for m, _p, _b in recorder.calls] == ["GET", "PUT", "GET", "PUT"]
    got = by_name(read_copy(pair["inst_b"], "Spaces-1", "DC Common"))
    assert ("Meanwhile", ()) not in got
    assert got[("Api.Url", ("Production",))]["Value"] == "https://r2.example"


def test_persistent_version_conflicts_fail_as_conflict(pair):
    item = make_set(pair["publisher"])
    sub = subscribe(item, pair["subscriber"])
    deliver(sub)
    sub.refresh_from_db()
    items.save_revision(item, variables(prod_url="https://r2.example"))

    def someone_saves() -> None:
        pair["sim_b"].edit_variable_set(sub.octopus_child_id, set={"Meanwhile": "x"})

    recorder = Recorder(before_put=someone_saves, times=100)
    assert deliver(sub, wrap=recorder.wrap) == "failed"
    sub.refresh_from_db()
    assert sub.error_class == Subscription.ErrorClass.CONFLICT
    assert sub.next_retry_at is not None


def test_pause_holds_work_and_resume_requeues_it(pair, django_capture_on_commit_callbacks):
    sub = subscribe(make_set(pair["publisher"]), pair["subscriber"])
    queueing.set_paused(True)
    assert deliver(sub) == "paused"
    sub.refresh_from_db()
    assert sub.status == Subscription.Status.QUEUED and not sub.deliveries.exists()
    assert queueing.sweep() == 0
    queueing.set_paused(False)
    assert queueing.sweep(requeue_after=0) == 1
    assert deliver(sub) == "written"


def test_owners_are_emailed_once_when_failing_long_and_once_on_recovery(
    pair, mailoutbox, django_capture_on_commit_callbacks, settings
):
    settings.ODCM_SHARING_FAILURE_ALERT_MINUTES = 30
    sub = subscribe(make_set(pair["publisher"]), pair["subscriber"])
    pair["sim_b"].set_faults(error_rate=1.0)
    fails_with(sub, Subscription.ErrorClass.SERVER)
    assert alerts.check_failures() == 0  # not failing long enough yet
    Subscription.objects.filter(pk=sub.pk).update(
        failing_since=timezone.now() - timedelta(minutes=31)
    )
    assert alerts.check_failures() == 1
    assert alerts.check_failures() == 0
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["owen@example.com"] and "failing" in mailoutbox[0].subject
    assert "HTTP 500" in mailoutbox[0].body
    pair["sim_b"].clear_faults()
    with django_capture_on_commit_callbacks(execute=True):
        assert deliver(sub) == "written"
    assert len(mailoutbox) == 2 and "recovered" in mailoutbox[1].subject


def test_pausing_one_item_holds_its_deliveries_until_resumed(pair):
    item = make_set(pair["publisher"])
    sub = subscribe(item, pair["subscriber"])
    items.update_item(item, paused=True)
    assert deliver(sub) == "paused"
    items.save_revision(item, variables(prod_url="https://held.example"))
    sub.refresh_from_db()
    assert sub.status == Subscription.Status.QUEUED and sub.target_revision == 2
    assert queueing.sweep(requeue_after=0) == 0
    items.update_item(item, paused=False)
    assert queueing.sweep(requeue_after=0) == 1
    assert deliver(sub) == "written"
    sub.refresh_from_db()
    assert sub.delivered_revision == 2


def test_a_fan_out_that_delivers_a_failing_subscription_sends_one_recovery_email(
    pair, mailoutbox, django_capture_on_commit_callbacks, settings
):
    # The fan-out records a batch's outcomes in one UPDATE (sharing.services.fanout): the
    # recovery (alert cleared, one email) must happen there as it does one by one.
    settings.ODCM_SHARING_FAILURE_ALERT_MINUTES = 30
    sub = subscribe(make_set(pair["publisher"]), pair["subscriber"])
    pair["sim_b"].set_faults(error_rate=1.0)
    fails_with(sub, Subscription.ErrorClass.SERVER)
    Subscription.objects.filter(pk=sub.pk).update(
        failing_since=timezone.now() - timedelta(minutes=31)
    )
    assert alerts.check_failures() == 1
    pair["sim_b"].clear_faults()
    with django_capture_on_commit_callbacks(execute=True):
        outcomes = fanout.run_many([str(sub.pk)], sub.target_revision)
    assert outcomes == {"written": 1}
    assert len(mailoutbox) == 2 and "recovered" in mailoutbox[1].subject
    sub.refresh_from_db()
    assert sub.status == Subscription.Status.IN_SYNC and sub.claim_token is None
    assert (sub.failing_since, sub.alert_sent_at, sub.consecutive_failures) == (None, None, 0)
    last = sub.deliveries.first()
    assert last is not None and last.outcome == Delivery.Outcome.WRITTEN
