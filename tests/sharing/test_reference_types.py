"""Variables of Octopus's account, certificate and worker pool types: shared by name, written
as each subscriber space's own id."""

from __future__ import annotations

from typing import Any

import pytest

from odcm.clients import client_for
from sharing.kinds import ContentError
from sharing.models import SharedItem, Subscription
from sharing.services import delivery, drift, items

from .conftest import read_copy, space_of, subscribe, trust

pytestmark = pytest.mark.django_db

CONTENT = {
    "variables": [
        {"name": "Pool", "type": "WorkerPool", "value": "Hosted Ubuntu"},
        {"name": "Aws", "type": "AmazonWebServicesAccount", "value": "AWS Production"},
        {"name": "Tls", "type": "Certificate", "value": "Wildcard TLS"},
    ]
}


def _ids(inst: Any, space: str, collection: str) -> dict[str, str]:
    with client_for(inst) as client:
        return {d["Name"]: d["Id"] for d in client.get(f"/api/{space}/{collection}/all")}


def _run(sub: Subscription) -> str:
    sub.refresh_from_db()
    return delivery.run(str(sub.pk), sub.target_revision)


def _give_other_pool_id(inst_a: Any, inst_b: Any) -> None:
    """Re-create B's "Hosted Ubuntu" until its id differs from A's (seeded ids can coincide)."""
    theirs = _ids(inst_a, "Spaces-1", "workerpools")["Hosted Ubuntu"]
    with client_for(inst_b) as client:
        while (ours := _ids(inst_b, "Spaces-2", "workerpools")["Hosted Ubuntu"]) == theirs:
            client.delete(f"/api/Spaces-2/workerpools/{ours}")
            client.post("/api/Spaces-2/workerpools", json={"Name": "Hosted Ubuntu"})


def test_reference_variables_are_written_with_the_subscriber_spaces_ids(pair):
    # B's second space: its worker pools, accounts and certificates have other ids than A's.
    _give_other_pool_id(pair["inst_a"], pair["inst_b"])
    subscriber = space_of(pair["inst_b"], "Spaces-2")
    trust(pair["publisher"], subscriber)
    item = items.create_item(pair["publisher"], SharedItem.Kind.VARIABLE_SET, "Refs")
    items.save_revision(item, CONTENT)
    sub = subscribe(item, subscriber)
    assert _run(sub) == "written"

    doc = read_copy(pair["inst_b"], "Spaces-2", "Refs")
    got = {v["Name"]: (v["Type"], v["Value"]) for v in doc["Variables"]}
    pools = _ids(pair["inst_b"], "Spaces-2", "workerpools")
    assert (
        pools["Hosted Ubuntu"] != _ids(pair["inst_a"], "Spaces-1", "workerpools")["Hosted Ubuntu"]
    )
    assert got["Pool"] == ("WorkerPool", pools["Hosted Ubuntu"])
    assert got["Aws"][1] == _ids(pair["inst_b"], "Spaces-2", "accounts")["AWS Production"]
    assert got["Tls"][1] == _ids(pair["inst_b"], "Spaces-2", "certificates")["Wildcard TLS"]
    # The drift check reads the copy back: the ids there compare equal to the names shared.
    sub.refresh_from_db()
    assert sub.status == Subscription.Status.IN_SYNC
    assert drift.check(str(sub.pk)) == "clean"


def test_a_name_the_subscriber_lacks_fails_the_delivery_and_writes_nothing(pair):
    item = items.create_item(pair["publisher"], SharedItem.Kind.VARIABLE_SET, "Refs")
    items.save_revision(
        item, {"variables": [{"name": "Aws", "type": "AzureAccount", "value": "Nobody's"}]}
    )
    sub = subscribe(item, pair["subscriber"])
    _run(sub)
    sub.refresh_from_db()
    assert sub.error_class == Subscription.ErrorClass.MISSING_REFERENCE
    assert 'has no account "Nobody\'s"' in sub.error_message
    copy = read_copy(pair["inst_b"], "Spaces-1", "Refs")
    assert copy["Variables"] == []


def test_a_reference_variable_needs_a_name(pair):
    item = items.create_item(pair["publisher"], SharedItem.Kind.VARIABLE_SET, "Refs")
    with pytest.raises(ContentError, match="needs the name of a worker pool"):
        items.save_revision(item, {"variables": [{"name": "Pool", "type": "WorkerPool"}]})


def test_import_names_the_accounts_and_pools_a_set_refers_to(pair, space_owner):
    publisher = pair["publisher"]
    pools = _ids(pair["inst_a"], "Spaces-1", "workerpools")
    with client_for(pair["inst_a"]) as client:
        lvs = client.post("/api/Spaces-1/libraryvariablesets", {"Name": "With pool"})
        path = f"/api/Spaces-1/variables/{lvs['VariableSetId']}"
        doc = client.get(path)
        doc["Variables"] = [{"Name": "Pool", "Type": "WorkerPool", "Value": pools["Hosted Ubuntu"]}]
        client.put(path, doc)
    item = items.import_variable_set(publisher, lvs["Id"], actor=space_owner)
    latest = items.latest(item)
    assert latest is not None
    (var,) = latest.content["variables"]
    assert (var["type"], var["value"]) == ("WorkerPool", "Hosted Ubuntu")
