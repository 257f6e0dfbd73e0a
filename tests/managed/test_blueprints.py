"""Blueprints planned and applied to spaces (the broker's steps run in the test process)."""

from __future__ import annotations

from typing import Any

import pytest

from audit.models import AuditEntry
from managed.models import Blueprint, BlueprintApply, BlueprintTarget
from managed.services import blueprints, broker
from managed.services.content import BlueprintInvalid
from odcm.clients import client_for

from .conftest import FEED_SECRET, GIT_SECRET, by_name, document, enlist_sim, space_of, writes

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_spaces(make_sim_instance: Any) -> dict[str, Any]:
    sim = make_sim_instance(spaces=3)
    inst = enlist_sim(sim)
    bp = blueprints.create_blueprint(
        "DC standard", document(), management_space=space_of(inst, "Spaces-1")
    )
    targets = blueprints.assign(bp, [space_of(inst, "Spaces-2"), space_of(inst, "Spaces-3")])
    return {"sim": sim, "inst": inst, "bp": bp, "targets": targets}


def apply_all(bp: Blueprint, **kw: Any) -> None:
    broker.queue_apply(bp, **kw)
    for target in bp.targets.all():
        assert broker.apply_target(str(target.pk)) == "applied", target.last_error


def test_the_plan_shows_creations_and_changes_and_writes_nothing(two_spaces):
    sim, bp = two_spaces["sim"], two_spaces["bp"]
    sim.reset_stats()
    plans = broker.plan_targets(bp)
    assert writes(sim) == 0
    plan = plans[str(two_spaces["targets"][0].space_id)]
    verbs = {(a["kind"], a["name"]): (a["verb"], a["fields"]) for a in plan["actions"]}
    assert verbs[("environments", "Staging DC")] == ("create", [])
    assert verbs[("lifecycles", "DC Standard")] == ("create", [])
    assert verbs[("feeds", "DC NuGet")] == ("create", [])
    kept = {(a["kind"], a["name"]) for a in plan["kept"]}
    assert ("environments", "Development") in kept  # seeded spaces have it already
    assert plan["counts"]["create"] == 8


def test_apply_creates_by_name_with_ids_translated_and_a_reapply_writes_nothing(two_spaces):
    sim, inst, bp = two_spaces["sim"], two_spaces["inst"], two_spaces["bp"]
    apply_all(bp)
    for space in ("Spaces-2", "Spaces-3"):
        envs = by_name(inst, space, "environments")
        assert envs["Production"]["UseGuidedFailure"] is True
        lifecycle = by_name(inst, space, "lifecycles")["DC Standard"]
        test_phase = lifecycle["Phases"][1]
        assert test_phase["OptionalDeploymentTargets"] == [
            envs["Test"]["Id"],
            envs["Staging DC"]["Id"],
        ]
        assert lifecycle["ReleaseRetentionPolicy"]["QuantityToKeep"] == 10
        feed = by_name(inst, space, "feeds")["DC NuGet"]
        assert feed["Password"]["HasValue"] is True
        tags = by_name(inst, space, "tagsets")["Tier"]["Tags"]
        assert [t["Name"] for t in tags] == ["Gold", "Silver"]
        assert "DC Linux workers" in by_name(inst, space, "workerpools")
        assert "DC Common" in by_name(inst, space, "libraryvariablesets")
    target = BlueprintTarget.objects.get(pk=two_spaces["targets"][0].pk)
    assert target.status == "applied" and target.applied_revision == 1
    assert set(target.created) == {
        "environments", "lifecycles", "feeds", "git_credentials", "project_groups",
        "tag_sets", "worker_pools", "library_variable_sets",
    }  # fmt: skip
    assert "development" not in target.created["environments"]  # it existed: not ours
    sim.reset_stats()
    apply_all(bp)
    assert writes(sim) == 0
    assert sim.stats()["by_method"]["GET"] == 2 * 8  # one read per kind and space


def test_a_secret_is_sent_once_and_never_stored_in_clear(two_spaces):
    sim, bp = two_spaces["sim"], two_spaces["bp"]
    apply_all(bp)
    revision = bp.revisions.get(number=1)
    assert FEED_SECRET not in str(revision.content) and GIT_SECRET not in revision.secrets
    assert revision.content["feeds"][0]["password_set"] is True
    for entry in AuditEntry.objects.all():
        assert FEED_SECRET not in str(entry.__dict__)
    # A new password (only) is a change of that one field, written once.
    doc = document()
    doc["feeds"][0]["password"] = "rotated-feed-secret"
    blueprints.save_revision(bp, doc)
    plan = broker.plan_targets(bp)[str(two_spaces["targets"][0].space_id)]
    assert [(a["name"], a["fields"]) for a in plan["actions"]] == [("DC NuGet", ["password"])]
    sim.reset_stats()
    apply_all(bp)
    assert writes(sim) == 2  # one PUT per space
    # Leaving the password out keeps the previous one: no new revision.
    doc["feeds"][0].pop("password")
    doc["feeds"][0]["password_set"] = True
    assert blueprints.save_revision(bp, doc) is None


