"""Granting by tag or region: a rule, granting one instance grant per instance it matches
(tests/identity/test_grant_rules.py: and those matched later)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from audit.models import AuditEntry
from identity import services
from identity.models import Grant, Role
from spaces.models import Instance, Tag
from tests.identity.test_access import make_instance

pytestmark = pytest.mark.django_db


def _fleet() -> list[Instance]:
    prod = Tag.objects.create(name="prod")
    made = [make_instance(name) for name in ("Alpha", "Beta", "Gamma")]
    for inst, region in zip(made, ["emea", "emea", "apac"], strict=True):
        Instance.objects.filter(pk=inst.pk).update(region=region)
    made[0].tags.add(prod)
    made[2].tags.add(prod)
    return made


def test_grant_by_tag_grants_every_instance_carrying_it(
    login: Callable[[Any], Client], admin_user: Any
) -> None:
    alpha, _beta, gamma = _fleet()
    group = services.create_group(name="Ops")
    client = login(admin_user)
    page = client.get(f"/access/groups/{group.pk}/").content.decode()
    assert "Every instance tagged prod" in page and "Every instance in region emea" in page
    client.post(f"/access/groups/{group.pk}/grants/",
                {"grant-role": "viewer", "grant-target": "t:prod"})  # fmt: skip
    granted = set(Grant.objects.filter(group=group).values_list("instance__name", flat=True))
    assert granted == {alpha.name, gamma.name}
    assert AuditEntry.objects.filter(action="grant.create").count() == 2
    assert set(Grant.objects.values_list("rule__value", flat=True)) == {"prod"}


def test_grant_by_region_names_an_instance_already_granted_and_grants_the_rest(
    login: Callable[[Any], Client], admin_user: Any
) -> None:
    alpha, beta, _gamma = _fleet()
    group = services.create_group(name="Ops")
    services.grant(group, Role.DEPLOYER, instance=alpha)
    response = login(admin_user).post(
        f"/access/groups/{group.pk}/grants/",
        {"grant-role": "deployer", "grant-target": "r:emea"},
        follow=True,
    )
    page = response.content.decode()
    assert "granted on Beta; Alpha already had this role (that grant stays as chosen)" in page
    assert set(Grant.objects.filter(group=group).values_list("instance__name", flat=True)) == {
        alpha.name, beta.name,
    }  # fmt: skip


def test_a_tag_no_instance_carries_now_grants_nothing_yet(
    login: Callable[[Any], Client], admin_user: Any
) -> None:
    _fleet()
    Tag.objects.create(name="unused")
    group = services.create_group(name="Ops")
    page = (
        login(admin_user)
        .post(
            f"/access/groups/{group.pk}/grants/",
            {"grant-role": "viewer", "grant-target": "t:unused"},
            follow=True,
        )
        .content.decode()
    )
    assert "no instance matches now, those tagged or moved later will be granted" in page
    assert not Grant.objects.filter(group=group).exists()
