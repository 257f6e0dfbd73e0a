"""What the pages can do, the API can do: delete a space in Octopus, the standard
environments, an instance's status history, and the bulk operations (enlist many instances,
grant a group on many spaces, subscribe many spaces). Each is audited."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from audit.models import AuditEntry
from identity.models import Grant, Group
from monitoring.models import StatusFlip
from sharing.models import Subscription
from spaces.models import Instance, Space, StandardEnvironment

from .conftest import World

pytestmark = pytest.mark.django_db

API = "/api/v1"


def _client(world: World, persona: str = "admin") -> Client:
    client = Client()
    client.force_login(world.users[persona])
    return client


def _post(client: Client, url: str, body: Any) -> Any:
    return client.post(url, json.dumps(body), content_type="application/json")


def test_deleting_a_space_needs_its_exact_name_and_an_administrator(world):
    url = f"{API}/spaces/{world.space.pk}/delete/"
    assert _post(_client(world, "manager"), url, {"confirm_name": "Apps"}).status_code == 403
    refused = _post(_client(world), url, {"confirm_name": "apps"})
    assert refused.status_code == 400 and refused.json()["code"] == "confirm"
    # The world's Octopus is refused by the URL policy: nothing is deleted, and it says why.
    failed = _post(_client(world), url, {"confirm_name": "Apps"})
    assert failed.status_code == 400 and failed.json()["code"] == "url_not_allowed"
    assert Space.objects.get(pk=world.space.pk).state == Space.State.ENLISTED


def test_standard_environments_are_read_by_all_and_set_by_administrators(world):
    url = f"{API}/standard-environments/"
    body = {"names": ["Dev", " Test ", "dev", "Production"]}
    denied = _client(world, "manager").put(url, json.dumps(body), content_type="application/json")
    assert denied.status_code == 403
    saved = _client(world).put(url, json.dumps(body), content_type="application/json")
    assert saved.status_code == 200 and saved.json() == {"names": ["Dev", "Test", "Production"]}
    assert list(StandardEnvironment.objects.values_list("name", flat=True)) == [
        "Dev",
        "Test",
        "Production",
    ]
    assert _client(world, "viewer").get(url).json()["names"] == ["Dev", "Test", "Production"]
    assert AuditEntry.objects.filter(action="spaces.standard_environments").exists()


def test_an_instances_status_history_is_listed_newest_first_to_those_who_see_it(world):
    now = timezone.now()
    for hours, (old, new) in enumerate([("online", "offline"), ("offline", "online")]):
        StatusFlip.objects.create(
            instance=world.instance,
            from_status=old,
            to_status=new,
            at=now - timedelta(hours=5 - hours),
        )
    url = f"{API}/instances/{world.instance.pk}/status-history/"
    rows = _client(world, "viewer").get(url).json()["results"]
    assert [r["to_status"] for r in rows] == ["online", "offline"]
    assert _client(world, "outsider").get(url).status_code == 404
    only = _client(world).get(url, {"to_status": "offline"}).json()["results"]
    assert [r["to_status"] for r in only] == ["offline"]
    assert _client(world).get(url, {"since": "yesterday"}).status_code == 400


def test_a_group_is_granted_on_many_spaces_at_once_or_on_none(world):
    group = Group.objects.create(name="Ops team", slug="ops-team")
    url = f"{API}/grants/bulk/"
    body = {"group": str(group.pk), "role": "deployer",
            "spaces": [str(world.space.pk), str(world.other.pk)]}  # fmt: skip
    made = _post(_client(world, "manager"), url, body)
    assert made.status_code == 201, made.content
    assert {row["space"] for row in made.json()} == {str(world.space.pk), str(world.other.pk)}
    assert AuditEntry.objects.filter(action__startswith="grant").count() >= 2
    # The same again: one already exists, so nothing more is granted.
    third = Space.objects.create(instance=world.instance, octopus_id="Spaces-3", name="New")
    again = _post(_client(world), url, {**body, "spaces": [str(third.pk), str(world.space.pk)]})
    assert again.status_code == 400, again.content
    assert not Grant.objects.filter(group=group, space=third).exists()
    # A space the manager does not manage refuses the whole request.
    refused = _post(_client(world, "manager"), url, {**body, "spaces": [str(third.pk)]})
    assert refused.status_code == 400  # not visible to them: no such space


def test_many_spaces_subscribe_at_once_or_none_does(world):
    Subscription.objects.all().delete()
    third = Space.objects.create(instance=world.instance, octopus_id="Spaces-3", name="Third")
    url = f"{API}/sharing/subscriptions/bulk/"
    body = {"item": str(world.item.pk), "spaces": [str(world.other.pk), str(third.pk)],
            "mode": "on_demand"}  # fmt: skip
    # The third space has no accepted trust: the whole request is refused.
    refused = _post(_client(world), url, body)
    assert refused.status_code == 400, refused.content
    assert not Subscription.objects.exists()
    made = _post(_client(world, "manager"), url, {**body, "spaces": [str(world.other.pk)]})
    assert made.status_code == 201, made.content
    assert [row["space"] for row in made.json()] == [str(world.other.pk)]
    assert _post(_client(world, "viewer"), url, body).status_code in (403, 404)


def test_many_instances_are_enlisted_from_one_request_row_by_row(world):
    url = f"{API}/instances/bulk/"
    rows = [
        {"name": "Refused", "url": "http://10.255.255.9", "api_key": "API-X"},
        {"name": "Not a URL", "url": "nope", "api_key": "API-X"},
    ]
    answer = _post(_client(world), url, {"instances": rows})
    assert answer.status_code == 200, answer.content
    outcomes = {row["name"]: row for row in answer.json()}
    assert outcomes["Refused"] == {
        **outcomes["Refused"],
        "enlisted": False,
        "code": "url_not_allowed",
    }
    assert outcomes["Not a URL"]["code"] == "invalid_url"
    assert not Instance.objects.filter(name__in=["Refused", "Not a URL"]).exists()
    assert _post(_client(world, "manager"), url, {"instances": rows}).status_code == 403
    assert _post(_client(world), url, {"instances": []}).status_code == 400


def test_bulk_enlisting_enlists_the_good_rows_of_a_file_and_reports_the_others(world, sim_instance):
    rows = [
        {"name": "Wrong key", "url": sim_instance.url, "api_key": "API-WRONGWRONGWRONGWRONG00"},
        {"name": "Good", "url": sim_instance.url, "api_key": sim_instance.api_key,
         "tags": ["bulk"]},
    ]  # fmt: skip
    answer = _post(_client(world), f"{API}/instances/bulk/", {"instances": rows})
    assert answer.status_code == 200, answer.content
    wrong, good = answer.json()
    assert good["enlisted"] and good["instance"]["tags"] == ["bulk"]
    assert not wrong["enlisted"] and wrong["code"] == "wrong_api_key"
    assert Instance.objects.get(name="Good").spaces.exists()
    assert AuditEntry.objects.filter(action="instance.enlist").count() == 1


def _queries(client: Client, url: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_the_new_lists_cost_the_same_queries_for_one_row_or_many(world):
    from fleetconfig.services import make_plan

    client = _client(world)
    history = f"{API}/instances/{world.instance.pk}/status-history/"
    lists = [history, f"{API}/standard-environments/", f"{API}/config/plans/"]
    now = timezone.now()
    StatusFlip.objects.create(instance=world.instance, from_status="online",
                              to_status="offline", at=now)  # fmt: skip
    StandardEnvironment.objects.create(name="Dev", position=0)
    before = [_queries(client, url) for url in lists]
    for n in range(1, 20):
        StatusFlip.objects.create(instance=world.instance, from_status="online",
                                  to_status="offline", at=now - timedelta(minutes=n))  # fmt: skip
        StandardEnvironment.objects.create(name=f"Env {n}", position=n)
        make_plan("version: 1\n")
    assert [_queries(client, url) for url in lists] == before


def test_an_instances_octopus_people_are_listed_for_choosing_space_managers(world, sim_instance):
    from spaces import services

    instance = services.enlist_instance(
        name="People", base_url=sim_instance.url, api_key=sim_instance.api_key
    )
    url = f"{API}/instances/{instance.pk}/octopus-people/"
    answer = _client(world).get(url)
    assert answer.status_code == 200, answer.content
    people = answer.json()
    assert people["users"] and all(set(u) == {"id", "label"} for u in people["users"])
    assert all(t["id"].lower().startswith("teams-") for t in people["teams"])
    assert _client(world, "viewer").get(url).status_code == 404
