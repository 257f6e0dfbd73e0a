"""Step templates in a blueprint: installed from the library (sharing) through its own
subscriptions and deliveries, against octosim over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from managed.models import Blueprint, BlueprintTarget
from managed.services import blueprints, broker
from odcm.clients import client_for
from sharing.models import Delivery, SharedItem, Subscription
from sharing.services import delivery, items, trusts
from sharing.services.subscriptions import subscribe

from .conftest import by_name, document, enlist_sim, space_of, writes

pytestmark = pytest.mark.django_db

TEMPLATE: dict[str, Any] = {
    "Name": "Notify Slack",
    "Description": "Posts to a channel",
    "ActionType": "Octopus.Script",
    "Parameters": [{"Name": "Channel", "Label": "Channel", "DefaultValue": "#ops"}],
    "Properties": {"Octopus.Action.Script.ScriptBody": "echo hi"},
}


@pytest.fixture
def world(make_sim_instance: Any) -> dict[str, Any]:
    sim = make_sim_instance(spaces=3)
    inst = enlist_sim(sim)
    management = space_of(inst, "Spaces-1")
    item = items.import_step_template(management, TEMPLATE)
    bp = blueprints.create_blueprint("DC standard", document(), management_space=management)
    targets = blueprints.assign(bp, [space_of(inst, "Spaces-2"), space_of(inst, "Spaces-3")])
    return {"sim": sim, "inst": inst, "item": item, "bp": bp, "targets": targets}


def trust(world: dict[str, Any], space: Any) -> None:
    trusts.accept(trusts.propose(world["item"].publisher, space))


def apply_all(bp: Blueprint, **kw: Any) -> None:
    broker.queue_apply(bp, **kw)
    for target in bp.targets.all():
        assert broker.apply_target(str(target.pk)) == "applied", target.last_error


def deliver_queued() -> None:
    """What sharing's workers do with the deliveries the blueprint queued."""
    for sub in Subscription.objects.filter(status=Subscription.Status.QUEUED):
        assert delivery.run(str(sub.pk), sub.target_revision) in ("written", "unchanged")


def verbs(bp: Blueprint, space: Any, **kw: Any) -> dict[str, str]:
    plan = broker.plan_targets(bp, **kw)[str(space.pk)]
    return {
        a["name"]: a["verb"]
        for a in plan["actions"] + plan["kept"]
        if a["kind"] == "step_templates"
    }


