"""Export, plan and apply: the round trip, idempotence, field-level plans and prune."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from fleetconfig.models import ManagedObject, Plan
from fleetconfig.services import apply_plan, export_text, make_plan, plan_and_apply
from identity.models import Grant, Group
from sharing.models import SharedItem
from sharing.secrets import secrets_of
from sharing.services.items import latest
from spaces.models import Instance

from .conftest import SECRET, wipe

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_exports_of_one_state_are_byte_identical(fleet: dict[str, Any]) -> None:
    assert export_text() == export_text()


def test_export_names_secrets_only_by_reference(fleet: dict[str, Any]) -> None:
    text = export_text()
    assert SECRET not in text
    assert fleet["a"].api_key not in text and fleet["b"].api_key not in text
    doc = yaml.safe_load(text)
    inst = doc["instances"][0]
    assert inst["api_key"] == {"env": "OCTOPUS_API_KEY_CFG_A"}
    variables = doc["shared_items"][0]["content"]["variables"]
    assert {
        "name": "Db.Password",
        "type": "Sensitive",
        "value": {"env": "SECRET_COMMON_DB_PASSWORD"},
    } in variables


def test_plan_of_an_unchanged_state_is_empty(fleet: dict[str, Any]) -> None:
    plan = make_plan(export_text())
    assert plan.status == Plan.Status.PLANNED
    assert [c for c in plan.changes if c["action"] != "unmanaged"] == []


def test_export_applied_to_an_empty_odcm_reproduces_the_export(fleet: dict[str, Any]) -> None:
    before = export_text()
    wipe()
    assert not Instance.objects.exists()
    plan = plan_and_apply(before)
    assert plan.status == Plan.Status.APPLIED, plan.result
    assert export_text() == before
    item = SharedItem.objects.get(name="Common")
    assert SECRET in secrets_of(latest(item)).values()
    again = make_plan(before)
    assert again.change_count == 0


def test_a_changed_file_plans_and_applies_exactly_its_changes(fleet: dict[str, Any]) -> None:
    doc = yaml.safe_load(export_text())
    doc["groups"][0]["description"] = "Runs the platform"
    doc["groups"][0]["members"] = []
    doc["instances"][0]["tags"] = ["eu"]
    text = yaml.safe_dump(doc, sort_keys=False)
    plan = make_plan(text)
    changed = {(c["kind"], c["key"]): c for c in plan.changes if c["action"] == "change"}
    assert set(changed) == {("group", "Platform"), ("instance", "cfg-a")}
    fields = {
        r["field"]: (r["before"], r["after"]) for r in changed[("group", "Platform")]["fields"]
    }
    assert fields == {"description": ("", "Runs the platform"), "members": (["mia"], [])}
    line = text.splitlines().index("- name: cfg-a") + 1
    assert changed[("instance", "cfg-a")]["line"] == line
    apply_plan(plan)
    group = Group.objects.get(name="Platform")
    assert group.description == "Runs the platform" and not group.members.exists()
    assert list(Instance.objects.get(name="cfg-a").tags.values_list("name", flat=True)) == ["eu"]
    assert make_plan(yaml.safe_dump(doc)).change_count == 0


def test_a_changed_secret_is_planned_as_changed_without_its_value(
    fleet: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRET_COMMON_DB_PASSWORD", "another-secret-value-9911")
    plan = make_plan(export_text())
    (change,) = [c for c in plan.changes if c["action"] == "change"]
    assert change["kind"] == "shared_item"
    assert "another-secret-value-9911" not in str(plan.changes) and SECRET not in str(plan.changes)
    assert change["fields"][0]["after"] == "(changed)"
    apply_plan(plan)
    item = SharedItem.objects.get(name="Common")
    assert "another-secret-value-9911" in secrets_of(latest(item)).values()


def test_prune_deletes_only_what_an_apply_created(fleet: dict[str, Any]) -> None:
    doc = yaml.safe_load(export_text())
    doc["groups"].append({"name": "Auditors", "grants": [{"role": "viewer", "instance": "cfg-a"}]})
    apply_plan(make_plan(yaml.safe_dump(doc)))
    assert ManagedObject.objects.filter(kind="group", key="Auditors", created=True).exists()
    doc["groups"] = []
    kept = make_plan(yaml.safe_dump(doc))
    actions = {(c["kind"], c["key"]): c["action"] for c in kept.changes}
    assert actions[("group", "Auditors")] == "delete"  # shown, applied only with prune
    assert actions[("group", "Platform")] == "unmanaged"
    apply_plan(kept)
    assert Group.objects.filter(name="Auditors").exists()  # not without prune
    pruned = make_plan(yaml.safe_dump(doc), prune=True)
    actions = {(c["kind"], c["key"]): c["action"] for c in pruned.changes}
    assert actions[("group", "Auditors")] == "delete"
    assert actions[("group", "Platform")] == "unmanaged"
    apply_plan(pruned)
    assert not Group.objects.filter(name="Auditors").exists()
    assert Group.objects.filter(name="Platform").exists()
    assert Grant.objects.filter(group__name="Platform", revoked_at__isnull=True).count() == 3


def test_a_plan_is_refused_after_the_state_changed(fleet: dict[str, Any]) -> None:
    doc = yaml.safe_load(export_text())
    doc["groups"][0]["description"] = "Reviewed change"
    plan = make_plan(yaml.safe_dump(doc))
    Group.objects.filter(name="Platform").update(description="Someone else's edit")
    from fleetconfig.services import StalePlan

    with pytest.raises(StalePlan):
        apply_plan(plan)
    plan.refresh_from_db()
    assert plan.status == Plan.Status.STALE
    assert Group.objects.get(name="Platform").description == "Someone else's edit"


def test_export_reads_as_a_person_would_write_it(fleet: dict[str, Any]) -> None:
    print(export_text())
    doc = yaml.safe_load(export_text())
    assert list(doc) == [
        "version",
        "standard_environments",
        "role_mappings",
        "instances",
        "groups",
        "people",
        "service_accounts",
        "invitations",
        "trusts",
        "shared_items",
        "alert_settings",
    ]
    assert doc["standard_environments"] == ["Development", "Test", "Production"]
    assert doc["groups"][0]["grants"] == [
        {"role": "deployer", "instance": "cfg-a", "space": doc["trusts"][0]["publisher"]["space"]},
        {"role": "viewer", "instance": "cfg-b"},
    ]
