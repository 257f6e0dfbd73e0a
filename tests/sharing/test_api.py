"""The sharing REST API: create a set, publish, subscribe, sync, read statuses; access."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from sharing.models import SharedItem, Subscription
from sharing.services import delivery, queueing

from .conftest import SECRET, make_set, subscribe, variables

pytestmark = pytest.mark.django_db

API = "/api/v1/sharing"


@pytest.fixture
def publisher_api(api_client, pair, space_owner, token_for):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(space_owner)}")
    return api_client


@pytest.fixture
def subscriber_api(pair, member, token_for):
    from rest_framework.test import APIClient

    pair["inst_b"].owners.add(member)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(member)}")
    return client


def test_publisher_creates_a_set_and_publishes_revisions_without_echoing_secrets(
    publisher_api, pair
):
    made = publisher_api.post(
        f"{API}/items/",
        {
            "kind": "variable_set",
            "publisher": str(pair["publisher"].pk),
            "name": "Shared",
            "policy": "subscriber_chooses",
        },
        format="json",
    )
    assert made.status_code == 201, made.content
    item_id = made.json()["id"]
    published = publisher_api.post(
        f"{API}/items/{item_id}/revisions/",
        {"content": variables(), "comment": "first"},
        format="json",
    )
    assert published.status_code == 201, published.content
    assert SECRET not in published.content.decode()
    password = next(
        v for v in published.json()["content"]["variables"] if v["name"] == "Db.Password"
    )
    assert password == {**password, "has_value": True} and "value" not in password

    again = variables(prod_url="https://two.example")
    for var in again["variables"]:
        var.pop("key")
        if var.get("type") == "Sensitive":
            var["value"] = None  # keep the stored value
    second = publisher_api.post(
        f"{API}/items/{item_id}/revisions/", {"content": again}, format="json"
    )
    assert second.status_code == 201 and second.json()["number"] == 2
    diff = publisher_api.get(f"{API}/items/{item_id}/diff/?from=1&to=2").json()
    assert [(c["name"], c["change"]) for c in diff] == [("Api.Url", "changed")]
    listed = publisher_api.get(f"{API}/items/{item_id}/revisions/").json()
    assert [r["number"] for r in listed["results"]] == [2, 1]
    assert SECRET not in str(listed)


def test_invalid_revision_is_a_400_listing_errors(publisher_api, pair):
    item = make_set(pair["publisher"])
    bad = publisher_api.post(
        f"{API}/items/{item.pk}/revisions/",
        {"content": {"variables": [{"name": "X", "type": "Sensitive"}]}},
        format="json",
    )
    assert bad.status_code == 400 and "needs a value" in str(bad.json())


def test_subscriber_subscribes_on_demand_sees_the_update_and_syncs(subscriber_api, pair):
    item = make_set(pair["publisher"], policy=SharedItem.Policy.SUBSCRIBER_CHOOSES)
    made = subscriber_api.post(
        f"{API}/subscriptions/",
        {
            "item": str(item.pk),
            "space": str(pair["subscriber"].pk),
            "mode": "on_demand",
        },
        format="json",
    )
    assert made.status_code == 201, made.content
    sub = made.json()
    assert sub["status"] == "update_available" and sub["update_available"]
    preview = subscriber_api.get(f"{API}/subscriptions/{sub['id']}/update/").json()
    assert {c["change"] for c in preview} == {"added"}
    assert SECRET not in str(preview)
    synced = subscriber_api.post(f"{API}/subscriptions/{sub['id']}/sync/", {}, format="json")
    assert synced.status_code == 202 and synced.json()["status"] == "queued"
    assert delivery.run(sub["id"], 1) == "written"
    status = subscriber_api.get(f"{API}/subscriptions/{sub['id']}/").json()
    assert status["status"] == "in_sync" and status["delivered_revision"] == 1
    attempts = subscriber_api.get(f"{API}/subscriptions/{sub['id']}/deliveries/").json()
    assert attempts["results"][0]["outcome"] == "written"
    broker = subscriber_api.get(f"{API}/broker/").json()
    assert broker == {"paused": False, "failed": 0, "drifted": 0}


def test_subscriber_cannot_edit_the_publishers_set(subscriber_api, pair):
    item = make_set(pair["publisher"])
    assert subscriber_api.get(f"{API}/items/{item.pk}/").status_code == 200
    denied = subscriber_api.post(
        f"{API}/items/{item.pk}/revisions/", {"content": variables()}, format="json"
    )
    assert denied.status_code == 403


def test_outsider_sees_nothing(api_client, pair, outsider, token_for):
    item = make_set(pair["publisher"])
    sub = subscribe(item, pair["subscriber"])
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(outsider)}")
    assert api_client.get(f"{API}/items/").json()["results"] == []
    assert api_client.get(f"{API}/items/{item.pk}/").status_code == 404
    assert api_client.get(f"{API}/subscriptions/{sub.pk}/").status_code == 404
    assert api_client.post(f"{API}/subscriptions/{sub.pk}/sync/").status_code == 404
    made = api_client.post(
        f"{API}/items/",
        {"kind": "variable_set", "name": "x", "publisher": str(pair["publisher"].pk)},
        format="json",
    )
    assert made.status_code == 404
    unknown = api_client.post(
        f"{API}/items/",
        {"kind": "variable_set", "name": "x", "publisher": "00000000-0000-4000-8000-000000000000"},
        format="json",
    )
    assert unknown.status_code == 404  # existing and unknown spaces look the same


def test_read_only_token_cannot_publish(api_client, pair, space_owner, token_for):
    item = make_set(pair["publisher"])
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(space_owner, read_only=True)}")
    assert api_client.get(f"{API}/items/{item.pk}/").status_code == 200
    denied = api_client.post(f"{API}/items/{item.pk}/push/")
    assert denied.status_code == 403


def test_trusts_are_proposed_by_the_publisher_and_accepted_by_the_subscriber(
    publisher_api, subscriber_api, pair, admin_user, token_for
):
    from rest_framework.test import APIClient

    from .conftest import space_of

    other = space_of(pair["inst_b"], "Spaces-2")
    # The owner of A cannot name a space it cannot see; an administrator can.
    hidden = publisher_api.post(
        f"{API}/trusts/",
        {"publisher": str(pair["publisher"].pk), "subscriber": str(other.pk)},
        format="json",
    )
    assert hidden.status_code == 404
    admin = APIClient()
    admin.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(admin_user)}")
    made = admin.post(
        f"{API}/trusts/",
        {"publisher": str(pair["publisher"].pk), "subscriber": str(other.pk)},
        format="json",
    )
    assert made.status_code == 201 and made.json()["state"] == "proposed"
    trust_id = made.json()["id"]
    assert publisher_api.post(f"{API}/trusts/{trust_id}/accept/").status_code == 403
    accepted = subscriber_api.post(f"{API}/trusts/{trust_id}/accept/")
    assert accepted.status_code == 200 and accepted.json()["state"] == "accepted"


def test_only_admins_pause_deliveries(publisher_api, api_client, admin_user, token_for):
    assert publisher_api.post(f"{API}/broker/pause/", {"paused": True}).status_code == 403
    from rest_framework.test import APIClient

    admin = APIClient()
    admin.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(admin_user)}")
    assert admin.post(f"{API}/broker/pause/", {"paused": True}, format="json").json()["paused"]
    assert queueing.paused()


def test_list_endpoints_use_a_constant_number_of_queries(publisher_api, pair):
    def count(url: str) -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert publisher_api.get(url).status_code == 200
        return len(ctx.captured_queries)

    publisher_api.get(f"{API}/items/")  # warm up (token last-used bookkeeping)
    make_set(pair["publisher"], name="One")
    item = make_set(pair["publisher"], name="Two")
    subscribe(item, pair["subscriber"])
    few = (count(f"{API}/items/"), count(f"{API}/subscriptions/"), count(f"{API}/trusts/"))
    for n in range(5):
        extra = make_set(pair["publisher"], name=f"More {n}")
        subscribe(extra, pair["subscriber"])
    many = (count(f"{API}/items/"), count(f"{API}/subscriptions/"), count(f"{API}/trusts/"))
    assert many == few


def test_schema_documents_the_sharing_api(api_client, admin_user):
    api_client.force_authenticate(admin_user)
    schema = api_client.get("/api/schema/?format=json").json()
    paths = schema["paths"]
    for path in (
        "/api/v1/sharing/items/",
        "/api/v1/sharing/items/{id}/revisions/",
        "/api/v1/sharing/subscriptions/{id}/sync/",
        "/api/v1/sharing/trusts/",
        "/api/v1/sharing/broker/pause/",
    ):
        assert path in paths, path
    assert Subscription.Status.DRIFTED in str(schema)
