"""A baseline's event subscriptions: every filter field translated by name, and prune."""

from __future__ import annotations

from typing import Any

import pytest

from managed.models import BaselineApply, BaselineTarget
from managed.services import baseline_broker as broker
from managed.services import baselines
from managed.services.baseline_content import BaselineInvalid
from odcm.clients import client_for

from .conftest import enlist_sim, writes
from .test_templates import build_template

pytestmark = pytest.mark.django_db

HOOK = "https://hooks.dc.example/octopus"


def _sub(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "webhook_uri": HOOK, **extra}


def _apply(bl: Any, *, prune: bool = False) -> BaselineTarget:
    broker.queue_apply(bl, prune=prune)
    target = bl.targets.get()
    assert broker.apply_target(str(target.pk)) == "applied", BaselineTarget.objects.get(
        pk=target.pk
    ).last_error
    return BaselineTarget.objects.get(pk=target.pk)


def _subs(inst: Any, space: str = "Spaces-1") -> dict[str, Any]:
    with client_for(inst) as c:
        return {s["Name"]: s for s in c.get_all(f"/api/{space}/subscriptions")}


@pytest.fixture
def world(make_sim_instance: Any) -> dict[str, Any]:
    """One instance whose default space has Web App, a tenant, a tag set and a user."""
    sim = make_sim_instance(spaces=2)
    inst = enlist_sim(sim)
    project = build_template(inst)
    with client_for(inst) as c:
        ids: dict[str, str] = {"project": project["Id"], "group": project["ProjectGroupId"]}
        ids["env"] = next(
            e["Id"] for e in c.get_all("/api/Spaces-1/environments") if e["Name"] == "Production"
        )
        ids["tenant"] = c.post("/api/Spaces-1/tenants", {"Name": "Acme"})["Id"]
        tagset = c.post("/api/Spaces-1/tagsets", {"Name": "Tier"})
        tagset["Tags"] = [{"Name": "Gold", "Color": "#FFD700"}]
        c.put(f"/api/Spaces-1/tagsets/{tagset['Id']}", tagset)
        ids["user"] = c.post("/api/users", {"Username": "ops.jane", "DisplayName": "Jane"})["Id"]
    return {"sim": sim, "inst": inst, "ids": ids}


def test_every_filter_field_is_written_with_ids_found_by_name_and_a_reapply_writes_nothing(
    world,
):
    inst, ids, sim = world["inst"], world["ids"], world["sim"]
    filters = {
        "users": ["OPS.JANE"],
        "projects": ["web app"],
        "project_groups": ["Default Project Group"],
        "environments": ["Production"],
        "tenants": ["Acme"],
        "tags": ["tier/gold"],
        "event_agents": ["Octopus.Server"],
        "event_groups": ["DeploymentFailed"],
        "event_categories": ["DeploymentFailed"],
        "document_types": ["Deployments"],
    }
    bl = baselines.create_baseline(
        "Filters", {"subscriptions": [_sub("Web App failures", **filters)]}
    )
    baselines.assign(bl, [inst])
    plan = broker.plan_targets(bl)[str(inst.pk)]
    assert plan["actions"] == [
        {"kind": "subscriptions", "name": "Web App failures", "verb": "create", "fields": []}
    ]
    _apply(bl)
    filt = _subs(inst)["Web App failures"]["EventNotificationSubscription"]["Filter"]
    assert filt["Users"] == [ids["user"]]
    assert filt["Projects"] == [ids["project"]]
    assert filt["ProjectGroups"] == [ids["group"]]
    assert filt["Environments"] == [ids["env"]]
    assert filt["Tenants"] == [ids["tenant"]]
    assert filt["Tags"] == ["Tier/Gold"]  # canonical names, as Octopus holds them
    assert filt["EventAgents"] == ["Octopus.Server"]
    assert filt["DocumentTypes"] == ["Deployments"]
    sim.reset_stats()
    target = _apply(bl)
    assert writes(sim) == 0
    assert target.plan["counts"]["keep"] == 1

    # a hand edit of a filter (the tenant taken out) is drift, named by field
    with client_for(inst) as c:
        doc = _subs(inst)["Web App failures"]
        doc["EventNotificationSubscription"]["Filter"]["Tenants"] = []
        c.put(f"/api/Spaces-1/subscriptions/{doc['Id']}", doc)
    assert broker.check_drift(str(target.pk)) == "drifted"
    drift = BaselineTarget.objects.get(pk=target.pk).drift
    assert drift == [
        {
            "kind": "subscriptions",
            "name": "Web App failures",
            "verb": "change",
            "fields": ["tenants"],
        }
    ]


def test_a_name_the_space_lacks_fails_the_instance_before_anything_is_written(world):
    inst, sim = world["inst"], world["sim"]
    doc = {"subscriptions": [_sub("Bad", projects=["No Such Project"]), _sub("Good")]}
    bl = baselines.create_baseline("Missing", doc)
    baselines.assign(bl, [inst])
    sim.reset_stats()
    broker.queue_apply(bl)
    target = bl.targets.get()
    assert broker.apply_target(str(target.pk)) == "failed"
    target.refresh_from_db()
    assert (
        target.last_error == "Subscription 'Bad': its space has no project named 'No Such Project'."
    )
    assert writes(sim) == 0 and _subs(inst) == {}


