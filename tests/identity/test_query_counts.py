"""Lists of groups, grants and users cost the same number of queries for 2 rows or 20."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from identity import services
from identity.models import GrantTarget, Role
from identity.services.teams import ensure_rows
from tests.conftest import make_user
from tests.identity.test_access import make_instance

pytestmark = pytest.mark.django_db


def add_rows(n: int, start: int) -> None:
    for k in range(start, start + n):
        inst = make_instance(f"I{k}", spaces=2)
        group = services.create_group(
            name=f"G{k}", members=[make_user(f"u{k}")], external_groups=[f"ext-{k}"]
        )
        services.grant(group, Role.VIEWER, instance=inst)
        services.grant(group, Role.MANAGER, space=inst.spaces.all()[0])
        ensure_rows(inst.spaces.values_list("pk", flat=True))


def queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(ctx.captured_queries)


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/groups/",
        "/api/v1/grants/",
        "/api/v1/users/",
        "/access/groups/",
        "/access/users/",
    ],
)
def test_admin_lists_do_not_grow_with_rows(url: str, admin_user, login: Callable[..., Client]):
    client = login(admin_user)
    add_rows(2, 0)
    few = queries(client, url)
    add_rows(8, 2)
    assert GrantTarget.objects.count() > 20
    assert queries(client, url) == few


def test_a_groups_page_does_not_grow_with_its_grants(admin_user, login):
    client = login(admin_user)
    group = services.create_group(name="Wide")
    for k in range(2):
        services.grant(group, Role.VIEWER, instance=make_instance(f"A{k}", spaces=3))
    few = queries(client, f"/access/groups/{group.pk}/")
    for k in range(2, 8):
        services.grant(group, Role.VIEWER, instance=make_instance(f"A{k}", spaces=3))
    assert queries(client, f"/access/groups/{group.pk}/") == few


def test_a_groups_page_does_not_grow_with_its_rules(admin_user, login):
    from identity.services import grant_rules
    from spaces.models import Instance, Tag

    client = login(admin_user)
    group = services.create_group(name="Wide")
    for k in range(6):
        inst = make_instance(f"R{k}", spaces=2)
        inst.tags.add(Tag.objects.get_or_create(name=f"t{k}")[0])
        Instance.objects.filter(pk=inst.pk).update(region=f"r{k}")
    grant_rules.create_rule(group, Role.VIEWER, "tag", "t0")
    grant_rules.create_rule(group, Role.DEPLOYER, "region", "r0")
    few = queries(client, f"/access/groups/{group.pk}/")
    for k in range(1, 6):
        grant_rules.create_rule(group, Role.VIEWER, "tag", f"t{k}")
        grant_rules.create_rule(group, Role.DEPLOYER, "region", f"r{k}")
    page = client.get(f"/access/groups/{group.pk}/").content.decode()
    assert page.count("2 spaces now") == 12
    assert queries(client, f"/access/groups/{group.pk}/") == few
