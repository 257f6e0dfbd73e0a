"""Trusts, revisions and diffs, imports, and step templates."""

from __future__ import annotations

import json
from typing import Any

import pytest

from odcm.clients import client_for
from sharing.kinds import ContentError
from sharing.models import SharedItem, Subscription, Trust
from sharing.services import copies, delivery, drift, items, queueing, subscriptions, trusts
from sharing.services.subscriptions import SubscriptionError
from spaces.models import Space, Tag

from .conftest import SECRET, enlist_sim, make_set, space_of, subscribe, variables

pytestmark = pytest.mark.django_db


def deliver(sub: Subscription) -> str:
    sub.refresh_from_db()
    return delivery.run(str(sub.pk), sub.target_revision)


def test_nothing_flows_without_an_accepted_trust(pair):
    other = space_of(pair["inst_b"], "Spaces-2")
    item = make_set(pair["publisher"])
    with pytest.raises(SubscriptionError, match="no accepted trust"):
        subscribe(item, other)
    trust = trusts.propose(pair["publisher"], other)
    with pytest.raises(SubscriptionError):
        subscribe(item, other)
    trusts.accept(trust)
    assert subscribe(item, other).status == Subscription.Status.PENDING


def test_trust_by_tag_proposes_to_every_space_on_tagged_instances(pair, admin_user):
    tag = Tag.objects.create(name="emea")
    pair["inst_b"].tags.add(tag)
    proposed = trusts.propose_by_tag(pair["publisher"], "emea", actor=admin_user)
    assert [t.subscriber.octopus_id for t in proposed] == ["Spaces-2"]  # Spaces-1 had one
    assert proposed[0].via_tag == "emea" and proposed[0].state == Trust.State.PROPOSED
    # A space enlisted later on a tagged instance is offered the trust by the sweep.
    assert trusts.extend_tag_trusts() == 0
    late = Space.objects.create(
        instance=pair["inst_b"], octopus_id="Spaces-9", name="Late", slug="late"
    )
    assert trusts.extend_tag_trusts() == 1
    assert Trust.objects.get(subscriber=late).via_tag == "emea"


def test_revoked_trust_stops_deliveries_and_marks_the_copy_unmanaged(pair):
    item = make_set(pair["publisher"])
    sub = subscribe(item, pair["subscriber"])
    deliver(sub)
    trust = Trust.objects.get(publisher=pair["publisher"], subscriber=pair["subscriber"])
    trusts.revoke(trust)
    sub.refresh_from_db()
    assert sub.status == Subscription.Status.UNMANAGED
    items.save_revision(item, variables(prod_url="https://after.example"))
    sub.refresh_from_db()
    assert sub.status == Subscription.Status.UNMANAGED and sub.target_revision == 1
    assert deliver(sub) == "gone"
    assert copies.release(str(sub.pk))
    with client_for(pair["inst_b"]) as client:
        lvs = client.get(f"/api/Spaces-1/libraryvariablesets/{sub.octopus_id}")
    assert lvs["Description"].startswith("No longer managed by ODCM")


def test_revisions_are_numbered_and_diffed_without_sensitive_values(pair):
    item = make_set(pair["publisher"])
    content = variables(prod_url="https://v2.example", secret="new-secret-value")
    content["variables"].pop()  # Region removed
    content["variables"].append({"name": "Added", "value": "yes"})
    saved = items.save_revision(item, content, comment="second")
    assert saved.created and saved.revision.number == 2
    again = items.save_revision(item, content)
    assert not again.created and again.revision.number == 2

    changes = {(c.name, c.change): c.details for c in items.diff(item, 1, 2)}
    assert set(changes) == {
        ("Region", "removed"),
        ("Api.Url", "changed"),
        ("Db.Password", "changed"),
        ("Added", "added"),
    }
    assert changes[("Api.Url", "changed")] == [
        {"field": "value", "old": "https://prod.example", "new": "https://v2.example"}
    ]
    assert changes[("Db.Password", "changed")] == [
        {"field": "value", "sensitive": True, "old": "", "new": "changed"}
    ]
    assert SECRET not in str(changes) and "new-secret-value" not in str(changes)
    assert item.revisions.get(number=1).secrets.startswith("v1.")  # sealed, not plaintext
    assert SECRET not in json.dumps(item.revisions.get(number=1).content)


def test_invalid_content_lists_every_problem(pair):
    item = items.create_item(pair["publisher"], SharedItem.Kind.VARIABLE_SET, "Bad")
    with pytest.raises(ContentError) as caught:
        items.save_revision(
            item,
            {
                "variables": [
                    {"name": "", "value": "x"},
                    {"name": "Pw", "type": "Sensitive"},
                    {"name": "T", "type": "Certificate"},
                ]
            },
        )
    assert len(caught.value.errors) == 3
    assert "needs a value" in str(caught.value)


def test_import_lists_sensitive_variables_needing_values(pair):
    with client_for(pair["inst_a"]) as client:
        lvs = client.post("/api/Spaces-1/libraryvariablesets", {"Name": "Imported"})
        doc = client.get(f"/api/Spaces-1/variables/{lvs['VariableSetId']}")
        envs = {e["Name"]: e["Id"] for e in doc["ScopeValues"]["Environments"]}
        doc["Variables"] = [
            {"Name": "Url", "Value": "https://x", "Scope": {"Environment": [envs["Production"]]}},
            {"Name": "Key", "Value": "hidden", "IsSensitive": True, "Type": "Sensitive"},
        ]
        client.put(f"/api/Spaces-1/variables/{lvs['VariableSetId']}", doc)
    item = items.import_variable_set(pair["publisher"], lvs["Id"])
    assert item.latest_revision == 0
    assert item.draft["needs_values"] == ["Key"]
    content = item.draft["content"]
    url = next(v for v in content["variables"] if v["name"] == "Url")
    assert url["value"] == "https://x" and url["scope"]["environments"] == ["Production"]
    with pytest.raises(ContentError, match="needs a value"):
        items.save_revision(item, content)
    next(v for v in content["variables"] if v["name"] == "Key")["value"] = "given"
    assert items.save_revision(item, content).revision.number == 1


