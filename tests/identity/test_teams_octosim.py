"""Grants pushed into Octopus as managed teams, against octosim over real HTTP."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from audit.models import AuditEntry
from identity import services, tasks
from identity.models import GrantTarget, ManagedTeam, Role, SyncState, group_claim_value
from identity.services import teams
from octosim.testing import SimInstance
from odcm.clients import client_for
from spaces.models import Instance, Space
from tests.conftest import make_user
from tests.identity.conftest import enlist_sim, managed_teams

PLATFORM_DN = "CN=Platform,OU=Groups,DC=example,DC=com"


def space(inst: Instance, octopus_id: str = "Spaces-2") -> Space:
    return Space.objects.get(instance=inst, octopus_id=octopus_id)


@pytest.mark.django_db
def test_grant_creates_team_with_external_groups_members_and_scoped_roles(enlisted, make_group):
    alice = make_user("alice")  # Users-3 in octosim, matched by username
    bobby = make_user("bobby")  # Users-4, matched by email
    bobby.email = "bob@example.com"
    bobby.save()
    stranger = make_user("zed")  # not in Octopus: left out
    group = make_group("Platform engineers", [alice, bobby, stranger], [PLATFORM_DN])
    target = space(enlisted)
    grant = services.grant(group, Role.DEPLOYER, space=target)

    teams.sync_spaces([target.pk])

    (team,) = managed_teams(enlisted, "Spaces-2")
    assert team["Name"] == "ODCM · Platform engineers (Deployer)"
    assert team["SpaceId"] == "Spaces-2"
    assert sorted(team["MemberUserIds"]) == ["Users-3", "Users-4"]
    # The LDAP group, and the group's own value in the id_tokens ODCM issues (sign-in
    # through ODCM lands a person in exactly this team).
    assert [(g["Id"], g["DisplayName"]) for g in team["ExternalSecurityGroups"]] == [
        (PLATFORM_DN, PLATFORM_DN),
        (group_claim_value(group.pk), "ODCM: Platform engineers"),
    ]
    # The default Deployer mapping names two roles real Octopus ships, and octosim has both.
    assert sorted(team["Roles"]) == [
        ("userroles-deploymentcreator", "Spaces-2"),
        ("userroles-projectdeployer", "Spaces-2"),
    ]
    state = GrantTarget.objects.get(grant=grant, space=target)
    assert state.state == SyncState.APPLIED
    assert "not found" not in state.last_error  # no role warning on a demo grant
    # zed has no Octopus account: applied, but saying who was left out and why.
    assert "left out zed: no Octopus user" in state.last_error
    admin = Client()
    admin.force_login(make_user("root", admin=True))
    page = admin.get(f"/access/groups/{group.pk}/").content.decode()
    assert "Applied, with warnings" in page and "left out zed" in page
    # Other spaces untouched.
    assert managed_teams(enlisted, "Spaces-3") == []


@pytest.mark.django_db
def test_instance_grant_reaches_every_enlisted_space(enlisted, make_group):
    group = make_group("Auditors")
    grant = services.grant(group, Role.VIEWER, instance=enlisted)
    teams.sync_spaces([s.pk for s in enlisted.spaces.all()])
    for sp in enlisted.spaces.all():
        (team,) = managed_teams(enlisted, sp.octopus_id)
        assert team["Roles"] == [("userroles-projectviewer", sp.octopus_id)]
    assert grant.targets.filter(state=SyncState.APPLIED).count() == enlisted.spaces.count()


@pytest.mark.django_db
def test_revoke_removes_the_team_and_leaves_other_teams_alone(enlisted, make_group):
    target = space(enlisted)
    with client_for(enlisted) as client:
        theirs = client.post(
            "/api/teams",
            {"Name": "Hand made", "SpaceId": "Spaces-2", "MemberUserIds": ["Users-5"],
             "ExternalSecurityGroups": []},
        )  # fmt: skip
    group = make_group("Release managers")
    grant = services.grant(group, Role.MANAGER, space=target)
    teams.sync_spaces([target.pk])
    assert len(managed_teams(enlisted, "Spaces-2")) == 1

    services.revoke(grant)
    teams.sync_spaces([target.pk])

    assert managed_teams(enlisted, "Spaces-2") == []
    assert not ManagedTeam.objects.exists()
    assert GrantTarget.objects.get(grant=grant).state == SyncState.APPLIED
    with client_for(enlisted) as client:
        still = client.get(f"/api/teams/{theirs['Id']}")
    assert still["MemberUserIds"] == ["Users-5"]


@pytest.mark.django_db
def test_group_changes_follow_into_octopus(enlisted, make_group):
    group = make_group("Ops", [make_user("carol")])
    target = space(enlisted)
    grant = services.grant(group, Role.VIEWER, space=target)
    teams.sync_spaces([target.pk])
    state = GrantTarget.objects.get(grant=grant, space=target)
    assert state.state == SyncState.APPLIED

    services.update_group(
        group, name="Operations", members=[make_user("dave")], external_groups=["ops-team"]
    )
    # Until the push lands, the grant is not "applied" in that space: dave is not in the team.
    state.refresh_from_db()
    assert state.state == SyncState.PENDING
    teams.sync_spaces([target.pk])
    state.refresh_from_db()
    assert state.state == SyncState.APPLIED

    (team,) = managed_teams(enlisted, "Spaces-2")
    assert team["Name"] == "ODCM · Operations (Viewer)"
    assert team["MemberUserIds"] == ["Users-6"]
    assert [(g["Id"], g["DisplayName"]) for g in team["ExternalSecurityGroups"]] == [
        (group_claim_value(group.pk), "ODCM: Operations"),
        ("ops-team", "ops-team"),
    ]


@pytest.mark.django_db
def test_reconcile_puts_back_an_edited_team_and_reports_it(
    enlisted, make_group, sim_instance: SimInstance, eager_celery
):
    group = make_group("Platform", [make_user("alice")], [PLATFORM_DN])
    target = space(enlisted)
    services.grant(group, Role.DEPLOYER, space=target)
    teams.sync_spaces([target.pk])
    (team,) = managed_teams(enlisted, "Spaces-2")

    sim_instance.edit_team(team["Id"], Name="Renamed by hand", MemberUserIds=["Users-7"])
    with client_for(enlisted) as client:
        for role in client.paginate(f"/api/teams/{team['Id']}/scopeduserroles"):
            client.delete(f"/api/scopeduserroles/{role['Id']}")
        client.post(
            "/api/scopeduserroles",
            {"TeamId": team["Id"], "UserRoleId": "userroles-spacemanager", "SpaceId": "Spaces-2"},
        )

    tasks.reconcile()

    (repaired,) = managed_teams(enlisted, "Spaces-2")
    assert repaired["Id"] == team["Id"]
    assert repaired["Name"] == "ODCM · Platform (Deployer)"
    assert repaired["MemberUserIds"] == ["Users-3"]
    assert sorted(repaired["Roles"]) == [
        ("userroles-deploymentcreator", "Spaces-2"),
        ("userroles-projectdeployer", "Spaces-2"),
    ]
    entry = AuditEntry.objects.get(action="octopus_team.repair")
    assert "Name" in entry.message and "MemberUserIds" in entry.message


@pytest.mark.django_db
def test_reconcile_recreates_a_deleted_team(enlisted, make_group, eager_celery):
    group = make_group("Platform")
    target = space(enlisted)
    services.grant(group, Role.VIEWER, space=target)
    teams.sync_spaces([target.pk])
    (team,) = managed_teams(enlisted, "Spaces-2")
    with client_for(enlisted) as client:
        client.delete(f"/api/teams/{team['Id']}")

    tasks.reconcile()

    (again,) = managed_teams(enlisted, "Spaces-2")
    assert again["Id"] != team["Id"]
    assert again["Roles"] == [("userroles-projectviewer", "Spaces-2")]
    assert "deleted in Octopus" in AuditEntry.objects.get(action="octopus_team.repair").message


@pytest.mark.django_db
def test_reconcile_without_drift_changes_nothing(enlisted, make_group, sim_instance, eager_celery):
    group = make_group("Platform", [make_user("alice")])
    target = space(enlisted)
    services.grant(group, Role.VIEWER, space=target)
    teams.sync_spaces([target.pk])
    sim_instance.reset_stats()
    tasks.reconcile()
    stats = sim_instance.stats()
    writes = {k: v for k, v in stats.get("by_method", {}).items() if k != "GET"}
    assert not writes, stats
    assert not AuditEntry.objects.filter(action="octopus_team.repair").exists()


@pytest.mark.django_db
def test_unreachable_instance_marks_grant_failed_with_the_error(
    enlisted, make_group, sim_instance, eager_celery
):
    sim_instance.set_faults(offline="refuse")
    group = make_group("Platform")
    target = space(enlisted)
    grant = services.grant(group, Role.VIEWER, space=target)
    teams.sync_spaces([target.pk])
    state = GrantTarget.objects.get(grant=grant)
    assert state.state == SyncState.FAILED
    assert state.attempts == 1
    assert state.next_retry_at is not None
    assert state.last_error
    sim_instance.clear_faults()
    ManagedTeam.objects.update(next_retry_at=None)
    tasks.retry_due()
    assert GrantTarget.objects.get(grant=grant).state == SyncState.APPLIED


def wait_for(check: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what or check}")


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_revoke_while_instance_is_offline_is_applied_once_it_is_back(
    octosim_server, make_sim_instance, start_process, tmp_path
):
    sim = make_sim_instance()
    inst = enlist_sim(sim)
    worker = start_process(
        [
            sys.executable, "-m", "celery", "-A", "odcm", "worker", "-B",
            "--schedule", str(tmp_path / "beat-schedule"), "--loglevel=INFO",
            "--concurrency=2", "--pool=prefork", "--without-gossip", "--without-mingle",
            "--without-heartbeat", f"--hostname=identity-{tmp_path.name}@%h",
        ],
        name="worker",
        ODCM_TEAM_SYNC_RETRY_SWEEP_SECONDS="2",
        ODCM_TEAM_SYNC_RETRY_BASE_SECONDS="1",
        ODCM_TEAM_SYNC_RETRY_MAX_SECONDS="2",
    )  # fmt: skip
    group = services.create_group(name="Platform", members=[make_user("alice")])
    target = space(inst)
    grant = services.grant(group, Role.DEPLOYER, space=target)
    wait_for(
        lambda: GrantTarget.objects.filter(grant=grant, state=SyncState.APPLIED).exists(),
        what="grant applied by the worker: " + worker.output()[-2000:],
    )
    assert len(managed_teams(inst, "Spaces-2")) == 1

    sim.set_faults(offline="refuse")
    services.revoke(grant)
    failed = wait_for(
        lambda: GrantTarget.objects.filter(grant=grant, state=SyncState.FAILED).first(),
        what="revoke to fail while offline",
    )
    assert failed.last_error
    assert ManagedTeam.objects.filter(wanted=False).exists()  # the revoke is remembered

    sim.clear_faults()
    wait_for(
        lambda: GrantTarget.objects.filter(grant=grant, state=SyncState.APPLIED).exists(),
        what="revoke applied once the instance is back",
    )
    assert managed_teams(inst, "Spaces-2") == []
    assert not ManagedTeam.objects.exists()


@pytest.mark.django_db
def test_deleting_a_group_removes_its_teams(enlisted, make_group):
    group = make_group("Short lived")
    services.grant(group, Role.VIEWER, instance=enlisted)
    spaces = [s.pk for s in enlisted.spaces.all()]
    teams.sync_spaces(spaces)
    assert len(managed_teams(enlisted, "Spaces-1")) == 1

    services.delete_group(group)
    teams.sync_spaces(spaces)

    for sp in enlisted.spaces.all():
        assert managed_teams(enlisted, sp.octopus_id) == []
    assert not ManagedTeam.objects.exists()


@pytest.mark.django_db
def test_one_sync_pushes_several_instances_in_parallel(make_sim_instance, make_group):
    first, second = enlist_sim(make_sim_instance()), enlist_sim(make_sim_instance())
    group = make_group("Everywhere", [make_user("erin")])
    for inst in (first, second):
        services.grant(group, Role.VIEWER, instance=inst)
    spaces = list(Space.objects.filter(instance__in=[first, second]).values_list("pk", flat=True))

    teams.sync_spaces(spaces)

    for inst in (first, second):
        for sp in inst.spaces.all():
            (team,) = managed_teams(inst, sp.octopus_id)
            assert team["MemberUserIds"] == ["Users-7"]
    assert not GrantTarget.objects.exclude(state=SyncState.APPLIED).exists()


@pytest.mark.django_db
def test_a_revoked_grant_whose_team_another_grant_still_wants_is_settled(enlisted, make_group):
    group = make_group("Overlap")
    target = space(enlisted)
    services.grant(group, Role.VIEWER, space=target)
    wider = services.grant(group, Role.VIEWER, instance=enlisted)
    every = [s.pk for s in enlisted.spaces.all()]
    teams.sync_spaces(every)

    services.revoke(wider)
    teams.sync_spaces(every)

    # Where the space grant still wants the team it stays, and the revoked grant has nothing
    # left to do there; elsewhere its team is gone.
    assert len(managed_teams(enlisted, target.octopus_id)) == 1
    assert GrantTarget.objects.get(grant=wider, space=target).state == SyncState.APPLIED
    assert not GrantTarget.objects.filter(grant=wider).exclude(state=SyncState.APPLIED).exists()
    assert all(managed_teams(enlisted, s.octopus_id) == [] for s in enlisted.spaces.all()
               if s.pk != target.pk)  # fmt: skip
