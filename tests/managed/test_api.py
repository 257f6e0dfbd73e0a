"""/api/v1/managed/: blueprints and targets, by persona; every write audited."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from audit.models import AuditEntry
from identity.models import Grant, Group, Role
from managed.models import Blueprint, BlueprintTarget
from managed.services import broker

from .conftest import FEED_SECRET, document, enlist_sim, space_of

pytestmark = pytest.mark.django_db
API = "/api/v1/managed"


def _post(client: Client, url: str, body: Any) -> Any:
    return client.post(url, json.dumps(body), content_type="application/json")


@pytest.fixture
def world(make_sim_instance: Any, admin_user: Any, space_owner: Any, outsider: Any) -> Any:
    inst = enlist_sim(make_sim_instance(spaces=3))
    group = Group.objects.create(name="Platform")
    group.members.add(space_owner)
    for octopus_id in ("Spaces-1", "Spaces-2"):
        Grant.objects.create(group=group, space=space_of(inst, octopus_id), role=Role.MANAGER)
    return inst


def test_a_space_manager_creates_plans_and_applies_a_blueprint_and_it_is_audited(
    world, space_owner, login
):
    client = login(space_owner)
    created = _post(
        client,
        f"{API}/blueprints/",
        {
            "name": "DC",
            "management_space_id": str(space_of(world).pk),
            "document": document(),
        },
    )
    assert created.status_code == 201, created.content
    assert FEED_SECRET not in created.content.decode()
    bp_id = created.json()["id"]
    target_space = space_of(world, "Spaces-2")
    assign = _post(client, f"{API}/blueprints/{bp_id}/assign/", {"spaces": [str(target_space.pk)]})
    assert assign.status_code == 200 and assign.json() == {"queued": 1}
    # Spaces-3 is not theirs: a 404, nothing assigned
    other = space_of(world, "Spaces-3")
    refused = _post(client, f"{API}/blueprints/{bp_id}/assign/", {"spaces": [str(other.pk)]})
    assert refused.status_code == 404
    assert _post(client, f"{API}/blueprints/{bp_id}/apply/", {}).json() == {"queued": 1}
    target = BlueprintTarget.objects.get(blueprint_id=bp_id)
    assert broker.apply_target(str(target.pk)) == "applied"
    listed = client.get(f"{API}/targets/?blueprint={bp_id}&status=applied")
    assert listed.status_code == 200
    assert [t["space_name"] for t in listed.json()["results"]] == [target_space.name]
    revised = client.patch(
        f"{API}/blueprints/{bp_id}/",
        json.dumps({"document": document(worker_pools=[]), "comment": "no pools"}),
        content_type="application/json",
    )
    assert revised.status_code == 200 and revised.json()["latest_revision"] == 2
    revisions = client.get(f"{API}/blueprints/{bp_id}/revisions/").json()["results"]
    assert [r["number"] for r in revisions] == [2, 1]
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {
        "managed.blueprint.create", "managed.blueprint.assign", "managed.blueprint.apply",
        "managed.blueprint.applied", "managed.blueprint.revise",
    } <= actions  # fmt: skip


def test_an_outsider_sees_no_blueprint_and_gets_404(world, admin_user, outsider, login):
    bp = Client()
    bp.force_login(admin_user)
    made = _post(bp, f"{API}/blueprints/", {"name": "DC", "document": document()})
    assert made.status_code == 201, made.content
    client = login(outsider)
    assert client.get(f"{API}/blueprints/").json()["results"] == []
    assert client.get(f"{API}/blueprints/{made.json()['id']}/").status_code == 404
    assert _post(client, f"{API}/blueprints/{made.json()['id']}/apply/", {}).status_code == 404
    assert client.get(f"{API}/targets/").json()["results"] == []


def test_a_bad_document_is_a_400_with_the_one_error_body(world, admin_user, login):
    client = login(admin_user)
    bad = _post(
        client,
        f"{API}/blueprints/",
        {"name": "DC", "document": {"environments": [{"name": "A"}, {"name": "a"}]}},
    )
    assert bad.status_code == 400
    assert "appears twice" in bad.json()["message"]
    assert not Blueprint.objects.exists()