def test_step_templates_install_from_the_library_once_drift_is_reported_and_prune_is_ours(
    world, settings
):
    settings.ODCM_SHARING_DRIFT_REAPPLY = False  # the blueprint reports and repairs drift
    sim, inst, item, bp = world["sim"], world["inst"], world["item"], world["bp"]
    two, three = (t.space for t in world["targets"])
    trust(world, two)
    trust(world, three)
    # A person subscribed space 3 earlier: the blueprint uses it and never prunes it.
    theirs = subscribe(item, three)
    deliver_queued()
    blueprints.save_revision(bp, document(step_templates=["notify slack"]))
    assert verbs(bp, two) == {"Notify Slack": "create"}
    assert verbs(bp, three) == {"Notify Slack": "keep"}

    apply_all(bp)
    deliver_queued()
    for space in (two, three):
        found = by_name(inst, space.octopus_id, "actiontemplates")
        assert found["Notify Slack"]["Parameters"][0]["DefaultValue"] == "#ops"
    ours = Subscription.objects.get(item=item, space=two)
    target_two = BlueprintTarget.objects.get(blueprint=bp, space=two)
    target_three = BlueprintTarget.objects.get(blueprint=bp, space=three)
    assert target_two.created["step_templates"] == {"notify slack": str(ours.pk)}
    assert target_three.created.get("step_templates", {}) == {}

    deliveries = Delivery.objects.count()
    sim.reset_stats()
    apply_all(bp)  # a re-apply writes nothing and queues nothing
    deliver_queued()
    assert writes(sim) == 0
    assert Delivery.objects.count() == deliveries
    assert BlueprintTarget.objects.get(pk=target_two.pk).plan["counts"]["create"] == 0

    assert broker.check_drift(str(target_two.pk)) == "in step"
    with client_for(inst) as client:  # a person edits the installed template by hand
        doc = client.get(f"/api/{two.octopus_id}/actiontemplates/{ours.octopus_id}")
        doc["Description"] = "edited by hand"
        doc.pop("Links", None)
        client.put(f"/api/{two.octopus_id}/actiontemplates/{ours.octopus_id}", doc)
    assert broker.check_drift(str(target_two.pk)) == "drifted"
    target_two.refresh_from_db()
    assert [(d["kind"], d["verb"], d["fields"]) for d in target_two.drift] == [
        ("step_templates", "change", ["drifted", "Description"])
    ]
    apply_all(bp)  # the re-apply re-delivers through sharing's broker
    deliver_queued()
    repaired = by_name(inst, two.octopus_id, "actiontemplates")["Notify Slack"]
    assert repaired["Description"] == "Posts to a channel"
    assert broker.check_drift(str(target_two.pk)) == "in step"

    blueprints.save_revision(bp, document())
    apply_all(bp)  # without prune the installation stays managed
    assert Subscription.objects.get(pk=ours.pk).status != Subscription.Status.UNMANAGED
    assert verbs(bp, two, prune=True) == {"notify slack": "delete"}
    assert verbs(bp, three, prune=True) == {}
    apply_all(bp, prune=True)
    assert Subscription.objects.get(pk=ours.pk).status == Subscription.Status.UNMANAGED
    assert Subscription.objects.get(pk=theirs.pk).status == Subscription.Status.IN_SYNC
    assert BlueprintTarget.objects.get(pk=target_two.pk).created["step_templates"] == {}
    # The copy stays in Octopus, no longer managed (as when a person unsubscribes).
    assert "Notify Slack" in by_name(inst, two.octopus_id, "actiontemplates")


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["No such template"], "the library has no step template named 'No such template'"),
        (["Notify Slack"], "no accepted trust"),
    ],
)
def test_a_step_template_that_cannot_be_installed_fails_the_space_before_any_write(
    world, names, message
):
    sim, bp = world["sim"], world["bp"]
    blueprints.save_revision(bp, document(step_templates=names))
    plan = broker.plan_targets(bp)[str(world["targets"][0].space_id)]
    assert message in plan["error"]
    sim.reset_stats()
    broker.queue_apply(bp)
    for target in bp.targets.all():
        assert broker.apply_target(str(target.pk)) == "failed"
        target.refresh_from_db()
        assert message in target.last_error
    assert writes(sim) == 0
    assert not Subscription.objects.exists()


def test_step_templates_must_be_a_list_of_distinct_names(db):
    from managed.services.content import BlueprintInvalid

    for doc, message in (
        ({"step_templates": "Notify"}, "must be a list of step template names"),
        ({"step_templates": ["A", "a"]}, "appears twice"),
        ({"step_templates": [" "]}, "1 to 200 characters"),
    ):
        with pytest.raises(BlueprintInvalid, match=message):
            blueprints.create_blueprint("Broken", doc)
    assert not Blueprint.objects.exists()


def test_an_installation_made_by_an_interrupted_apply_is_adopted_not_made_twice(world):
    item, bp = world["item"], world["bp"]
    two = world["targets"][0].space
    trust(world, two)
    blueprints.save_revision(bp, document(step_templates=["Notify Slack"]))
    broker.queue_apply(bp, target_ids=[world["targets"][0].pk])
    # The worker died after subscribing, before writing the installation down.
    made = subscribe(item, two)
    BlueprintTarget.objects.filter(pk=world["targets"][0].pk).update(
        intended={"step_templates": ["notify slack"]}
    )
    assert broker.apply_target(str(world["targets"][0].pk)) == "applied"
    target = BlueprintTarget.objects.get(pk=world["targets"][0].pk)
    assert target.created["step_templates"] == {"notify slack": str(made.pk)}
    assert Subscription.objects.filter(item=item, space=two).count() == 1


def _rollback(world: dict[str, Any], description: str) -> Any:
    """A step template whose subscribers choose their revision (pins are allowed)."""
    data = {**TEMPLATE, "Name": "Rollback", "Description": description}
    return items.import_step_template(
        world["item"].publisher, data, policy=SharedItem.Policy.SUBSCRIBER_CHOOSES
    )


def _installed(world: dict[str, Any], space: Any) -> str:
    found = by_name(world["inst"], space.octopus_id, "actiontemplates")["Rollback"]
    return str(found["Description"])


