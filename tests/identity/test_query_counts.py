"""Lists of groups, grants and users cost the same number of queries for 2 rows or 20."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import connection
from django.db.models import F
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


def grant_and_revoke_queries(spaces: int) -> tuple[int, int]:
    """Statements of one grant and of one revoke of a group's role on an instance of
    ``spaces`` spaces (the group of five people already has that role on its first space:
    that team is bumped, the others made, then flipped unwanted), the teams pushed between."""
    from identity.models import ManagedTeam, SyncState

    inst = make_instance(f"Q{spaces}", spaces=spaces)
    first = inst.spaces.order_by("name")[0]
    members = [make_user(f"q{spaces}-{k}") for k in range(5)]
    group = services.create_group(name=f"Q{spaces}", members=members, external_groups=["cn=q"])
    services.grant(group, Role.VIEWER, space=first)
    with CaptureQueriesContext(connection) as granting:
        row = services.grant(group, Role.VIEWER, instance=inst)
    teams = ManagedTeam.objects.filter(space__instance=inst, group=group, role=Role.VIEWER)
    assert sorted(teams.values_list("version", flat=True)) == [1] * (spaces - 1) + [2]
    assert GrantTarget.objects.filter(grant=row).count() == spaces
    teams.update(state=SyncState.APPLIED, applied_version=F("version"))
    targets = GrantTarget.objects.filter(space__instance=inst)
    targets.update(state=SyncState.APPLIED)
    with CaptureQueriesContext(connection) as revoking:
        assert services.revoke(row)
    # What they did, not only how: the first space's team stays, bumped; the others go.
    assert teams.count() == spaces
    assert list(teams.filter(wanted=True).values_list("space", "version")) == [(first.pk, 3)]
    assert sorted(teams.values_list("version", flat=True)) == [3] * spaces
    assert not teams.filter(state=SyncState.APPLIED).exists()
    assert targets.count() == spaces + 1
    assert not targets.filter(state=SyncState.APPLIED).exists()
    return len(granting.captured_queries), len(revoking.captured_queries)


def test_a_grant_and_a_revoke_take_a_few_statements_whatever_the_spaces():
    # A grant: savepoint, the grant, its audit entry, the spaces, the teams locked, the
    # grants and their targets, the new teams, the targets set pending, the managed teams
    # bumped, the new targets, release. 23 before, 33 for a revoke: twenty grants saved
    # together spent most of their time on those round trips. A revoke: savepoint, the
    # grant revoked and read back, audit, spaces, teams locked, grants, targets and teams
    # set pending, the people whose Octopus sessions end, release.
    assert grant_and_revoke_queries(2) == (11, 11)
    assert grant_and_revoke_queries(6) == (11, 11)


def test_access_changed_is_sent_once_per_transaction(django_capture_on_commit_callbacks):
    """Twenty grants saved together move the dashboard's stamp once, not twenty times; a
    change whose savepoint was rolled back takes its send with it, not a later change's."""
    from django.db import transaction

    from identity.signals import access_changed, notify_access_changed

    sent: list[object] = []

    def receiver(sender: object, **kwargs: object) -> None:
        sent.append(sender)

    access_changed.connect(receiver, dispatch_uid="test-once")
    try:
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            try:
                with transaction.atomic():
                    notify_access_changed()
                    raise RuntimeError
            except RuntimeError:
                pass
        assert sent == []
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            try:
                with transaction.atomic():
                    notify_access_changed()
                    raise RuntimeError
            except RuntimeError:
                pass
            with transaction.atomic():
                notify_access_changed()
            notify_access_changed()
            inst = make_instance("Once", spaces=2)
            for role in (Role.VIEWER, Role.DEPLOYER):
                services.grant(services.create_group(name=f"O {role}"), role, instance=inst)
        assert sent == [None]
    finally:
        access_changed.disconnect(dispatch_uid="test-once")
