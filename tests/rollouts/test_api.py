"""The rollouts API and pages: who sees and acts, policies, states (no Octopus needed: the
deliveries a rollout queues are only queued)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from odcm.crypto import seal
from rollouts.models import Rollout
from sharing.models import SharedItem
from sharing.services import items, subscriptions, trusts
from spaces.models import Instance, Space

from .conftest import variables_v

pytestmark = pytest.mark.django_db


def _instance(name: str, owners: Any = ()) -> Instance:
    inst = Instance(name=name, slug=name, base_url=f"https://{name}.example")
    seal(inst, "api_key", "API-XXXXXXXXXXXXXXXXXXXXXXXXXXXX")
    inst.save()
    inst.owners.set(owners)
    return inst


@pytest.fixture
def item(space_owner: Any) -> SharedItem:
    pub = Space.objects.create(
        instance=_instance("pub", [space_owner]), octopus_id="Spaces-1", name="Pub", slug="pub"
    )
    other = _instance("subs")
    item = items.create_item(pub, SharedItem.Kind.VARIABLE_SET, "Common")
    items.save_revision(item, variables_v(1))
    for n in range(4):
        space = Space.objects.create(
            instance=other, octopus_id=f"Spaces-{n + 1}", name=f"Sub {n}", slug=f"sub-{n}"
        )
        trusts.accept(trusts.propose(pub, space))
        subscriptions.subscribe(item, space)
    return item


def _policy(api: Any, item: SharedItem, **extra: Any) -> Any:
    body = {
        "kind": "shared_item",
        "subject_id": str(item.pk),
        "waves": [{"selector": "percent", "percent": 25, "name": "First quarter"}],
        "soak_seconds": 5,
        **extra,
    }
    return api.post("/api/v1/rollouts/policies/", body, format="json")


def _as(api: Any, token_for: Any, user: Any) -> Any:
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(user)}")
    return api


def test_a_new_revision_under_a_policy_queues_wave_one_only(
    item, api_client, token_for, space_owner
):
    api = _as(api_client, token_for, space_owner)
    assert _policy(api, item).status_code == 201
    items.save_revision(item, variables_v(2))
    targets = sorted(item.subscriptions.values_list("target_revision", flat=True))
    assert targets == [1, 1, 1, 2]  # 25 % of 4: one subscription queued for r2
    (rollout,) = api.get("/api/v1/rollouts/").json()["results"]
    assert rollout["state"] == "running" and rollout["revision"] == 2
    detail = api.get(f"/api/v1/rollouts/{rollout['id']}/").json()
    assert [(w["name"], w["state"], len(w["targets"])) for w in detail["waves"]] == [
        ("First quarter", "delivering", 1),
        ("Remaining targets", "waiting", 3),
    ]


def test_owner_pauses_resumes_and_aborts_and_a_wrong_state_is_a_conflict(
    item, api_client, token_for, space_owner
):
    api = _as(api_client, token_for, space_owner)
    _policy(api, item)
    items.save_revision(item, variables_v(2))
    pk = Rollout.objects.get().pk
    assert api.post(f"/api/v1/rollouts/{pk}/pause/").json()["state"] == "paused"
    again = api.post(f"/api/v1/rollouts/{pk}/pause/")
    assert again.status_code == 409 and again.json()["code"] == "wrong_state"
    assert api.post(f"/api/v1/rollouts/{pk}/resume/").json()["state"] == "running"
    aborted = api.post(f"/api/v1/rollouts/{pk}/abort/").json()
    assert aborted["state"] == "aborted"
    assert [w["state"] for w in aborted["waves"]][1] == "waiting"
    assert sorted(item.subscriptions.values_list("target_revision", flat=True)) == [1, 1, 1, 2]


def test_outsider_gets_404_and_member_who_cannot_manage_gets_403(
    item, api_client, token_for, space_owner, outsider, member
):
    _policy(_as(api_client, token_for, space_owner), item)
    items.save_revision(item, variables_v(2))
    pk = Rollout.objects.get().pk
    api = _as(api_client, token_for, outsider)
    assert api.get("/api/v1/rollouts/").json()["results"] == []
    assert api.get(f"/api/v1/rollouts/{pk}/").status_code == 404
    assert api.post(f"/api/v1/rollouts/{pk}/abort/").status_code == 404
    assert api.get("/api/v1/rollouts/policies/").json()["results"] == []
    assert _policy(api, item).status_code == 404
    Instance.objects.get(name="subs").owners.add(member)  # sees the item as a subscriber
    api = _as(api_client, token_for, member)
    assert api.get(f"/api/v1/rollouts/{pk}/").status_code == 200
    assert api.post(f"/api/v1/rollouts/{pk}/abort/").status_code == 403
    assert Rollout.objects.get().state == "running"


def test_a_bad_policy_is_a_400_naming_the_problem(item, api_client, token_for, space_owner):
    api = _as(api_client, token_for, space_owner)
    bad = _policy(api, item, waves=[{"selector": "tag"}])
    assert bad.status_code == 400 and "name the tag" in bad.json()["message"]
    bad = _policy(api, item, waves=[{"selector": "percent", "percent": 0}])
    assert bad.status_code == 400 and "percent" in bad.json()["errors"]["waves"][0]
    assert _policy(api, item, approval_group="nobody").status_code == 400


def test_list_queries_do_not_grow_with_rollouts(item, api_client, token_for, space_owner):
    api = _as(api_client, token_for, space_owner)
    _policy(api, item)

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert api.get("/api/v1/rollouts/").status_code == 200
        return len(queries)

    items.save_revision(item, variables_v(2))
    few = count()
    for n in range(3, 7):
        items.save_revision(item, variables_v(n))
    assert Rollout.objects.count() == 5
    assert count() == few


def test_item_page_shows_the_rollout_and_the_rollout_page_its_waves(
    item, login, space_owner, api_client, token_for
):
    _policy(_as(api_client, token_for, space_owner), item)
    items.save_revision(item, variables_v(2))
    rollout = Rollout.objects.get()
    client = login(space_owner)
    page = client.get(f"/sharing/items/{item.pk}/").content.decode()
    assert 'data-testid="rollout-panel"' in page, page
    assert "Revision 2: Running" in page
    page = client.get(f"/rollouts/{rollout.pk}/").content.decode()
    assert "First quarter" in page and "Remaining targets" in page
    assert client.post(f"/rollouts/{rollout.pk}/pause/").status_code == 302
    rollout.refresh_from_db()
    assert rollout.state == "paused"
