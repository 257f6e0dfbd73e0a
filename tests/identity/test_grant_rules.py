"""Grant rules follow the fleet: an instance tagged (or moved into a region) later gains the
rule's grant, pushed into Octopus teams through the normal path; one untagged loses it; grants
chosen explicitly are never touched. Against octosim over real HTTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from audit.models import AuditEntry
from identity import services, tasks
from identity.models import Grant, GrantRule, Role
from identity.services import grant_rules, teams
from spaces.models import Instance, Tag
from spaces.services import update_instance
from tests.identity.conftest import managed_teams

pytestmark = pytest.mark.django_db

DEPLOYER_TEAM = "ODCM · Ops (Deployer)"
VIEWER_TEAM = "ODCM · Ops (Viewer)"


def _teams(inst: Instance) -> dict[str, set[str]]:
    """Team names per Octopus space of ``inst``."""
    return {
        sp.octopus_id: {t["Name"] for t in managed_teams(inst, sp.octopus_id)}
        for sp in inst.spaces.order_by("octopus_id")
    }


def _push(inst: Instance) -> None:
    teams.sync_spaces([s.pk for s in inst.spaces.all()])


def test_an_instance_tagged_later_gains_the_rules_grant_and_untagged_loses_only_that(
    enlisted: Instance,
    make_group: Callable[..., Any],
    eager_celery: None,
    django_capture_on_commit_callbacks: Any,
    admin_user: Any,
) -> None:
    group = make_group("Ops")
    first = enlisted.spaces.order_by("octopus_id").first()
    assert first is not None
    explicit = services.grant(group, Role.VIEWER, space=first)
    rule, done = grant_rules.create_rule(group, Role.DEPLOYER, "tag", "prod", actor=admin_user)
    assert done.granted == [] and grant_rules.space_count(rule) == 0

    # Tagging the instance (the registry's one update service) applies the rule at once.
    with django_capture_on_commit_callbacks(execute=True):
        update_instance(enlisted, tags=["prod"], actor=admin_user)
    made = Grant.objects.get(rule=rule, revoked_at__isnull=True)
    assert made.instance_id == enlisted.pk and made.role == Role.DEPLOYER
    _push(enlisted)
    every = _teams(enlisted)
    assert all(DEPLOYER_TEAM in names for names in every.values())
    assert VIEWER_TEAM in every[first.octopus_id]
    assert grant_rules.space_count(rule) == enlisted.spaces.count()
    page = Client()
    page.force_login(admin_user)
    html = page.get(f"/access/groups/{group.pk}/").content.decode()
    assert f"{enlisted.spaces.count()} spaces now" in html and "by the rule" in html

    # Untagged: the rule's grant goes, with its teams; the explicit grant stays.
    with django_capture_on_commit_callbacks(execute=True):
        update_instance(enlisted, tags=[], actor=admin_user)
    made.refresh_from_db()
    assert made.revoked_at is not None
    explicit.refresh_from_db()
    assert explicit.revoked_at is None
    _push(enlisted)
    every = _teams(enlisted)
    assert not any(DEPLOYER_TEAM in names for names in every.values())
    assert VIEWER_TEAM in every[first.octopus_id]
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"grant_rule.create", "grant_rule.apply", "grant.create", "grant.revoke"} <= actions


def test_a_region_rule_leaves_an_explicit_instance_grant_alone_and_is_idempotent(
    enlisted: Instance, make_group: Callable[..., Any]
) -> None:
    Instance.objects.filter(pk=enlisted.pk).update(region="emea")
    group = make_group("Ops")
    explicit = services.grant(group, Role.VIEWER, instance=enlisted)
    rule, done = grant_rules.create_rule(group, Role.VIEWER, "region", "emea")
    assert done.granted == []  # already granted explicitly: the rule adds nothing
    assert tasks.apply_grant_rules() == 0  # the periodic task: nothing to change
    Instance.objects.filter(pk=enlisted.pk).update(region="apac")  # moved without the service
    assert tasks.apply_grant_rules() == 0  # the rule made nothing, so it revokes nothing
    explicit.refresh_from_db()
    assert explicit.revoked_at is None
    # Back in the region, after the explicit grant is revoked: the periodic task grants it.
    services.revoke(explicit)
    Instance.objects.filter(pk=enlisted.pk).update(region="emea")
    assert tasks.apply_grant_rules() == 1
    assert tasks.apply_grant_rules() == 0
    assert Grant.objects.filter(rule=rule, revoked_at__isnull=True).count() == 1


def test_the_grant_form_by_tag_makes_a_rule_and_removing_it_revokes_only_its_grants(
    enlisted: Instance, make_group: Callable[..., Any], admin_user: Any
) -> None:
    enlisted.tags.add(Tag.objects.create(name="prod"))
    group = make_group("Ops")
    explicit = services.grant(group, Role.MANAGER, instance=enlisted)
    client = Client()
    client.force_login(admin_user)
    page = client.post(
        f"/access/groups/{group.pk}/grants/",
        {"grant-role": "deployer", "grant-target": "t:prod"},
        follow=True,
    ).content.decode()
    assert "now follows every instance tagged prod" in page
    rule = GrantRule.objects.get(group=group)
    assert Grant.objects.filter(rule=rule, revoked_at__isnull=True).count() == 1
    assert (
        "Deployer on every instance tagged prod" in client.get("/access/groups/").content.decode()
    )
    again = client.post(
        f"/access/groups/{group.pk}/grants/",
        {"grant-role": "deployer", "grant-target": "t:prod"},
        follow=True,
    ).content.decode()
    assert "already has this role on every instance tagged prod" in again
    client.post(f"/access/grant-rules/{rule.pk}/delete/")
    assert not GrantRule.objects.exists()
    assert not Grant.objects.filter(role=Role.DEPLOYER, revoked_at__isnull=True).exists()
    explicit.refresh_from_db()
    assert explicit.revoked_at is None


def test_the_api_makes_lists_and_deletes_rules_for_administrators(
    enlisted: Instance, make_group: Callable[..., Any], admin_user: Any, member: Any,
    token_for: Any,
) -> None:  # fmt: skip
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    enlisted.tags.add(Tag.objects.create(name="prod"))
    Instance.objects.filter(pk=enlisted.pk).update(region="emea")
    group = make_group("Ops")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(admin_user)}")
    url = "/api/v1/grant-rules/"
    body = {"group": str(group.pk), "role": "viewer", "selector": "tag", "value": "prod"}
    made = api.post(url, body, format="json")
    assert made.status_code == 201, made.content
    assert made.json()["instances_granted"] == 1
    assert made.json()["label"] == "every instance tagged prod"
    grants = api.get("/api/v1/grants/", {"group": str(group.pk)}).json()["results"]
    assert [g["rule"] for g in grants] == [made.json()["id"]]
    assert api.post(url, body, format="json").status_code == 400
    bad = api.post(url, {**body, "scope": {"colours": ["red"]}}, format="json")
    assert bad.status_code == 400 and "scope" in bad.json()["errors"]
    # A second rule reaching the same instance: removing the first hands the grant over.
    api.post(url, {**body, "selector": "region", "value": "emea"}, format="json")
    with CaptureQueriesContext(connection) as two:
        assert api.get(url).json()["count"] == 2
    api.post(url, {**body, "selector": "region", "value": "apac"}, format="json")
    with CaptureQueriesContext(connection) as three:
        assert api.get(url).json()["count"] == 3
    assert len(three.captured_queries) == len(two.captured_queries)
    assert api.get(url, {"selector": "colour"}).status_code == 400

    stranger = APIClient()
    stranger.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(member)}")
    assert stranger.get(url).status_code == 403
    assert api.delete(f"{url}{made.json()['id']}/").status_code == 204
    (held,) = Grant.objects.filter(group=group, revoked_at__isnull=True)
    assert held.rule == GrantRule.objects.get(value="emea")
    assert tasks.apply_grant_rules() == 0
