"""Grants by tag or region to one person, and an invitation's, are rules for that person: an
instance tagged later gives them the grant too, and their own Octopus team follows (octosim
over real HTTP)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from allauth.socialaccount.models import SocialApp
from django.test import Client

from audit.models import AuditEntry
from identity import tasks
from identity.models import Grant, GrantRule, Invitation, Role, User
from identity.services import grant_rules, invitations, people, teams
from spaces.models import Instance, Tag
from spaces.services import update_instance
from tests.conftest import PASSWORD, make_user
from tests.identity.conftest import managed_teams

pytestmark = pytest.mark.django_db

ALICE_DEPLOYER = "ODCM · alice alone (Deployer)"
ALICE_VIEWER = "ODCM · alice alone (Viewer)"


def _teams(inst: Instance) -> dict[str, dict[str, list[str]]]:
    """Team name -> member ids, per Octopus space of ``inst``."""
    return {
        sp.octopus_id: {t["Name"]: t["MemberUserIds"] for t in managed_teams(inst, sp.octopus_id)}
        for sp in inst.spaces.order_by("octopus_id")
    }


def _push(inst: Instance) -> None:
    teams.sync_spaces([s.pk for s in inst.spaces.all()])


def test_a_persons_grant_by_tag_reaches_an_instance_tagged_later(
    enlisted: Instance,
    admin_user: User,
    eager_celery: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    alice = make_user("alice")  # Users-3 in octosim
    Tag.objects.create(name="prod")  # carried by no instance yet
    admin = Client()
    admin.force_login(admin_user)
    page = admin.post(
        "/access/grants/person/",
        {"person": "alice", "role": "deployer", "target": "t:prod"},
        follow=True,
    ).content.decode()
    assert "alice now follows every instance tagged prod" in page
    assert "those tagged or moved later will be granted" in page
    rule = GrantRule.objects.get()
    assert (rule.user, rule.group, rule.role) == (alice, None, Role.DEPLOYER)
    assert not Grant.objects.exists()
    person_page = admin.get(f"/access/users/{alice.uuid}/").content.decode()
    assert 'data-testid="grant-rule"' in person_page and "follows tag prod" in person_page

    # Tagged later (the registry's one update service): alice gains the grant, her own team.
    with django_capture_on_commit_callbacks(execute=True):
        update_instance(enlisted, tags=["prod"], actor=admin_user)
    made = Grant.objects.get(rule=rule, revoked_at__isnull=True)
    assert (made.user, made.instance_id) == (alice, enlisted.pk)
    _push(enlisted)
    every = _teams(enlisted)
    assert every and all(names.get(ALICE_DEPLOYER) == ["Users-3"] for names in every.values())
    html = admin.get(f"/access/users/{alice.uuid}/").content.decode()
    assert f"{enlisted.spaces.count()} spaces now" in html and "by the rule" in html

    # Untagged: the rule's grant goes, with the team.
    with django_capture_on_commit_callbacks(execute=True):
        update_instance(enlisted, tags=[], actor=admin_user)
    made.refresh_from_db()
    assert made.revoked_at is not None
    _push(enlisted)
    assert not any(ALICE_DEPLOYER in names for names in _teams(enlisted).values())

    # Removing the rule from the person's page goes back to that page.
    removed = admin.post(f"/access/grant-rules/{rule.pk}/delete/")
    assert removed.status_code == 302 and removed["Location"].endswith(f"/{alice.uuid}/")
    assert not GrantRule.objects.exists()
    after = AuditEntry.objects.filter(action="grant_rule.create").get().changes["after"]
    assert after["user"] == "alice" and "group" not in after


def test_the_periodic_task_grants_a_person_an_instance_moved_into_the_region(
    enlisted: Instance, admin_user: User
) -> None:
    alice = make_user("alice")
    rule, done = grant_rules.create_rule(alice, Role.VIEWER, "region", "emea", actor=admin_user)
    assert done.granted == []
    Instance.objects.filter(pk=enlisted.pk).update(region="emea")  # moved without the service
    assert tasks.apply_grant_rules() == 1
    assert tasks.apply_grant_rules() == 0
    assert Grant.objects.get(rule=rule).user == alice
    with pytest.raises(grant_rules.GrantError, match="alice already has this role on every"):
        grant_rules.create_rule(alice, Role.VIEWER, "region", "emea")


def test_a_deactivated_persons_rule_grants_nothing_new(enlisted: Instance, admin_user: User):
    alice = make_user("alice")
    rule, _ = grant_rules.create_rule(alice, Role.VIEWER, "tag", "prod")
    people.deactivate(alice, actor=admin_user)
    enlisted.tags.add(Tag.objects.create(name="prod"))
    assert tasks.apply_grant_rules() == 0
    assert not Grant.objects.filter(rule=rule).exists()
    alice.refresh_from_db()
    with pytest.raises(grant_rules.GrantError, match="deactivated"):
        grant_rules.create_rule(alice, Role.VIEWER, "tag", "other")


def test_the_api_makes_a_rule_for_one_person(
    enlisted: Instance, make_group: Callable[..., Any], admin_user: User, api_client: Any
) -> None:
    alice = make_user("alice")
    group = make_group("Ops")
    enlisted.tags.add(Tag.objects.create(name="prod"))
    api_client.force_authenticate(admin_user)
    body = {"role": "viewer", "selector": "tag", "value": "prod"}
    made = api_client.post("/api/v1/grant-rules/", {**body, "user": str(alice.uuid)}, format="json")
    assert made.status_code == 201, made.content
    data = made.json()
    assert (data["user"], data["username"], data["group"]) == (str(alice.uuid), "alice", None)
    assert data["instances_granted"] == 1
    both = {**body, "user": str(alice.uuid), "group": str(group.pk)}
    for bad in (body, both):
        refused = api_client.post("/api/v1/grant-rules/", bad, format="json")
        assert refused.status_code == 400 and "group" in refused.json()["errors"], refused.json()
    listed = api_client.get("/api/v1/grant-rules/", {"user": str(alice.uuid)}).json()
    assert [r["username"] for r in listed["results"]] == ["alice"]
    assert GrantRule.objects.count() == 1


@pytest.fixture
def provider() -> SocialApp:
    return SocialApp.objects.create(
        provider="openid_connect",
        provider_id="partnerco",
        name="PartnerCo",
        client_id="odcm",
        secret="s3cret-of-the-test-app",
        settings={"server_url": "https://login.partner.example"},
    )


def test_an_invitations_grant_by_tag_becomes_a_rule_for_the_person_who_accepts(
    enlisted: Instance,
    provider: SocialApp,
    admin_user: User,
    eager_celery: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    Tag.objects.create(name="prod")
    admin = Client()
    admin.force_login(admin_user)
    made = admin.post(
        "/access/invitations/",
        {"invite-email": "alice@example.com", "invite-provider": "partnerco",
         "invite-days": 7, "invite-role": "viewer", "invite-target": "t:prod"},
    )  # fmt: skip
    assert made.status_code == 302
    invitation = Invitation.objects.get()
    assert invitation.grants == [{"role": "viewer", "scope": {}, "tag": "prod"}]
    listed = admin.get("/access/invitations/").content.decode()
    assert "viewer on every instance tagged prod" in listed
    _, token = invitations.create(
        email="alice@example.com",
        provider="partnerco",
        grants=invitation.grants,
        actor=admin_user,
    )  # fmt: skip  (a second one: the first link's secret was only emailed)

    alice = make_user("alice")  # alice@example.com, Users-3 in octosim
    browser = Client()
    assert browser.post("/accounts/login/", {"login": "alice", "password": PASSWORD}).status_code
    browser.get(f"/invitations/{token}/")
    session = browser.session
    session[invitations.SIGNED_IN_VIA] = "partnerco"  # as a sign-in through PartnerCo notes it
    session.save()
    assert browser.get(f"/invitations/{token}/accept/").status_code == 302
    rule = GrantRule.objects.get()
    assert (rule.user, rule.role, rule.selector, rule.value) == (alice, "viewer", "tag", "prod")

    with django_capture_on_commit_callbacks(execute=True):
        update_instance(enlisted, tags=["prod"], actor=admin_user)
    assert Grant.objects.get(rule=rule, revoked_at__isnull=True).user == alice
    _push(enlisted)
    every = _teams(enlisted)
    assert every and all(names.get(ALICE_VIEWER) == ["Users-3"] for names in every.values())


def test_an_invitations_tag_grant_is_checked(provider: SocialApp, admin_user: User) -> None:
    for bad, says in (
        ({"role": "viewer", "tag": ""}, "one space, one instance, one tag or one region"),
        ({"role": "viewer", "tag": "a", "region": "b"}, "one tag or one region"),
        ({"role": "viewer", "region": "x" * 101}, "at most 100 characters"),
        ({"role": "viewer", "tag": ["prod"]}, "Name the tag"),
    ):
        with pytest.raises(invitations.InvitationError, match=says):
            invitations.create(
                email="pat@partner.example", provider="partnerco", grants=[bad], actor=admin_user
            )
    assert not Invitation.objects.exists()
