"""Instance baselines planned and applied to instances (the broker's steps run in-process)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from audit.models import AuditEntry
from managed.models import BaselineApply, BaselineTarget, InstanceBaseline
from managed.services import baseline_broker as broker
from managed.services import baselines
from managed.services.baseline_content import BaselineInvalid
from odcm.clients import client_for
from spaces.models import Tag

from .conftest import enlist_sim, writes

pytestmark = pytest.mark.django_db

SMTP_SECRET = "smtp-Pa55-never-shown-8812"
HEADER_SECRET = "hook-token-never-shown-3391"
OKTA_SECRET = "okta-secret-never-shown-1177"

BASELINE: dict[str, Any] = {
    "smtp": {
        "host": "smtp.dc.example",
        "port": 587,
        "from": "octopus@dc.example",
        "login": "octopus",
        "enable_ssl": True,
        "password": SMTP_SECRET,
    },
    "authentication": {
        "guest": False,
        "username_password": True,
        "okta": {
            "enabled": True,
            "issuer": "https://login.dc.example",
            "client_id": "odcm-octopus",
            "client_secret": OKTA_SECRET,
        },
    },
    "subscriptions": [
        {
            "name": "Failed deployments",
            "event_groups": ["DeploymentCriticalEvents"],
            "webhook_uri": "https://hooks.dc.example/octopus",
            "webhook_header_key": "X-Token",
            "webhook_header_value": HEADER_SECRET,
            "email_teams": ["Octopus Administrators"],
            "email_priority": "High",
        }
    ],
    "maintenance": {"maintenance_mode": False},
    "retention": {"days": 30},
}


def apply_all(bp: InstanceBaseline) -> None:
    broker.queue_apply(bp)
    for target in bp.targets.all():
        assert broker.apply_target(str(target.pk)) == "applied", BaselineTarget.objects.get(
            pk=target.pk
        ).last_error


@pytest.fixture
def world(make_sim_instance: Any) -> dict[str, Any]:
    sims = [make_sim_instance(spaces=2) for _ in range(2)]
    insts = [enlist_sim(sim) for sim in sims]
    bp = baselines.create_baseline("DC baseline", BASELINE)
    baselines.assign(bp, insts)
    return {"sims": sims, "insts": insts, "bp": bp}


def _get(inst: Any, path: str) -> Any:
    with client_for(inst) as client:
        return client.get(path)


def test_the_plan_lists_changes_per_instance_and_writes_nothing(world):
    sim, bp = world["sims"][0], world["bp"]
    sim.reset_stats()
    plans = broker.plan_targets(bp)
    assert writes(sim) == 0
    plan = plans[str(world["insts"][0].pk)]
    assert "error" not in plan, plan
    verbs = {(a["kind"], a["name"]): (a["verb"], a["fields"]) for a in plan["actions"]}
    assert verbs[("smtp", "SMTP")][0] == "change"
    assert "password" in verbs[("smtp", "SMTP")][1]
    assert verbs[("subscriptions", "Failed deployments")] == ("create", [])
    assert verbs[("retention", "Retention")] == ("change", ["days"])
    kept = {(a["kind"], a["name"]) for a in plan["kept"]}
    assert ("authentication", "guest") in kept and ("maintenance", "Maintenance") in kept
    text = json.dumps(plans)
    assert SMTP_SECRET not in text and HEADER_SECRET not in text


def test_apply_writes_every_part_and_a_reapply_writes_nothing(world):
    bp = world["bp"]
    apply_all(bp)
    for inst in world["insts"]:
        smtp = _get(inst, "/api/smtpconfiguration")
        assert smtp["SmtpHost"] == "smtp.dc.example" and smtp["SmtpPort"] == 587
        assert _get(inst, "/api/configuration/retention-default")["RetentionDays"] == 30
        okta = _get(inst, "/api/configuration/authentication-od/values")
        assert okta["IsEnabled"] is True and okta["ClientSecret"]["HasValue"] is True
        subs = _get(inst, "/api/Spaces-1/subscriptions/all")
        assert [s["Name"] for s in subs] == ["Failed deployments"]
        nested = subs[0]["EventNotificationSubscription"]
        assert nested["WebhookHeaderValue"] == HEADER_SECRET
        assert nested["EmailTeams"] == ["teams-administrators"]
        assert nested["Filter"]["EventGroups"] == ["DeploymentCriticalEvents"]
    target = bp.targets.first()
    assert target.status == "applied" and target.applied_revision == 1
    assert set(target.created["subscriptions"]) == {"failed deployments"}
    for sim in world["sims"]:
        sim.reset_stats()
    apply_all(bp)
    assert sum(writes(sim) for sim in world["sims"]) == 0
    assert BaselineApply.objects.filter(outcome="applied").count() == 4
    stored = json.dumps(
        [
            list(BaselineTarget.objects.values()),
            list(AuditEntry.objects.values("changes", "message")),
        ],
        default=str,
    )
    for secret in (SMTP_SECRET, HEADER_SECRET, OKTA_SECRET):
        assert secret not in stored


def test_a_hand_edit_is_detected_and_reapplied_when_the_baseline_says_so(world):
    bp, inst = world["bp"], world["insts"][0]
    apply_all(bp)
    target = BaselineTarget.objects.get(instance=inst)
    assert broker.check_drift(str(target.pk)) == "in step"
    with client_for(inst) as client:
        smtp = client.get("/api/smtpconfiguration")
        client.put("/api/smtpconfiguration", {**smtp, "SmtpHost": "rogue.example"})
        sub = client.get_all("/api/Spaces-1/subscriptions")[0]
        sub["EventNotificationSubscription"]["WebhookHeaderValue"] = "changed"
        client.put(f"/api/Spaces-1/subscriptions/{sub['Id']}", sub)
    assert broker.check_drift(str(target.pk)) == "drifted"
    target.refresh_from_db()
    assert target.status == "drifted"
    found = {(d["kind"], d["name"]): d["fields"] for d in target.drift}
    assert found[("smtp", "SMTP")] == ["host"]
    assert found[("subscriptions", "Failed deployments")] == ["webhook_header_value"]
    assert "changed" not in json.dumps(target.drift)
    other = BaselineTarget.objects.get(instance=world["insts"][1])
    assert broker.check_drift(str(other.pk)) == "in step"
    baselines.update_settings(bp, on_drift="reapply")
    assert broker.check_drift(str(target.pk)) == "re-applied"
    assert broker.apply_target(str(target.pk)) == "applied"
    assert _get(inst, "/api/smtpconfiguration")["SmtpHost"] == "smtp.dc.example"
    sub = _get(inst, "/api/Spaces-1/subscriptions/all")[0]
    assert sub["EventNotificationSubscription"]["WebhookHeaderValue"] == HEADER_SECRET


def test_a_new_revision_keeps_secrets_left_out_and_a_new_password_is_written(world):
    bp, inst = world["bp"], world["insts"][0]
    apply_all(bp)
    first = baselines.latest(bp)
    assert first is not None
    doc = json.loads(json.dumps(first.content))
    doc["retention"] = {"days": 60}
    second = baselines.save_revision(bp, doc)
    assert second is not None and second.number == 2
    assert baselines.secrets_of(baselines.latest(bp))["smtp/password"] == SMTP_SECRET
    assert baselines.save_revision(bp, doc) is None
    plan = broker.plan_targets(bp)[str(inst.pk)]
    assert [(a["kind"], a["fields"]) for a in plan["actions"]] == [("retention", ["days"])]
    doc["smtp"]["password"] = "new-Pa55-4471"
    baselines.save_revision(bp, doc)
    plan = broker.plan_targets(bp)[str(inst.pk)]
    assert ("smtp", ["password"]) in [(a["kind"], a["fields"]) for a in plan["actions"]]


def test_an_instance_missing_a_named_space_fails_alone_with_a_clear_error(world):
    bp = world["bp"]
    doc = json.loads(json.dumps(BASELINE))
    doc["subscriptions"][0]["space"] = "Nowhere"
    baselines.save_revision(bp, doc)
    broker.queue_apply(bp)
    target = bp.targets.first()
    assert broker.apply_target(str(target.pk)) == "failed"
    target.refresh_from_db()
    assert target.status == "failed" and "no space named 'Nowhere'" in target.last_error


def test_rules_assign_all_instances_by_tag_or_region_and_one_baseline_per_instance(
    make_sim_instance,
):
    insts = [enlist_sim(make_sim_instance(spaces=1), region=r) for r in ("eu", "us", "")]
    tag = Tag.objects.create(name="prod")
    insts[2].tags.add(tag)
    first = baselines.create_baseline("EU", {"retention": {"days": 10}})
    made = baselines.set_rules(first, regions=["eu"], tags=["prod"])
    assert {t.instance_id for t in made} == {insts[0].pk, insts[2].pk}
    second = baselines.create_baseline("Everyone", {"retention": {"days": 20}})
    made = baselines.set_rules(second, all_instances=True)
    assert [t.instance_id for t in made] == [insts[1].pk]
    with pytest.raises(BaselineInvalid, match="Already following"):
        baselines.assign(second, [insts[0]])
    with pytest.raises(BaselineInvalid, match="No such instance tag"):
        baselines.set_rules(first, tags=["nope"])


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"smtp": {"host": "", "port": 25}}, "smtp: host is required"),
        ({"smtp": {"host": "h", "port": 70000}}, "port"),
        ({"subscriptions": [{"name": "x"}]}, "webhook_uri, email_teams"),
        ({"subscriptions": [{"name": "x", "webhook_uri": "ftp://x"}]}, "http(s) URL"),
        ({"authentication": {"ldap": True}}, "unknown provider"),
        ({"retention": {"days": -1}}, "retention: days"),
        ({"colour": "red"}, "Unknown part"),
    ],
)
def test_a_bad_document_is_refused_with_its_reason(doc, message):
    with pytest.raises(BaselineInvalid, match=message.replace("(", r"\(").replace(")", r"\)")):
        baselines.create_baseline("Bad", doc)
    assert not InstanceBaseline.objects.exists()