TEMPLATE: dict[str, Any] = {
    "$Meta": {"Type": "ActionTemplate"},
    "Id": "ActionTemplates-99",
    "Name": "Notify Slack",
    "Description": "Posts a message",
    "ActionType": "Octopus.Script",
    "Version": 7,
    "Packages": [],
    "Parameters": [
        {
            "Id": "p1",
            "Name": "Channel",
            "Label": "Channel",
            "HelpText": "",
            "DefaultValue": "#ops",
            "DisplaySettings": {},
        }
    ],
    "Properties": {
        "Octopus.Action.Script.ScriptBody": "echo hi",
        "Octopus.Action.Script.Syntax": "Bash",
    },
}


def test_step_template_is_delivered_as_an_action_template_and_watched_for_drift(pair):
    item = items.import_step_template(pair["publisher"], TEMPLATE)
    assert item.kind == SharedItem.Kind.STEP_TEMPLATE and item.latest_revision == 1
    assert "Id" not in item.revisions.get().content
    sub = subscribe(item, pair["subscriber"])
    assert deliver(sub) == "written"
    sub.refresh_from_db()
    with client_for(pair["inst_b"]) as client:
        found = client.get(f"/api/Spaces-1/actiontemplates/{sub.octopus_id}")
    assert found["Name"] == "Notify Slack" and found["Parameters"][0]["DefaultValue"] == "#ops"
    queueing.queue([sub.pk], 1, "sync_now", force=True)
    assert deliver(sub) == "unchanged"

    changed: dict[str, Any] = json.loads(json.dumps(TEMPLATE))
    changed["Properties"]["Octopus.Action.Script.ScriptBody"] = "echo v2"
    items.import_step_template(pair["publisher"], changed)
    assert deliver(sub) == "written"
    with client_for(pair["inst_b"]) as client:
        found = client.get(f"/api/Spaces-1/actiontemplates/{sub.octopus_id}")
        assert found["Properties"]["Octopus.Action.Script.ScriptBody"] == "echo v2"
        found["Description"] = "edited by hand"
        found.pop("Links")
        client.put(f"/api/Spaces-1/actiontemplates/{sub.octopus_id}", found)
    assert drift.check(str(sub.pk)) == "reapplying"
    sub.refresh_from_db()
    assert sub.drift == [{"name": "Description", "change": "changed in Octopus"}]


def test_step_templates_import_from_a_space_and_from_a_folder(pair, tmp_path):
    with client_for(pair["inst_a"]) as client:
        made = client.post(
            "/api/Spaces-1/actiontemplates", {"Name": "From space", "ActionType": "Octopus.Script"}
        )
    item = items.import_action_template(pair["publisher"], pair["publisher"], made["Id"])
    assert item.name == "From space" and item.latest_revision == 1
    (tmp_path / "a.json").write_text(json.dumps(TEMPLATE))
    (tmp_path / "b.json").write_text(json.dumps(dict(TEMPLATE, Name="Second")))
    (tmp_path / "broken.json").write_text("{nope")
    imported, problems = items.import_template_folder(pair["publisher"], tmp_path)
    assert sorted(i.name for i in imported) == ["Notify Slack", "Second"]
    assert len(problems) == 1 and problems[0].startswith("broken.json")


def test_push_items_are_automatic_for_every_subscriber(pair):
    item = make_set(pair["publisher"])
    sub = subscribe(item, pair["subscriber"], mode=Subscription.Mode.ON_DEMAND)
    assert sub.mode == Subscription.Mode.AUTOMATIC
    with pytest.raises(SubscriptionError):
        subscriptions.change(sub, mode=Subscription.Mode.ON_DEMAND)
    with pytest.raises(SubscriptionError, match="cannot be pinned"):
        subscriptions.change(sub, pinned_revision=1)


def test_pinned_subscription_stays_on_its_revision(pair):
    item = make_set(pair["publisher"], policy=SharedItem.Policy.SUBSCRIBER_CHOOSES)
    sub = subscribe(item, pair["subscriber"], pinned_revision=1)
    deliver(sub)
    items.save_revision(item, variables(prod_url="https://v2.example"))
    sub.refresh_from_db()
    assert sub.status == Subscription.Status.IN_SYNC and sub.target_revision == 1
    subscriptions.change(sub, pinned_revision=None)
    sub.refresh_from_db()
    assert sub.status == Subscription.Status.QUEUED and sub.target_revision == 2


def test_enlisted_spaces_of_a_third_instance_can_subscribe(make_sim_instance, pair):
    inst_c = enlist_sim(make_sim_instance())
    target = space_of(inst_c)
    trusts.accept(trusts.propose(pair["publisher"], target))
    sub = subscribe(make_set(pair["publisher"]), target)
    assert deliver(sub) == "written"


def test_import_step_templates_command_reads_a_folder(pair, tmp_path):
    from io import StringIO

    from django.core.management import call_command

    (tmp_path / "one.json").write_text(json.dumps(TEMPLATE))
    out = StringIO()
    call_command("import_step_templates", str(pair["publisher"].pk), str(tmp_path), stdout=out)
    assert "Imported 1 step templates" in out.getvalue()
    assert SharedItem.objects.filter(
        kind=SharedItem.Kind.STEP_TEMPLATE, name="Notify Slack"
    ).exists()
