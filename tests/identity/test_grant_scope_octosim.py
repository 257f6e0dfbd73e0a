"""Grants narrowed inside a space (environments, projects, project groups, tenants by name),
pushed as the managed teams' scoped user roles into octosim over real HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from audit.models import AuditEntry
from identity import services
from identity.models import Grant, GrantTarget, Role, SyncState
from identity.services import teams
from odcm.clients import client_for
from spaces.models import Instance, Space
from tests.conftest import make_user
from tests.identity.conftest import managed_teams

pytestmark = pytest.mark.django_db

FIELDS = ("EnvironmentIds", "ProjectIds", "ProjectGroupIds", "TenantIds")


def _ids(inst: Instance, space_id: str, what: str) -> dict[str, str]:
    with client_for(inst) as client:
        return {d["Name"]: d["Id"] for d in client.get_all(f"/api/{space_id}/{what}")}


def _roles(inst: Instance, space_id: str) -> list[tuple[Any, ...]]:
    """(UserRoleId, EnvironmentIds, ProjectIds, ProjectGroupIds, TenantIds) of the space's one
    managed team."""
    (team,) = managed_teams(inst, space_id)
    with client_for(inst) as client:
        rows = client.paginate(f"/api/teams/{team['Id']}/scopeduserroles")
        return sorted(
            (r["UserRoleId"], *(tuple(sorted(r.get(f) or [])) for f in FIELDS)) for r in rows
        )


def test_an_instance_grant_narrowed_by_name_becomes_each_spaces_own_ids(enlisted, make_group):
    group = make_group("Release team")
    grant = services.grant(
        group,
        Role.VIEWER,
        instance=enlisted,
        scope={"environments": ["Production", "Nowhere", " Production "]},
    )
    assert grant.scope == {"environments": ["Nowhere", "Production"]}
    spaces = list(enlisted.spaces.order_by("octopus_id"))
    teams.sync_spaces([s.pk for s in spaces])
    seen = set()
    for sp in spaces:
        production = _ids(enlisted, sp.octopus_id, "environments")["Production"]
        seen.add(production)
        assert _roles(enlisted, sp.octopus_id) == [
            ("userroles-projectviewer", (production,), (), (), ())
        ]
        target = GrantTarget.objects.get(grant=grant, space=sp)
        assert target.state == SyncState.APPLIED
        assert "no environments named Nowhere" in target.last_error
    assert len(spaces) > 1 and len(seen) == len(spaces)  # each space's own id
    assert AuditEntry.objects.get(action="grant.create").changes["after"]["scope"] == grant.scope


def test_a_whole_space_grant_beside_a_narrowed_one_and_its_revoke(enlisted, make_group):
    group = make_group("Ops")
    target = Space.objects.get(instance=enlisted, octopus_id="Spaces-2")
    services.grant(group, Role.VIEWER, instance=enlisted, scope={"environments": ["Test"]})
    whole = services.grant(group, Role.VIEWER, space=target)
    teams.sync_spaces([target.pk])
    test_env = _ids(enlisted, "Spaces-2", "environments")["Test"]
    # One team, two scoped roles: the narrow one and the whole space.
    assert _roles(enlisted, "Spaces-2") == [
        ("userroles-projectviewer", (), (), (), ()),
        ("userroles-projectviewer", (test_env,), (), (), ()),
    ]
    services.revoke(whole)
    teams.sync_spaces([target.pk])
    assert _roles(enlisted, "Spaces-2") == [("userroles-projectviewer", (test_env,), (), (), ())]


def test_a_scope_with_no_name_in_the_space_is_never_widened_to_the_whole_space(
    enlisted, make_group
):
    group = make_group("Ghosts")
    target = Space.objects.get(instance=enlisted, octopus_id="Spaces-2")
    grant = services.grant(group, Role.VIEWER, space=target, scope={"tenants": ["No such"]})
    teams.sync_spaces([target.pk])
    state = GrantTarget.objects.get(grant=grant, space=target)
    assert state.state == SyncState.FAILED
    assert "gives nothing here" in state.last_error
    # No team with an unrestricted role was made (an empty TenantIds means every tenant).
    for team in managed_teams(enlisted, "Spaces-2"):
        assert team["Roles"] == []


def test_a_widened_scoped_role_is_put_back(enlisted, make_group):
    group = make_group("Narrow")
    target = Space.objects.get(instance=enlisted, octopus_id="Spaces-2")
    services.grant(group, Role.VIEWER, space=target, scope={"environments": ["Production"]})
    teams.sync_spaces([target.pk])
    production = _ids(enlisted, "Spaces-2", "environments")["Production"]
    (team,) = managed_teams(enlisted, "Spaces-2")
    with client_for(enlisted) as client:
        (role,) = client.paginate(f"/api/teams/{team['Id']}/scopeduserroles")
        client.put(f"/api/scopeduserroles/{role['Id']}", {**role, "EnvironmentIds": []})
    assert _roles(enlisted, "Spaces-2") == [("userroles-projectviewer", (), (), (), ())]
    teams.sync_spaces([target.pk])  # a full reconcile, as the periodic one does
    assert _roles(enlisted, "Spaces-2") == [("userroles-projectviewer", (production,), (), (), ())]


def test_api_and_page_take_a_scope_and_refuse_a_bad_one(enlisted, make_group):
    admin = make_user("root", admin=True)
    group = make_group("Api")
    target = Space.objects.get(instance=enlisted, octopus_id="Spaces-2")
    client = Client()
    client.force_login(admin)
    bad = client.post(
        "/api/v1/grants/",
        {"group": str(group.pk), "role": "viewer", "space": str(target.pk),
         "scope": {"colours": ["red"]}},
        content_type="application/json",
    )  # fmt: skip
    assert bad.status_code == 400 and "scope" in bad.json()["errors"]
    assert not Grant.objects.exists()
    made = client.post(
        "/api/v1/grants/",
        {"group": str(group.pk), "role": "viewer", "space": str(target.pk),
         "scope": {"projects": ["Web"], "environments": []}},
        content_type="application/json",
    )  # fmt: skip
    assert made.status_code == 201, made.content
    assert made.json()["scope"] == {"projects": ["Web"]}
    response = client.post(
        f"/access/groups/{group.pk}/grants/",
        {"grant-role": "deployer", "grant-target": f"s:{target.pk}",
         "grant-environments": "Test, Production"},
    )  # fmt: skip
    assert response.status_code == 302
    grant = Grant.objects.get(group=group, role=Role.DEPLOYER)
    assert grant.scope == {"environments": ["Production", "Test"]}
    page = client.get(f"/access/groups/{group.pk}/").content.decode()
    assert "only environments Production, Test" in page and "only projects Web" in page


def test_bulk_grants_carry_the_scope(enlisted, make_group):
    admin = make_user("root", admin=True)
    group = make_group("Bulk")
    ids = [str(s.pk) for s in enlisted.spaces.all()]
    client = Client()
    client.force_login(admin)
    bad = client.post(
        "/api/v1/grants/bulk/",
        {"group": str(group.pk), "role": "viewer", "spaces": ids, "scope": "Production"},
        content_type="application/json",
    )
    assert bad.status_code == 400 and "scope" in bad.json()["errors"]
    made = client.post(
        "/api/v1/grants/bulk/",
        {"group": str(group.pk), "role": "viewer", "spaces": ids,
         "scope": {"tenants": ["Acme"]}},
        content_type="application/json",
    )  # fmt: skip
    assert made.status_code == 201, made.content
    assert {g.pk for g in Grant.objects.filter(scope={"tenants": ["Acme"]})} == {
        g.pk for g in Grant.objects.filter(group=group)
    }
    assert Grant.objects.filter(group=group).count() == len(ids)
