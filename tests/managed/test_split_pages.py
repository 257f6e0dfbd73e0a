"""Split and customers through the API and the pages, by persona; audited; bad input."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from audit.models import AuditEntry
from identity.models import Grant, Group, Role
from managed.models import Customer, Split
from managed.services import split as S

from .conftest import enlist_sim, space_of, writes
from .test_split import build_source

pytestmark = pytest.mark.django_db
API = "/api/v1/managed"


def _post(client: Client, url: str, body: Any) -> Any:
    return client.post(url, json.dumps(body), content_type="application/json")


@pytest.fixture
def world(make_sim_instance: Any, space_owner: Any) -> Any:
    sim = make_sim_instance(spaces=3, seed=91)
    inst = enlist_sim(sim)
    build_source(inst)
    group = Group.objects.create(name="Platform")
    group.members.add(space_owner)
    for octopus_id in ("Spaces-1", "Spaces-2"):
        Grant.objects.create(group=group, space=space_of(inst, octopus_id), role=Role.MANAGER)
    return sim, inst


def test_a_space_manager_plans_and_runs_a_split_through_the_api(world, space_owner, login):
    sim, inst = world
    client = login(space_owner)
    body = {
        "source_id": str(space_of(inst).pk),
        "target_id": str(space_of(inst, "Spaces-2").pk),
        "projects": ["Web App"],
        "source_action": "disable",
    }
    created = _post(client, f"{API}/splits/", body)
    assert created.status_code == 201, created.content
    data = created.json()
    assert data["status"] == "planned"
    assert {"kind": "lifecycles", "label": "Lifecycle", "name": "Split LC", "status": "copy"} in (
        data["plan"]["dependencies"]
    )
    assert "Project Web App: Db.Password" in data["needs_values"]
    ran = _post(client, f"{API}/splits/{data['id']}/run/", {})
    assert ran.status_code == 202 and ran.json()["status"] == "queued"
    assert S.run_split(data["id"]) == "verified"  # what the worker does
    shown = client.get(f"{API}/splits/{data['id']}/").json()
    assert shown["verification"] == {"Web App": []} and shown["source_done"] == "disabled"
    again = _post(client, f"{API}/splits/{data['id']}/run/", {})
    assert again.status_code == 400
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"managed.split.plan", "managed.split.run", "managed.split.verified"} <= actions
    # Spaces-3 is not theirs: not found, nothing planned.
    body["target_id"] = str(space_of(inst, "Spaces-3").pk)
    assert _post(client, f"{API}/splits/", body).status_code == 404
    # Bad input: a clear 400 naming the field, nothing kept.
    assert _post(client, f"{API}/splits/", {**body, "projects": []}).status_code == 400
    both = _post(
        client, f"{API}/splits/", {**body, "new_space": {"instance_id": str(inst.pk), "name": "x"}}
    )
    assert both.status_code == 400 and "target_id" in both.json()["errors"]
    body["target_id"] = str(space_of(inst, "Spaces-2").pk)
    unknown = _post(client, f"{API}/splits/", {**body, "projects": ["Nope"]})
    assert unknown.status_code == 400 and "No project named 'Nope'" in unknown.json()["message"]
    assert Split.objects.count() == 1


def test_an_outsider_sees_no_split_or_customer(world, admin_user, outsider, login):
    sim, inst = world
    split = S.create_split(space_of(inst), space_of(inst, "Spaces-2"), ["Web App"])
    client = login(outsider)
    assert client.get(f"{API}/splits/{split.pk}/").status_code == 404
    assert client.get(f"{API}/splits/").json()["results"] == []
    assert client.get(f"/managed/splits/{split.pk}/").status_code == 404
    assert _post(client, f"{API}/splits/{split.pk}/run/", {}).status_code == 404
    assert client.get(f"{API}/customers/").json()["results"] == []


def test_the_split_wizard_picks_plans_runs_and_shows_the_verification(world, space_owner, login):
    sim, inst = world
    client = login(space_owner)
    source = space_of(inst)
    step2 = client.get("/managed/splits/", {"source": str(source.pk)})
    assert step2.status_code == 200
    assert 'value="Web App"' in step2.content.decode()
    sim.reset_stats()
    posted = client.post(
        f"/managed/splits/?source={source.pk}",
        {
            "projects": ["Web App"],
            "target": str(space_of(inst, "Spaces-2").pk),
            "source_action": "keep",
        },
    )
    assert posted.status_code == 302, posted.content.decode()[:2000]
    assert writes(sim) == 0  # a plan writes nothing
    split = Split.objects.get()
    page = client.get(posted["Location"]).content.decode()
    assert "Split LC" in page and "will be copied" in page and "exists in target" in page
    assert "Db.Password" in page and "Run the split" in page
    client.post(f"/managed/splits/{split.pk}/run/")
    S.run_split(str(split.pk))
    page = client.get(posted["Location"]).content.decode()
    assert "Copied and verified" in page and "identical (ids aside)" in page
    # Neither a target nor a new space: the form says so, nothing is planned.
    bad = client.post(
        f"/managed/splits/?source={source.pk}", {"projects": ["Web App"], "source_action": "keep"}
    )
    assert "Choose an existing target space or name a new one." in bad.content.decode()
    assert Split.objects.count() == 1


def test_an_administrator_adds_a_customer_through_the_api_and_the_key_is_never_shown(
    world, admin_user, login
):
    sim, inst = world
    client = login(admin_user)
    group = Group.objects.get(name="Platform")
    key = "API-CUSTOMERKEY0000NEVERSHOWN"
    created = _post(
        client,
        f"{API}/customers/",
        {
            "name": "Initech",
            "management_space_id": str(space_of(inst).pk),
            "group_id": str(group.pk),
            "api_key": key,
        },
    )
    assert created.status_code == 201, created.content
    data = created.json()
    assert data["api_key_set"] is True and key not in created.content.decode()
    customer = Customer.objects.get()
    assert customer.facade_space is not None and customer.status == "queued"
    assert Grant.objects.filter(group=group, space=customer.facade_space, role="deployer").exists()
    page = client.get(f"/managed/customers/{customer.pk}/").content.decode()
    assert "Initech" in page and key not in page and "set (never shown)" in page
    assert key not in json.dumps(list(AuditEntry.objects.values("changes", "message")))
    dup = _post(
        client,
        f"{API}/customers/",
        {"name": "initech", "management_space_id": str(space_of(inst).pk)},
    )
    assert dup.status_code == 400 and "already a customer" in dup.json()["message"]
    resync = _post(client, f"{API}/customers/{customer.pk}/resync/", {})
    assert resync.status_code == 202
