"""Deliveries of shared variable sets into octosim spaces, run in-process (no worker)."""

from __future__ import annotations

from typing import Any

import pytest

from odcm.clients import client_for
from sharing.models import Delivery, SharedItem, Subscription
from sharing.secrets import secrets_of
from sharing.services import delivery, items, queueing

from .conftest import (
    SECRET,
    Recorder,
    by_name,
    lvs_copy,
    make_set,
    read_copy,
    requests_made,
    subscribe,
    variables,
)

pytestmark = pytest.mark.django_db


def deliver(sub: Subscription, **kwargs: Any) -> str:
    sub.refresh_from_db()
    return delivery.run(str(sub.pk), sub.target_revision, **kwargs)


def test_push_writes_library_variable_set_with_scopes_mapped_by_name(pair):
    item = make_set(pair["publisher"])
    sub = subscribe(item, pair["subscriber"])
    sub.refresh_from_db()
    assert sub.status == Subscription.Status.QUEUED and sub.target_revision == 1

    recorder = Recorder()
    assert deliver(sub, wrap=recorder.wrap) == "written"

    doc = read_copy(pair["inst_b"], "Spaces-1", "DC Common")
    assert "Managed by ODCM" in doc["Library"]["Description"]
    assert "read-only" in doc["Library"]["Description"].lower()
    got = by_name(doc)
    assert got[("Api.Url", ("Production",))]["Value"] == "https://prod.example"
    assert got[("Api.Url", ("Development", "Test"))]["Value"] == "https://dev.example"
    assert got[("Db.Password", ())]["IsSensitive"] and got[("Db.Password", ())]["Value"] is None
    assert got[("Region", ())]["Scope"] == {"Role": ["web"]}
    # The subscriber's environment ids differ from the publisher's: the ids written are B's.
    prod_b = next(e["Id"] for e in doc["ScopeValues"]["Environments"] if e["Name"] == "Production")
    assert got[("Api.Url", ("Production",))]["Scope"]["Environment"] == [prod_b]
    with client_for(pair["inst_a"]) as client:
        envs_a = client.get_all("/api/Spaces-1/environments")
    prod_a = next(e["Id"] for e in envs_a if e["Name"] == "Production")
    assert prod_a != prod_b
    # The sensitive value was sent to Octopus (which never returns it).
    (put,) = [body for method, _path, body in recorder.calls if method == "PUT"]
    assert {v["Name"]: v["Value"] for v in put["Variables"]}["Db.Password"] == SECRET

    sub.refresh_from_db()
    assert sub.status == Subscription.Status.IN_SYNC and sub.delivered_revision == 1
    attempt = sub.deliveries.get()
    assert attempt.outcome == Delivery.Outcome.WRITTEN and attempt.requests >= 3


def test_repeating_a_delivery_checks_with_one_request_and_writes_nothing(pair):
    item = make_set(pair["publisher"])
    sub = subscribe(item, pair["subscriber"])
    deliver(sub)
    version = read_copy(pair["inst_b"], "Spaces-1", "DC Common")["Version"]
    pair["sim_b"].reset_stats()

    queueing.queue([sub.pk], 1, Delivery.Trigger.SYNC_NOW, force=True)
    assert deliver(sub) == "unchanged"
    assert requests_made(pair["sim_b"]) == {"total": 1, "GET": 1}
    assert read_copy(pair["inst_b"], "Spaces-1", "DC Common")["Version"] == version
    assert len(lvs_copy(pair["inst_b"], "Spaces-1", "DC Common")) == 1
    # Once in sync, a duplicate message does not even ask Octopus.
    pair["sim_b"].reset_stats()
    assert deliver(sub) == "current"
    assert requests_made(pair["sim_b"])["total"] == 0


def test_an_update_costs_one_read_and_one_write(pair):
    item = make_set(pair["publisher"])
    sub = subscribe(item, pair["subscriber"])
    deliver(sub)
    pair["sim_b"].reset_stats()

    items.save_revision(item, variables(prod_url="https://prod2.example"))
    assert deliver(sub) == "written"
    assert requests_made(pair["sim_b"]) == {"total": 2, "GET": 1, "PUT": 1}
    got = by_name(read_copy(pair["inst_b"], "Spaces-1", "DC Common"))
    assert got[("Api.Url", ("Production",))]["Value"] == "https://prod2.example"
    sub.refresh_from_db()
    assert sub.delivered_revision == 2 and sub.status == Subscription.Status.IN_SYNC


def test_changing_only_a_sensitive_value_is_written(pair):
    item = make_set(pair["publisher"])
    sub = subscribe(item, pair["subscriber"])
    deliver(sub)
    items.save_revision(item, variables(secret="another-secret-value-2"))
    recorder = Recorder()
    assert deliver(sub, wrap=recorder.wrap) == "written"
    (put,) = [body for method, _path, body in recorder.calls if method == "PUT"]
    assert {v["Name"]: v["Value"] for v in put["Variables"]}[
        "Db.Password"
    ] == "another-secret-value-2"


def test_sensitive_value_left_blank_keeps_the_previous_one(pair):
    item = make_set(pair["publisher"])
    content = variables(prod_url="https://p3.example")
    content["variables"][2]["value"] = None
    saved = items.save_revision(item, content)
    assert saved.created and secrets_of(saved.revision) == {"password": SECRET}


def test_missing_environment_fails_clearly_and_writes_nothing(pair):
    item = make_set(pair["publisher"])
    content = variables()
    content["variables"][0]["scope"]["environments"] = ["Production", "Moonbase"]
    items.save_revision(item, content)
    sub = subscribe(item, pair["subscriber"])
    pair["sim_b"].reset_stats()

    assert deliver(sub) == "failed"
    sub.refresh_from_db()
    assert sub.status == Subscription.Status.FAILED
    assert sub.error_class == Subscription.ErrorClass.MISSING_ENVIRONMENT
    assert "'Moonbase'" in sub.error_message and "nothing was written" in sub.error_message
    assert sub.next_retry_at is not None and sub.failing_since is not None
    assert "PUT" not in requests_made(pair["sim_b"])


def test_two_deliveries_never_make_two_copies(pair):
    item = make_set(pair["publisher"])
    sub = subscribe(item, pair["subscriber"])
    deliver(sub)
    # Forget where the copy is (as if a second worker had raced the first): it is found by
    # name, not created again.
    Subscription.objects.filter(pk=sub.pk).update(octopus_id="", octopus_child_id="")
    queueing.queue([sub.pk], 1, Delivery.Trigger.SYNC_NOW, force=True)
    deliver(sub)
    assert len(lvs_copy(pair["inst_b"], "Spaces-1", "DC Common")) == 1


def test_a_claimed_subscription_is_left_to_its_worker(pair):
    from datetime import timedelta

    from django.utils import timezone

    item = make_set(pair["publisher"])
    sub = subscribe(item, pair["subscriber"])
    Subscription.objects.filter(pk=sub.pk).update(claimed_until=timezone.now() + timedelta(60))
    assert deliver(sub) == "busy"
    assert not sub.deliveries.exists()


def test_publishing_on_demand_item_shows_update_available(pair):
    item = make_set(pair["publisher"], policy=SharedItem.Policy.SUBSCRIBER_CHOOSES)
    sub = subscribe(item, pair["subscriber"], mode=Subscription.Mode.ON_DEMAND)
    sub.refresh_from_db()
    assert sub.status == Subscription.Status.UPDATE_AVAILABLE
