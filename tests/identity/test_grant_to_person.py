"""Grants to one person: their own managed team in octosim (over real HTTP), identity.access,
the API, the picker and the person page."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from audit.models import AuditEntry
from identity import access, services
from identity.idp import groups_of
from identity.models import Grant, GrantTarget, ManagedTeam, Role, SyncState, person_claim_value
from identity.services import people, teams
from spaces.models import Space
from tests.conftest import make_user
from tests.identity.conftest import managed_teams

pytestmark = pytest.mark.django_db


def test_a_grant_to_one_person_is_a_team_holding_just_them(
    enlisted, make_group, admin_user, api_client
):
    alice = make_user("alice")  # Users-3 in octosim
    bystander = make_user("bobby")
    make_group("Others", [bystander])
    target = Space.objects.get(instance=enlisted, octopus_id="Spaces-2")
    grant = services.grant(alice, Role.DEPLOYER, space=target, actor=admin_user)
    assert grant.user == alice and grant.group is None
    teams.sync_spaces([target.pk])

    (team,) = managed_teams(enlisted, "Spaces-2")
    assert team["Name"] == "ODCM · alice alone (Deployer)"
    assert team["MemberUserIds"] == ["Users-3"]
    assert [(g["Id"], g["DisplayName"]) for g in team["ExternalSecurityGroups"]] == [
        (person_claim_value(alice.uuid), "ODCM: alice")
    ]
    assert GrantTarget.objects.get(grant=grant).state == SyncState.APPLIED
    # Sign-in through ODCM claims the person's own value, so they land in that team.
    assert person_claim_value(alice.uuid) in groups_of(alice)
    assert person_claim_value(bystander.uuid) not in groups_of(bystander)
    # identity.access: the person, and nobody else, reaches the space.
    assert access.space_role(alice, target) == Role.DEPLOYER
    assert access.space_role(bystander, target) is None
    report = access.access_report(alice)
    assert [(r["space"].pk, r["role"]) for r in report] == [(target.pk, Role.DEPLOYER)]
    assert report[0]["grants"][0]["via"] == "directly"
    who = access.who_can_access(target)
    assert [(row["person"], row["users"]) for row in who["grants"]] == [(alice, ["alice"])]
    api_client.force_authenticate(admin_user)
    rows = api_client.get(f"/api/v1/spaces/{target.pk}/access/").json()["grants"]
    assert [(r["group"], r["user"], r["users"]) for r in rows] == [(None, "alice", ["alice"])]
    after = AuditEntry.objects.get(action="grant.create").changes["after"]
    assert after["user"] == "alice" and "group" not in after

    services.revoke(grant, actor=admin_user)
    teams.sync_spaces([target.pk])
    assert managed_teams(enlisted, "Spaces-2") == []
    assert access.space_role(alice, target) is None
    assert person_claim_value(alice.uuid) not in groups_of(alice)


def test_a_person_and_a_group_with_the_same_role_get_separate_teams(enlisted, make_group):
    alice = make_user("alice")
    group = make_group("Platform", [alice])
    target = Space.objects.get(instance=enlisted, octopus_id="Spaces-2")
    services.grant(group, Role.VIEWER, space=target)
    services.grant(alice, Role.VIEWER, instance=enlisted, scope={"environments": ["Test"]})
    teams.sync_spaces([target.pk])
    names = sorted(t["Name"] for t in managed_teams(enlisted, "Spaces-2"))
    assert names == ["ODCM · Platform (Viewer)", "ODCM · alice alone (Viewer)"]
    # Revoking the group's grant leaves the person's own team alone.
    services.revoke(Grant.objects.get(group=group))
    teams.sync_spaces([target.pk])
    names = [t["Name"] for t in managed_teams(enlisted, "Spaces-2")]
    assert names == ["ODCM · alice alone (Viewer)"]


def test_deactivating_a_person_empties_their_own_team(enlisted, admin_user):
    alice = make_user("alice")
    target = Space.objects.get(instance=enlisted, octopus_id="Spaces-2")
    services.grant(alice, Role.VIEWER, space=target)
    teams.sync_spaces([target.pk])
    assert managed_teams(enlisted, "Spaces-2")[0]["MemberUserIds"] == ["Users-3"]
    spaces = people.deactivate(alice, actor=admin_user)
    assert str(target.pk) in spaces
    teams.sync_spaces(spaces)
    assert managed_teams(enlisted, "Spaces-2")[0]["MemberUserIds"] == []
    with pytest.raises(services.GrantError, match="deactivated"):
        services.grant(alice, Role.VIEWER, space=target)


def test_a_grant_has_exactly_one_holder_in_the_database(enlisted, make_group):
    alice = make_user("alice")
    group = make_group("G")
    target = Space.objects.get(instance=enlisted, octopus_id="Spaces-2")
    for holder in ({"group": group, "user": alice}, {}):
        with pytest.raises(IntegrityError), transaction.atomic():
            Grant.objects.create(role=Role.VIEWER, space=target, **holder)
    services.grant(alice, Role.VIEWER, space=target)
    with pytest.raises(services.GrantError, match="alice already has this role"):
        services.grant(alice, Role.VIEWER, space=target)
    assert ManagedTeam.objects.filter(user=alice).count() == 1


def test_the_api_grants_to_a_person_by_uuid(enlisted, api_client, admin_user, make_group):
    alice = make_user("alice")
    target = Space.objects.get(instance=enlisted, octopus_id="Spaces-2")
    api_client.force_authenticate(admin_user)
    body = {"user": str(alice.uuid), "role": "viewer", "space": str(target.pk)}
    made = api_client.post("/api/v1/grants/", body, format="json")
    assert made.status_code == 201, made.content
    assert made.json()["username"] == "alice" and made.json()["group"] is None
    both = {**body, "group": str(make_group("G").pk)}
    refused = api_client.post("/api/v1/grants/", both, format="json")
    assert refused.status_code == 400 and "group" in refused.json()["errors"]
    listed = api_client.get("/api/v1/grants/", {"user": str(alice.uuid)}).json()
    assert [g["username"] for g in listed["results"]] == ["alice"]
    report = api_client.get(f"/api/v1/users/{alice.uuid}/access/").json()
    assert report["spaces"][0]["grants"] == [
        {"via": "directly", "role": "viewer", "target": "space", "scope": {}}
    ]


def test_the_picker_finds_people_and_the_page_grants_to_one(enlisted, login, admin_user):
    make_user("alice", first_name="Alice", last_name="Archer")
    make_user("alfred")
    client = login(admin_user)
    options = client.get("/access/users/search/", {"person": "arch"}).content.decode()
    assert 'value="alice"' in options and "alfred" not in options
    page = client.get("/access/grants/person/").content.decode()
    assert 'list="people-options"' in page and "hx-get" in page
    target = Space.objects.get(instance=enlisted, octopus_id="Spaces-2")
    response = client.post(
        "/access/grants/person/",
        {"person": "alice", "role": "deployer", "target": f"s:{target.pk}", "environments": "Test"},
    )
    assert response.status_code == 302
    grant = Grant.objects.get(user__username="alice")
    assert grant.scope == {"environments": ["Test"]}
    person = client.get(response["Location"]).content.decode()
    assert "deployer via directly" in person and "only environments Test" in person
    unknown = client.post(
        "/access/grants/person/", {"person": "nobody", "role": "viewer", "target": f"s:{target.pk}"}
    )
    assert unknown.status_code == 200 and "No active person" in unknown.content.decode()