def _plan_of(bp: Blueprint, space: Any) -> dict[str, Any]:
    plan = broker.plan_targets(bp)[str(space.pk)]
    assert "error" not in plan, plan
    return {
        a["name"]: (a["verb"], a["fields"], a.get("note"))
        for a in plan["actions"] + plan["kept"]
        if a["kind"] == "step_templates"
    }


def test_a_step_template_pinned_to_a_revision_stays_there_until_the_pin_changes(
    world, admin_user, login
):
    sim, bp = world["sim"], world["bp"]
    two = world["targets"][0].space
    BlueprintTarget.objects.filter(blueprint=bp).exclude(space=two).delete()
    trust(world, two)
    item = _rollback(world, "v1")
    _rollback(world, "v2")
    item.refresh_from_db()
    assert item.latest_revision == 2
    blueprints.save_revision(bp, document(step_templates=[{"name": "rollback", "revision": 1}]))
    assert _plan_of(bp, two) == {"Rollback": ("create", [], "r1 (pinned)")}
    page = login(admin_user).get(reverse("managed:blueprint", args=[bp.pk])).content.decode()
    assert "“Rollback” r1 (pinned)" in page
    apply_all(bp)
    deliver_queued()
    assert _installed(world, two) == "v1"
    sub = Subscription.objects.get(item=item, space=two)
    assert sub.pinned_revision == 1 and sub.delivered_revision == 1

    # a later revision is published: the pinned space keeps r1, a re-apply writes nothing
    _rollback(world, "v3")
    deliver_queued()
    sim.reset_stats()
    apply_all(bp)
    deliver_queued()
    assert writes(sim) == 0 and _installed(world, two) == "v1"
    assert _plan_of(bp, two) == {"Rollback": ("keep", [], "r1 (pinned)")}

    # the default is the latest: lifting the pin installs r3 and follows later revisions
    blueprints.save_revision(bp, document(step_templates=["Rollback"]))
    assert _plan_of(bp, two) == {"Rollback": ("change", ["repin", "pinned to r1"], "r3 (latest)")}
    apply_all(bp)
    deliver_queued()
    assert _installed(world, two) == "v3"
    assert Subscription.objects.get(pk=sub.pk).pinned_revision is None
    assert _plan_of(bp, two) == {"Rollback": ("keep", [], "r3 (latest)")}

    # pinning an older revision takes the space back to it
    blueprints.save_revision(bp, document(step_templates=[{"name": "Rollback", "revision": 2}]))
    assert _plan_of(bp, two) == {"Rollback": ("change", ["repin", "follows latest"], "r2 (pinned)")}
    apply_all(bp)
    deliver_queued()
    assert _installed(world, two) == "v2"
    assert _plan_of(bp, two) == {"Rollback": ("keep", [], "r2 (pinned)")}


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"name": "Rollback", "revision": 9}, "'Rollback' has no revision 9 (the latest is 1)"),
        ({"name": "Notify Slack", "revision": 1}, "pushes every revision to every subscriber"),
    ],
)
def test_a_pin_the_library_cannot_honour_fails_the_space_before_any_write(world, entry, message):
    sim, bp = world["sim"], world["bp"]
    for target in world["targets"]:
        trust(world, target.space)
    _rollback(world, "v1")
    blueprints.save_revision(bp, document(step_templates=[entry]))
    assert message in broker.plan_targets(bp)[str(world["targets"][0].space_id)]["error"]
    sim.reset_stats()
    broker.queue_apply(bp)
    for target in bp.targets.all():
        assert broker.apply_target(str(target.pk)) == "failed"
    assert writes(sim) == 0
    assert not Subscription.objects.exists()


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"name": "A", "revision": 0}, "revision must be a revision number"),
        ({"name": "A", "revision": "2"}, "revision must be a revision number"),
        ({"name": "A", "version": 2}, "unknown field"),
        ({"revision": 2}, "must be a list of step template names"),
    ],
)
def test_a_bad_pin_is_refused_with_its_reason(db, entry, message):
    from managed.services.content import BlueprintInvalid

    with pytest.raises(BlueprintInvalid, match=message):
        blueprints.create_blueprint("Broken", {"step_templates": [entry]})
    latest = blueprints.create_blueprint(
        "Fine",
        {
            "step_templates": [
                "A",
                {"name": "B", "revision": "latest"},
                {"name": "C", "revision": 3},
            ]
        },
    )
    assert latest.revisions.get().content["step_templates"] == [
        "A",
        "B",
        {"name": "C", "revision": 3},
    ]
