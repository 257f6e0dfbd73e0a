"""The API's conventions: an index at /api/v1/, JSON 404s, one error body, django-filter on
every list (a bad value is a 400 naming the field), ordering, multi-value filters, and
limit/offset next to pages."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from audit.services import record
from spaces.models import Instance

from .conftest import World

pytestmark = pytest.mark.django_db

API = "/api/v1"


def _client(world: World, persona: str = "admin") -> Client:
    client = Client()
    client.force_login(world.users[persona])
    return client


def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) >= {"code", "message"} and body["message"] == body["detail"]
    return body


def test_the_api_index_links_every_collection_for_anyone(world):
    for client in (Client(), _client(world, "viewer")):
        response = client.get(f"{API}/")
        assert response.status_code == 200, response.content
        links = response.json()
        assert links["instances"].endswith("/api/v1/instances/")
        assert links["sharing/subscriptions"].endswith("/api/v1/sharing/subscriptions/")
        assert links["me"].endswith("/api/v1/me/") and links["schema"].endswith("/api/schema/")


@pytest.mark.parametrize(
    "path",
    [
        "nothing-here/",
        "nothing-here",  # no pointless redirect to a slash that leads nowhere either
        "instances/not-a-uuid/refresh/x/",
        "spaces/not-a-uuid/access/",
    ],
)
def test_an_unknown_api_path_answers_a_json_404(world, path):
    response = _client(world).get(f"{API}/{path}")
    body = _error(response, 404)
    assert body["code"] == "not_found" and response["Content-Type"] == "application/json"


def test_an_api_path_without_its_slash_still_redirects(world):
    response = _client(world).get(f"{API}/instances?status=offline")
    assert response.status_code == 301
    assert response["Location"] == f"{API}/instances/?status=offline"


def test_instances_filter_by_status_one_or_several(world):
    offline = Instance.objects.create(
        name="Down", slug="down", base_url="http://10.0.0.2", status="offline"
    )
    Instance.objects.create(
        name="Sick", slug="sick", base_url="http://10.0.0.3", status="unhealthy"
    )
    client = _client(world)

    def names(query: str) -> list[str]:
        response = client.get(f"{API}/instances/?{query}")
        assert response.status_code == 200, response.content
        return [row["name"] for row in response.json()["results"]]

    assert names("status=offline") == [offline.name]
    assert names("status=offline,unhealthy") == ["Down", "Sick"]
    assert names("status=offline&status=unhealthy") == ["Down", "Sick"]
    assert names("status=offline,unhealthy&ordering=-name") == ["Sick", "Down"]
    body = _error(client.get(f"{API}/instances/?status=sideways"), 400)
    assert list(body["errors"]) == ["status"] and body["code"] == "invalid_choice"


@pytest.mark.parametrize(
    ("path", "field", "value"),
    [
        ("sharing/subscriptions/", "item", "not-a-uuid"),
        ("sharing/subscriptions/", "space", "²"),
        ("sharing/subscriptions/", "status", "nope"),
        ("audit/", "since", "not-a-date"),
        ("audit/", "until", "2026-02-30"),
        ("spaces/", "instance", "nope"),
        ("spaces/", "state", "floating"),
        ("grants/", "active", "maybe"),
        ("grants/", "role", "king"),
        ("users/", "is_active", "perhaps"),
        ("tokens/", "read_only", "2"),
        ("sharing/items/", "kind", "poem"),
        ("sharing/trusts/", "publisher", "x"),
        ("groups/", "ordering", "password"),
        ("instances/", "ordering", "api_key"),
        ("instances/", "page_size", "ten"),
        ("instances/", "page_size", "²"),
        ("instances/", "page", "abc"),
        ("instances/", "limit", "-1"),
        ("instances/", "offset", "99999999999999999999"),
        ("reports/spaces/", "to", "not-a-date"),
        ("reports/spaces/", "tf", "forever"),
        ("reports/deployments/", "status", "\x00"),
        ("sharing/items/{item}/diff/", "to", "99999999999999999999"),
    ],
)
def test_a_bad_list_parameter_is_a_400_naming_the_field(world, path, field, value):
    path = path.replace("{item}", str(world.item.pk))
    body = _error(_client(world).get(f"{API}/{path}", {field: value}), 400)
    assert field in body["errors"], body
    assert field in body["message"]


def test_a_bad_filter_no_longer_drops_the_good_ones_silently(world):
    record("edge.other", message="x")
    client = _client(world)
    good = client.get(f"{API}/audit/", {"action": "edge.other"}).json()
    assert [row["action"] for row in good["results"]] == ["edge.other"]
    _error(client.get(f"{API}/audit/", {"action": "edge.other", "since": "no"}), 400)


def test_limit_and_offset_page_like_pages_do(world):
    for n in range(5):
        record("edge.page", message=str(n))
    client = _client(world)
    offset = client.get(
        f"{API}/audit/", {"action": "edge.page", "limit": "2", "offset": "2"}
    ).json()
    paged = client.get(
        f"{API}/audit/", {"action": "edge.page", "page_size": "2", "page": "2"}
    ).json()
    assert offset["count"] == paged["count"] == 5
    assert [r["message"] for r in offset["results"]] == [r["message"] for r in paged["results"]]
    assert "offset=4" in offset["next"] and "page=3" in paged["next"]


def test_a_space_filter_takes_several_instances(world):
    other = Instance.objects.create(name="Two", slug="two", base_url="http://10.0.0.9")
    other.spaces.create(octopus_id="Spaces-1", name="Zed", slug="zed")
    client = _client(world)
    rows = client.get(f"{API}/spaces/", {"instance": f"{world.instance.pk},{other.pk}"}).json()
    assert rows["count"] == 3
    only = client.get(f"{API}/spaces/", {"instance": str(other.pk)}).json()
    assert [r["name"] for r in only["results"]] == ["Zed"]


def test_every_error_has_the_one_body(world):
    client, viewer = _client(world), _client(world, "viewer")
    assert _error(Client().get(f"{API}/instances/"), 401)["code"] == "not_authenticated"
    assert _error(viewer.get(f"{API}/audit/"), 403)["code"] == "permission_denied"
    assert _error(client.get(f"{API}/instances/{world.space.pk}/"), 404)["code"] == "not_found"
    assert _error(client.put(f"{API}/me/"), 405)["code"] == "method_not_allowed"
    # Django's Http404 keeps its message.
    missing = _error(client.get(f"{API}/spaces/{world.trust.pk}/access/"), 404)
    assert "No Space matches" in missing["message"]
    invalid = _error(client.post(f"{API}/tokens/", {}, content_type="application/json"), 400)
    assert invalid["errors"] == {"name": ["This field is required."]}
    assert invalid["code"] == "invalid"
    # A service's refusal keeps its own code; an Octopus the policy refuses is the input's fault.
    refresh = _error(client.post(f"{API}/instances/{world.instance.pk}/refresh/"), 400)
    assert refresh["code"] == "url_not_allowed"
    bad_json = _error(client.post(f"{API}/tokens/", "{", content_type="application/json"), 400)
    assert bad_json["code"] == "parse_error"


def test_a_subscriptions_deliveries_filter_by_outcome(world):
    from sharing.models import Delivery

    sub = world.subscription
    for outcome in ("written", "failed", "failed"):
        Delivery.objects.create(subscription=sub, revision=1, trigger="publish", outcome=outcome)
    url = f"{API}/sharing/subscriptions/{sub.pk}/deliveries/"
    client = _client(world)
    assert client.get(url, {"outcome": "failed"}).json()["count"] == 2
    assert client.get(url, {"outcome": "failed,written"}).json()["count"] == 3
    assert "outcome" in _error(client.get(url, {"outcome": "maybe"}), 400)["errors"]
