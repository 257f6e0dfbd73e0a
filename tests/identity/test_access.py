"""Who sees what: grants through groups (direct or external), instance grants, owners, admins."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from identity import access, services
from identity.models import Role
from odcm.crypto import seal
from spaces.models import Instance, Space
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def make_instance(name: str, spaces: int = 2) -> Instance:
    inst = Instance(name=name, slug=name.lower(), base_url=f"http://127.0.0.1:9/{name}")
    seal(inst, "api_key", "API-XXXXXXXXXXXXXXXXXXXXXXXXXX")
    inst.save()
    for n in range(1, spaces + 1):
        Space.objects.create(
            instance=inst, octopus_id=f"Spaces-{n}", name=f"{name} {n}", slug=f"s{n}"
        )
    return inst


def test_outsider_sees_nothing_and_admin_sees_everything(admin_user, outsider):
    inst = make_instance("Prod")
    assert not Space.objects.visible_to(outsider).exists()
    assert not Instance.objects.visible_to(outsider).exists()
    assert Space.objects.visible_to(admin_user).count() == 2
    assert access.can_manage_space(admin_user, inst.spaces.all()[0])


def test_space_grant_shows_that_space_and_its_instance_only(member):
    inst = make_instance("Prod")
    make_instance("Other")
    space = inst.spaces.get(octopus_id="Spaces-1")
    group = services.create_group(name="Apps", members=[member])
    services.grant(group, Role.VIEWER, space=space)
    assert list(Space.objects.visible_to(member)) == [space]
    assert list(Instance.objects.visible_to(member)) == [inst]
    assert not access.can_manage_space(member, space)
    assert not access.can_deploy_space(member, space)
    assert not access.can_manage_instance(member, inst)
    assert access.space_role(member, space) == Role.VIEWER


def test_instance_grant_reaches_every_space_of_the_instance(member):
    inst = make_instance("Prod", spaces=3)
    group = services.create_group(name="Ops", members=[member])
    services.grant(group, Role.DEPLOYER, instance=inst)
    assert Space.objects.visible_to(member).count() == 3
    assert Space.objects.deployable_by(member).count() == 3
    assert not Space.objects.manageable_by(member).exists()


def test_external_group_from_sign_in_grants_access(member):
    inst = make_instance("Prod")
    space = inst.spaces.first()
    assert space is not None
    group = services.create_group(
        name="Platform", external_groups=["CN=Platform, OU=Groups, DC=example, DC=com"]
    )
    services.grant(group, Role.MANAGER, space=space)
    assert not Space.objects.visible_to(member).exists()
    # Compared case-insensitively, spaces after commas ignored (as LDAP compares DNs).
    services.store_external_groups(member, "ldap", ["cn=platform,ou=groups,dc=example,dc=com"])
    assert list(Space.objects.visible_to(member)) == [space]
    assert access.can_manage_space(member, space)
    services.store_external_groups(member, "ldap", [])
    assert not Space.objects.visible_to(member).exists()


def test_revoked_grant_no_longer_gives_access(member):
    inst = make_instance("Prod")
    space = inst.spaces.first()
    assert space is not None
    group = services.create_group(name="Apps", members=[member])
    grant = services.grant(group, Role.VIEWER, space=space)
    services.revoke(grant)
    assert not Space.objects.visible_to(member).exists()
    assert not Instance.objects.visible_to(member).exists()


def test_strongest_role_wins(member):
    inst = make_instance("Prod")
    space = inst.spaces.get(octopus_id="Spaces-1")
    viewers = services.create_group(name="V", members=[member])
    managers = services.create_group(name="M", members=[member])
    services.grant(viewers, Role.VIEWER, instance=inst)
    services.grant(managers, Role.MANAGER, space=space)
    roles = access.space_roles(member, inst.spaces.all())
    assert roles[str(space.pk)] == Role.MANAGER
    assert set(roles.values()) == {Role.MANAGER, Role.VIEWER}


def test_owners_manage_their_instance(space_owner):
    inst = make_instance("Prod")
    inst.owners.add(space_owner)
    assert Space.objects.manageable_by(space_owner).count() == 2
    assert access.can_manage_instance(space_owner, inst)


def test_inactive_user_sees_nothing(member):
    inst = make_instance("Prod")
    group = services.create_group(name="Apps", members=[member])
    services.grant(group, Role.VIEWER, instance=inst)
    member.is_active = False
    member.save()
    assert not Space.objects.visible_to(member).exists()


def test_visibility_queries_do_not_grow_with_grants(member):
    def count_queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            list(Space.objects.visible_to(member))
            list(Instance.objects.visible_to(member))
            access.space_roles(member, Space.objects.visible_to(member))
        return len(ctx.captured_queries)

    group = services.create_group(name="G0", members=[member])
    services.grant(group, Role.VIEWER, instance=make_instance("I0"))
    few = count_queries()
    for n in range(1, 8):
        inst = make_instance(f"I{n}", spaces=3)
        g = services.create_group(name=f"G{n}", members=[member], external_groups=[f"ext-{n}"])
        services.grant(g, Role.DEPLOYER, space=inst.spaces.first())
        services.grant(g, Role.VIEWER, instance=inst)
    assert Space.objects.visible_to(member).count() == 2 + 7 * 3
    assert count_queries() == few


def test_who_can_access_and_what_can_a_person_access(member, admin_user):
    inst = make_instance("Prod")
    space = inst.spaces.get(octopus_id="Spaces-1")
    group = services.create_group(name="Apps", members=[member], external_groups=["apps"])
    other = make_user("ext-user")
    services.store_external_groups(other, "oidc:corp", ["APPS"])
    services.grant(group, Role.DEPLOYER, space=space)
    who = access.who_can_access(space)
    (row,) = who["grants"]
    assert row["group"] == group and row["role"] == Role.DEPLOYER
    assert row["users"] == ["ext-user", "mia"]
    assert who["admins"] == ["ada"]
    assert access.what_can_access(member) == [(space, Role.DEPLOYER)]