def test_drift_is_reported_then_repaired_by_a_reapply(two_spaces):
    inst, bp = two_spaces["inst"], two_spaces["bp"]
    apply_all(bp)
    prod = by_name(inst, "Spaces-2", "environments")["Production"]
    with client_for(inst) as client:  # a person turns guided failure off
        client.put(f"/api/Spaces-2/environments/{prod['Id']}", {**prod, "UseGuidedFailure": False})
    target = BlueprintTarget.objects.get(blueprint=bp, space__octopus_id="Spaces-2")
    other = BlueprintTarget.objects.get(blueprint=bp, space__octopus_id="Spaces-3")
    assert broker.check_drift(str(target.pk)) == "drifted"
    assert broker.check_drift(str(other.pk)) == "in step"
    target.refresh_from_db()
    assert target.status == "drifted"
    assert target.drift == [
        {"kind": "environments", "name": "Production", "verb": "change",
         "fields": ["use_guided_failure"]}
    ]  # fmt: skip
    Blueprint.objects.filter(pk=bp.pk).update(on_drift=Blueprint.OnDrift.REAPPLY)
    assert broker.check_drift(str(target.pk)) == "re-applied"
    assert broker.apply_target(str(target.pk)) == "applied"
    assert by_name(inst, "Spaces-2", "environments")["Production"]["UseGuidedFailure"] is True
    assert broker.check_drift(str(target.pk)) == "in step"


def test_prune_deletes_only_what_the_blueprint_created(two_spaces):
    inst, bp = two_spaces["inst"], two_spaces["bp"]
    apply_all(bp)
    # The next revision drops a created item (Staging DC) and a pre-existing one (Test).
    doc = document()
    doc["environments"] = [e for e in doc["environments"] if e["name"] not in ("Staging DC",)]
    doc["lifecycles"][0]["phases"][1]["optional"] = ["Test"]
    doc["worker_pools"] = []
    blueprints.save_revision(bp, doc)
    apply_all(bp)  # without prune nothing is deleted
    assert "Staging DC" in by_name(inst, "Spaces-2", "environments")
    doc["environments"] = [e for e in doc["environments"] if e["name"] != "Test"]
    doc["lifecycles"][0]["phases"][1]["optional"] = []
    blueprints.save_revision(bp, doc)
    apply_all(bp, prune=True)
    envs = by_name(inst, "Spaces-2", "environments")
    assert "Staging DC" not in envs
    assert "Test" in envs  # it was there before the blueprint: never deleted
    assert "DC Linux workers" not in by_name(inst, "Spaces-2", "workerpools")
    attempt = BlueprintApply.objects.filter(target__space__octopus_id="Spaces-2").first()
    assert attempt is not None and attempt.deleted == 2


def test_an_unreachable_space_fails_alone_with_its_error(two_spaces, make_sim_instance):
    bp = two_spaces["bp"]
    dead_sim = make_sim_instance(spaces=1)
    dead = enlist_sim(dead_sim)
    blueprints.assign(bp, [space_of(dead)])
    dead_sim.set_faults(offline="refuse")
    broker.queue_apply(bp)
    outcomes = [
        (t.space.instance_id == dead.pk, broker.apply_target(str(t.pk)))
        for t in bp.targets.select_related("space")
    ]
    assert sorted(outcomes) == [(False, "applied"), (False, "applied"), (True, "failed")]
    failed = BlueprintTarget.objects.get(blueprint=bp, space__instance=dead)
    assert failed.status == "failed" and failed.failures == 1 and failed.last_error
    assert failed.next_attempt_at is not None


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"environments": [{"name": "A"}, {"name": "a"}]}, "appears twice"),
        (
            {"lifecycles": [{"name": "L", "phases": [{"name": "P", "automatic": ["Nope"]}]}]},
            "environment 'Nope' is not in this blueprint",
        ),
        ({"widgets": []}, "Unknown part"),
        ({"teams": "ops"}, "'teams' must be a list"),
        ({"teams": [{"group": "Ops", "role": "owner"}]}, "role must be one of"),
        ({"feeds": [{"name": "F", "type": "Floppy", "uri": "x"}]}, "type must be one of"),
        ({"git_credentials": [{"name": "G", "username": "u"}]}, "password"),
    ],
)
def test_a_bad_document_is_refused_with_a_message_and_nothing_saved(db, doc, message):
    with pytest.raises(BlueprintInvalid, match=message):
        blueprints.create_blueprint("Broken", doc)
    assert not Blueprint.objects.exists()