@pytest.mark.parametrize(
    ("sub", "message"),
    [
        ({"tags": ["Gold"]}, "tags are 'Tag set/Tag' names"),
        ({"projects": "Web App"}, "projects must be a list of names"),
        ({"users": [""]}, "users must be a list of names"),
    ],
)
def test_a_bad_filter_is_refused_with_its_reason(sub, message):
    with pytest.raises(BaselineInvalid, match=message):
        baselines.create_baseline("Bad", {"subscriptions": [_sub("S", **sub)]})


def test_prune_deletes_only_subscriptions_this_baseline_created(world):
    inst, sim = world["inst"], world["sim"]
    with client_for(inst) as c:  # a person's own subscription, which the baseline then names
        c.post("/api/Spaces-1/subscriptions", {"Name": "Adopted", "Type": "Event"})
        c.post("/api/Spaces-1/subscriptions", {"Name": "Hand made", "Type": "Event"})
        second = next(s["Name"] for s in c.spaces() if s["Id"] == "Spaces-2")
    doc = {
        "subscriptions": [
            _sub("Keep me"),
            _sub("Remove me"),
            _sub("Adopted"),
            _sub("Moved", space=second),
        ]
    }
    bl = baselines.create_baseline("Prune", doc)
    baselines.assign(bl, [inst])
    target = _apply(bl)
    assert set(target.created["subscriptions"]) == {"keep me", "remove me", "moved"}
    assert target.created["subscription_spaces"]["moved"] == "Spaces-2"

    # revision 2: "Remove me" and "Adopted" are gone, "Moved" moves to the default space
    doc["subscriptions"] = [_sub("Keep me"), _sub("Moved")]
    baselines.save_revision(bl, doc)
    target = _apply(bl)  # without prune nothing is deleted; the moved one is remembered
    assert target.created["replaced"] == [
        ["moved", "Spaces-2", _subs(inst, "Spaces-2")["Moved"]["Id"]]
    ]
    assert set(_subs(inst)) == {"Keep me", "Remove me", "Adopted", "Hand made", "Moved"}
    assert set(_subs(inst, "Spaces-2")) == {"Moved"}

    plan = broker.plan_targets(bl, prune=True)[str(inst.pk)]
    deletes = sorted(a["name"] for a in plan["actions"] if a["verb"] == "delete")
    assert deletes == ["Moved", "Remove me"]  # "Adopted" was a person's; never pruned
    sim.reset_stats()
    target = _apply(bl, prune=True)
    assert set(_subs(inst)) == {"Keep me", "Adopted", "Hand made", "Moved"}
    assert _subs(inst, "Spaces-2") == {}
    assert set(target.created["subscriptions"]) == {"keep me", "moved"}
    assert target.created["subscription_spaces"]["moved"] == "Spaces-1"
    assert target.created["replaced"] == []
    assert target.prune is False
    last = BaselineApply.objects.filter(target=target).order_by("-started_at").first()
    assert last is not None and last.deleted == 2

    # a second apply and prune has nothing left to delete and writes nothing
    sim.reset_stats()
    _apply(bl, prune=True)
    assert writes(sim) == 0


def test_apply_and_prune_is_offered_on_the_page_and_the_api(world, admin_user, login):
    inst = world["inst"]
    bl = baselines.create_baseline("Pruned", {"subscriptions": [_sub("Gone soon")]})
    baselines.assign(bl, [inst])
    _apply(bl)
    baselines.save_revision(bl, {"subscriptions": []})
    client = login(admin_user)
    page = client.get(f"/managed/baselines/{bl.pk}/").content.decode()
    assert 'data-testid="apply-prune"' in page
    assert client.post(f"/managed/baselines/{bl.pk}/apply/", {"prune": "1"}).status_code == 302
    target = bl.targets.get()
    assert target.prune is True and target.status == "queued"
    bad = client.post(
        f"/api/v1/managed/baselines/{bl.pk}/apply/",
        {"prune": "maybe"},
        content_type="application/json",
    )
    assert bad.status_code == 400 and "prune" in bad.content.decode()
    ok = client.post(
        f"/api/v1/managed/baselines/{bl.pk}/apply/",
        {"prune": False},
        content_type="application/json",
    )
    assert ok.status_code == 202
    assert BaselineTarget.objects.get(pk=target.pk).prune is False
    ok = client.post(
        f"/api/v1/managed/baselines/{bl.pk}/apply/",
        {"prune": True},
        content_type="application/json",
    )
    assert ok.status_code == 202
    assert broker.apply_target(str(target.pk)) == "applied"
    assert _subs(inst) == {}
    assert BaselineTarget.objects.get(pk=target.pk).prune is False
