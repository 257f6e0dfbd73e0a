"""The access administration pages: groups, grants, users, who-can-access, role mapping."""

from __future__ import annotations

import pytest

from audit.models import AuditEntry
from identity import services
from identity.models import Grant, GrantTarget, Group, Role, SyncState
from tests.identity.test_access import make_instance

pytestmark = pytest.mark.django_db


def test_pages_are_404_for_non_admins(login, member, outsider):
    inst = make_instance("Prod")
    group = services.create_group(name="Apps", members=[member])
    services.grant(group, Role.VIEWER, instance=inst)
    client = login(member)
    for url in ["/access/groups/", f"/access/groups/{group.pk}/", "/access/users/",
                f"/access/users/{member.uuid}/", "/access/roles/"]:  # fmt: skip
        assert client.get(url).status_code == 404, url
    # A viewer may not see who else can access the space either.
    assert client.get(f"/access/spaces/{inst.spaces.all()[0].pk}/").status_code == 404


def test_admin_creates_a_group_grants_it_and_sees_the_state_per_space(login, admin_user, member):
    inst = make_instance("Prod")
    space = inst.spaces.get(octopus_id="Spaces-1")
    client = login(admin_user)
    response = client.post(
        "/access/groups/",
        {"name": "Platform engineers", "members": ["mia"], "external_groups": "cn=platform\n"},
    )
    group = Group.objects.get(name="Platform engineers")
    assert response.status_code == 302
    assert list(group.external_groups.values_list("value", flat=True)) == ["cn=platform"]
    response = client.post(
        f"/access/groups/{group.pk}/grants/",
        {"grant-role": "deployer", "grant-target": f"s:{space.pk}"},
    )
    assert response.status_code == 302
    grant = Grant.objects.get(group=group)
    assert grant.role == Role.DEPLOYER and grant.space == space
    GrantTarget.objects.filter(grant=grant).update(state=SyncState.FAILED, last_error="boom")
    page = client.get(f"/access/groups/{group.pk}/").content.decode()
    assert "boom" in page and "Failed" in page
    assert AuditEntry.objects.filter(action="group.create").exists()
    assert AuditEntry.objects.filter(action="grant.create").exists()


def test_what_can_this_person_access_and_who_can_access_this_space(login, admin_user, member):
    inst = make_instance("Prod")
    space = inst.spaces.get(octopus_id="Spaces-1")
    group = services.create_group(name="Apps", members=[member])
    services.grant(group, Role.MANAGER, space=space)
    client = login(admin_user)
    page = client.get(f"/access/users/{member.uuid}/").content.decode()
    # The access table (the page's grant form offers every space as a target).
    table = page.split('data-testid="user-spaces"')[1].split("</table>")[0]
    assert "Prod 1" in table and "Prod 2" not in table
    who = client.get(f"/access/spaces/{space.pk}/").content.decode()
    assert "group Apps" in who and "mia" in who
    # The space's manager may open it too.
    assert login(member).get(f"/access/spaces/{space.pk}/").status_code == 200


def test_revoke_from_the_page_is_audited(login, admin_user):
    inst = make_instance("Prod")
    group = services.create_group(name="Apps")
    grant = services.grant(group, Role.VIEWER, instance=inst)
    response = login(admin_user).post(f"/access/grants/{grant.pk}/revoke/", {"next": "/"})
    assert response.status_code == 302
    grant.refresh_from_db()
    assert grant.revoked_at is not None
    assert AuditEntry.objects.filter(action="grant.revoke").exists()


def test_role_mapping_is_editable_and_audited(login, admin_user):
    client = login(admin_user)
    assert b"Project viewer" in client.get("/access/roles/").content
    client.post(
        "/access/roles/",
        {"viewer": "Project viewer, Release creator", "deployer": "Project deployer",
         "manager": "Space manager"},
    )  # fmt: skip
    from identity.services.teams import role_mapping

    assert role_mapping()["viewer"] == ["Project viewer", "Release creator"]
    assert AuditEntry.objects.filter(action="role_mapping.update").count() == 2