def test_teams_in_a_blueprint_are_grants_made_once_checked_for_drift_and_pruned(two_spaces):
    from identity.models import Grant
    from identity.services import create_group, revoke

    bp, targets = two_spaces["bp"], two_spaces["targets"]
    ops = create_group(name="Ops", members=[])
    blueprints.save_revision(
        bp, document(teams=[{"group": "ops", "role": "deployer"}, {"group": "Auditors"}])
    )
    plan = broker.plan_targets(bp)[str(targets[0].space_id)]
    verbs = {(a["kind"], a["name"]): a["verb"] for a in plan["actions"]}
    assert verbs[("teams", "ops (deployer)")] == "create"
    broker.queue_apply(bp)
    target = BlueprintTarget.objects.get(pk=targets[0].pk)
    assert broker.apply_target(str(target.pk)) == "failed"  # no group "Auditors" yet
    target.refresh_from_db()
    assert "no ODCM group named 'Auditors'" in target.last_error
    create_group(name="Auditors", members=[])
    apply_all(bp)
    for t in targets:
        rows = Grant.objects.filter(space=t.space, revoked_at__isnull=True)
        assert {(g.group.name, g.role) for g in rows if g.group is not None} >= {
            ("Ops", "deployer"),
            ("Auditors", "viewer"),
        }
    apply_all(bp)  # nothing granted twice
    assert Grant.objects.filter(group=ops, space=targets[0].space).count() == 1
    row = Grant.objects.get(group=ops, space=targets[0].space)
    target = BlueprintTarget.objects.get(pk=targets[0].pk)
    assert broker.check_drift(str(target.pk)) == "in step"
    revoke(row)  # a person removes the grant by hand
    assert broker.check_drift(str(target.pk)) == "drifted"
    target.refresh_from_db()
    assert [(d["kind"], d["verb"]) for d in target.drift] == [("teams", "create")]
    blueprints.save_revision(bp, document(teams=[{"group": "Auditors"}]))
    apply_all(bp)  # without prune the Ops grant stays (on the second space)
    assert Grant.objects.filter(group=ops, revoked_at__isnull=True).count() == 1
    broker.queue_apply(bp, prune=True)
    for t in bp.targets.all():
        assert broker.apply_target(str(t.pk)) == "applied"
    assert not Grant.objects.filter(group=ops, revoked_at__isnull=True).exists()
    assert Grant.objects.filter(group__name="Auditors", revoked_at__isnull=True).count() == 2


def test_apply_and_prune_asked_while_an_apply_runs_is_not_lost(two_spaces, monkeypatch):
    """A person chooses "apply and prune" while an apply without prune is running: when the
    running one ends, the target stays queued with prune, and the next apply prunes."""
    inst, bp = two_spaces["inst"], two_spaces["bp"]
    apply_all(bp)
    doc = document()
    doc["environments"] = [e for e in doc["environments"] if e["name"] != "Staging DC"]
    doc["lifecycles"][0]["phases"][1]["optional"] = ["Test"]
    blueprints.save_revision(bp, doc)
    target = BlueprintTarget.objects.get(pk=two_spaces["targets"][0].pk)
    broker.queue_apply(bp, target_ids=[target.pk])
    running = broker.BROKER.apply

    def apply_while_a_person_asks_for_prune(t: Any, lease: Any, number: int) -> Any:
        broker.queue_apply(bp, target_ids=[t.pk], prune=True)
        return running(t, lease, number)

    monkeypatch.setattr(broker.BROKER, "apply", apply_while_a_person_asks_for_prune)
    assert broker.apply_target(str(target.pk)) == "applied"
    monkeypatch.undo()
    target.refresh_from_db()
    assert (target.status, target.prune) == ("queued", True)
    assert "Staging DC" in by_name(inst, "Spaces-2", "environments")  # not pruned yet
    assert broker.apply_target(str(target.pk)) == "applied", target.last_error
    target.refresh_from_db()
    assert (target.status, target.prune) == ("applied", False)
    assert "Staging DC" not in by_name(inst, "Spaces-2", "environments")
