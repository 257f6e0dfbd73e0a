"""Drift: a person edits a subscribed copy in Octopus."""

from __future__ import annotations

from typing import Any

import pytest

from odcm.clients import client_for
from sharing.models import SharedItem, Subscription
from sharing.services import delivery, drift, subscriptions

from .conftest import by_name, lvs_copy, make_set, read_copy, subscribe

pytestmark = pytest.mark.django_db


def deliver(sub: Subscription, trigger: str = "publish") -> str:
    sub.refresh_from_db()
    return delivery.run(str(sub.pk), sub.target_revision, trigger)


def delivered(pair: dict[str, Any], **kwargs: Any) -> Subscription:
    policy = kwargs.pop("policy", SharedItem.Policy.PUSH)
    item = make_set(pair["publisher"], policy=policy)
    sub = subscribe(item, pair["subscriber"], **kwargs)
    if sub.effective_mode == Subscription.Mode.ON_DEMAND:
        subscriptions.sync_now(sub)
    assert deliver(sub) == "written"
    sub.refresh_from_db()
    return sub


def test_untouched_copy_is_clean(pair):
    sub = delivered(pair)
    assert drift.check(str(sub.pk)) == "clean"
    sub.refresh_from_db()
    assert sub.status == Subscription.Status.IN_SYNC and sub.drift_checked_at is not None


def test_edited_copy_of_push_item_is_drifted_then_reapplied(pair):
    sub = delivered(pair)
    pair["sim_b"].edit_variable_set(
        sub.octopus_child_id, set={"Region": "apac"}, add=[{"Name": "Extra", "Value": "1"}]
    )
    assert drift.check(str(sub.pk)) == "reapplying"
    sub.refresh_from_db()
    changes = {d["name"]: d["change"] for d in sub.drift}
    assert changes == {"Region": "value changed", "Extra": "added in Octopus"}
    assert sub.status == Subscription.Status.QUEUED

    assert deliver(sub, trigger="drift") == "written"
    sub.refresh_from_db()
    assert sub.status == Subscription.Status.IN_SYNC and sub.drift == []
    note = sub.deliveries.first().message  # type: ignore[union-attr]
    assert note.startswith("Re-applied after drift:") and "Region: value changed" in note
    got = by_name(read_copy(pair["inst_b"], "Spaces-1", "DC Common"))
    assert got[("Region", ())]["Value"] == "emea" and ("Extra", ()) not in got
    assert drift.check(str(sub.pk)) == "clean"


def test_edited_copy_of_on_demand_subscription_is_only_reported(pair):
    sub = delivered(
        pair, policy=SharedItem.Policy.SUBSCRIBER_CHOOSES, mode=Subscription.Mode.ON_DEMAND
    )
    pair["sim_b"].edit_variable_set(sub.octopus_child_id, remove=["Region"])
    assert drift.check(str(sub.pk)) == "drifted"
    sub.refresh_from_db()
    assert sub.status == Subscription.Status.DRIFTED
    assert sub.drift == [{"name": "Region", "change": "removed or rescoped in Octopus"}]
    assert ("Region", ()) not in by_name(read_copy(pair["inst_b"], "Spaces-1", "DC Common"))


def test_reapply_can_be_turned_off(pair, settings):
    settings.ODCM_SHARING_DRIFT_REAPPLY = False
    sub = delivered(pair)
    pair["sim_b"].edit_variable_set(sub.octopus_child_id, set={"Region": "apac"})
    assert drift.check(str(sub.pk)) == "drifted"


def test_a_saved_sensitive_value_shows_as_a_version_change(pair):
    sub = delivered(pair)
    pair["sim_b"].edit_variable_set(sub.octopus_child_id, set={"Db.Password": "changed-by-hand"})
    assert drift.check(str(sub.pk)) == "reapplying"
    sub.refresh_from_db()
    assert len(sub.drift) == 1 and "Version" in sub.drift[0]["change"]
    assert "changed-by-hand" not in str(sub.drift)
    assert deliver(sub) == "written"


def test_deleted_copy_is_drifted_and_recreated(pair):
    sub = delivered(pair)
    with client_for(pair["inst_b"]) as client:
        client.delete(f"/api/Spaces-1/libraryvariablesets/{sub.octopus_id}")
    assert drift.check(str(sub.pk)) == "reapplying"
    assert deliver(sub) == "written"
    assert len(lvs_copy(pair["inst_b"], "Spaces-1", "DC Common")) == 1
