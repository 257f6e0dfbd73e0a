"""Grants to one person, grant scopes and grant rules in the fleet configuration file."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from fleetconfig.models import Plan
from fleetconfig.services import apply_plan, export_text, make_plan, plan_and_apply
from identity.models import Grant, GrantRule
from tests.conftest import make_user

from .conftest import wipe

pytestmark = pytest.mark.django_db(transaction=True)


def _space_of(doc: dict[str, Any]) -> str:
    return str(doc["trusts"][0]["publisher"]["space"])


def test_the_export_holds_person_grants_scopes_and_grant_rules(fleet: dict[str, Any]) -> None:
    doc = yaml.safe_load(export_text())
    assert doc["people"] == [
        {
            "user": "mia",
            "grants": [
                {
                    "role": "deployer",
                    "instance": "cfg-a",
                    "space": _space_of(doc),
                    "scope": {"environments": ["Production"]},
                }
            ],
        }
    ]
    platform = doc["groups"][0]
    assert platform["grant_rules"] == [{"role": "viewer", "region": "emea"}]
    # The rule's own grant (viewer on cfg-a) is declared by the rule, not as a grant.
    assert {"role": "viewer", "instance": "cfg-a"} not in platform["grants"]


def test_an_export_applied_again_is_a_no_op_and_to_an_empty_odcm_reproduces_it(
    fleet: dict[str, Any],
) -> None:
    before = export_text()
    plan = make_plan(before)
    assert plan.change_count == 0, plan.changes
    wipe()
    assert not Grant.objects.filter(revoked_at__isnull=True).exists()
    assert plan_and_apply(before).status == Plan.Status.APPLIED
    assert export_text() == before
    mine = Grant.objects.get(user__username="mia", revoked_at__isnull=True)
    assert mine.scope == {"environments": ["Production"]}
    rule = GrantRule.objects.get(group__name="Platform")
    assert rule.grants.filter(revoked_at__isnull=True, instance__name="cfg-a").exists()
    assert make_plan(before).change_count == 0


def test_apply_gives_a_person_a_scoped_grant_and_changes_its_scope(
    fleet: dict[str, Any],
) -> None:
    make_user("pat")
    doc = yaml.safe_load(export_text())
    scope = {"environments": ["Test"], "tenants": ["Acme"]}
    doc["people"].append(
        {"user": "pat", "grants": [{"role": "viewer", "instance": "cfg-b", "scope": scope}]}
    )
    plan = make_plan(yaml.safe_dump(doc))
    (change,) = [c for c in plan.changes if c["action"] != "unmanaged"]
    assert (change["action"], change["kind"], change["key"]) == (
        "create",
        "person_grant",
        "pat: viewer on cfg-b",
    )
    assert apply_plan(plan).status == Plan.Status.APPLIED, plan.result
    row = Grant.objects.get(user__username="pat", revoked_at__isnull=True)
    assert (row.role, row.instance.name, row.scope) == ("viewer", "cfg-b", scope)  # type: ignore[union-attr]
    assert make_plan(yaml.safe_dump(doc)).change_count == 0
    # A changed scope is a change of the grant: applied, it replaces the grant.
    doc["people"][-1]["grants"][0]["scope"] = {"environments": ["Production"]}
    plan = make_plan(yaml.safe_dump(doc))
    (change,) = [c for c in plan.changes if c["action"] != "unmanaged"]
    assert change["action"] == "change"
    assert {r["field"] for r in change["fields"]} == {"scope.environments", "scope.tenants"}
    apply_plan(plan)
    row = Grant.objects.get(user__username="pat", revoked_at__isnull=True)
    assert row.scope == {"environments": ["Production"]}
    assert make_plan(yaml.safe_dump(doc)).change_count == 0


def test_an_unknown_person_is_refused_with_its_line_and_nothing_is_written(
    fleet: dict[str, Any],
) -> None:
    doc = yaml.safe_load(export_text())
    doc["people"].append({"user": "ghost", "grants": [{"role": "viewer", "instance": "cfg-b"}]})
    doc["groups"][0]["description"] = "Would change too"
    text = yaml.safe_dump(doc, sort_keys=False)
    grants_before = set(Grant.objects.values_list("pk", "revoked_at"))
    plan = plan_and_apply(text)
    assert plan.status == Plan.Status.INVALID
    (issue,) = plan.issues
    assert "No user named 'ghost'" in issue["message"]
    assert issue["line"] == text.splitlines().index("- user: ghost") + 1
    assert set(Grant.objects.values_list("pk", "revoked_at")) == grants_before
    assert fleet["instances"][0].grants.model.objects.filter(user__username="ghost").count() == 0
    from identity.models import Group

    assert Group.objects.get(name="Platform").description == ""


def test_a_grant_rule_is_created_and_pruned_by_configuration(fleet: dict[str, Any]) -> None:
    doc = yaml.safe_load(export_text())
    doc["groups"][0]["grant_rules"].append(
        {"role": "deployer", "tag": "eu", "scope": {"projects": ["Web"]}}
    )
    assert plan_and_apply(yaml.safe_dump(doc)).status == Plan.Status.APPLIED
    rule = GrantRule.objects.get(group__name="Platform", role="deployer")
    assert (rule.selector, rule.value, rule.scope) == ("tag", "eu", {"projects": ["Web"]})
    made = rule.grants.get(revoked_at__isnull=True)
    assert made.instance.name == "cfg-a" and made.scope == {"projects": ["Web"]}  # type: ignore[union-attr]
    assert make_plan(yaml.safe_dump(doc)).change_count == 0
    doc["groups"][0]["grant_rules"].pop()
    assert plan_and_apply(yaml.safe_dump(doc), prune=True).status == Plan.Status.APPLIED
    assert not GrantRule.objects.filter(role="deployer").exists()
    made.refresh_from_db()
    assert made.revoked_at is not None


def test_a_persons_grant_rule_is_exported_applied_and_pruned(fleet: dict[str, Any]) -> None:
    doc = yaml.safe_load(export_text())
    (mia,) = doc["people"]
    mia["grant_rules"] = [{"role": "deployer", "tag": "eu", "scope": {"projects": ["Web"]}}]
    plan = make_plan(yaml.safe_dump(doc))
    (change,) = [c for c in plan.changes if c["action"] != "unmanaged"]
    assert (change["action"], change["kind"], change["key"]) == (
        "create",
        "person_grant_rule",
        "mia: deployer on every instance tagged eu",
    )
    assert apply_plan(plan).status == Plan.Status.APPLIED, plan.result
    rule = GrantRule.objects.get(user__username="mia")
    assert (rule.group, rule.selector, rule.value) == (None, "tag", "eu")
    made = rule.grants.get(revoked_at__isnull=True)
    assert made.instance.name == "cfg-a" and made.user.username == "mia"  # type: ignore[union-attr]
    exported = yaml.safe_load(export_text())
    assert exported["people"][0]["grant_rules"] == mia["grant_rules"]
    # The rule's grant is declared by the rule, not as one of mia's grants.
    assert exported["people"][0]["grants"] == mia["grants"]
    assert make_plan(yaml.safe_dump(doc)).change_count == 0
    del mia["grant_rules"]
    assert plan_and_apply(yaml.safe_dump(doc), prune=True).status == Plan.Status.APPLIED
    assert not GrantRule.objects.filter(user__username="mia").exists()
    made.refresh_from_db()
    assert made.revoked_at is not None
