"""Every ``next`` goes through one helper: only paths on this site; anything else falls back
to the page's default, after the action, without an error."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from identity import services
from identity.models import Role
from odcm.redirects import safe_next
from sharing.models import Trust
from sharing.services import trusts
from tests.identity.test_access import make_instance

pytestmark = pytest.mark.django_db

HOSTILE = [
    "https://evil.example/",
    "//evil.example/",
    "/\\evil.example/",
    "\\\\evil.example",
    "http:evil.example",
    "javascript:alert(1)",
    "foo",
    "/ok\r\nLocation: https://evil.example",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_safe_next_refuses_anything_but_a_local_path(value: str) -> None:
    request = RequestFactory().get("/")
    assert safe_next(request, value, default="/fallback/") == "/fallback/"


def test_safe_next_keeps_a_local_path() -> None:
    request = RequestFactory().get("/")
    assert safe_next(request, "/sharing/?x=1", default="/fallback/") == "/sharing/?x=1"


@pytest.mark.parametrize("value", HOSTILE)
def test_grant_revocation_never_redirects_off_site(login, admin_user, value: str) -> None:
    inst = make_instance("Prod")
    grant = services.grant(services.create_group(name="Apps"), Role.VIEWER, instance=inst)
    response = login(admin_user).post(f"/access/grants/{grant.pk}/revoke/", {"next": value})
    assert response.status_code == 302
    assert response["Location"] == "/access/groups/"


@pytest.mark.parametrize("value", HOSTILE)
def test_trust_actions_never_redirect_off_site(login, admin_user, value: str) -> None:
    inst = make_instance("Prod")
    one, two = list(inst.spaces.order_by("octopus_id"))
    trust = trusts.propose(one, two, actor=admin_user)
    response = login(admin_user).post(f"/sharing/trusts/{trust.pk}/accept/", {"next": value})
    assert response.status_code == 302
    assert response["Location"] == "/sharing/trusts/"
    assert Trust.objects.get(pk=trust.pk).state == Trust.State.ACCEPTED
