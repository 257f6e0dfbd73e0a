"""An instance-wide grant's per-space states name only the spaces the reader can see."""

from __future__ import annotations

import pytest

from identity import services
from identity.models import GrantTarget, Role
from tests.identity.test_access import make_instance

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(member):
    inst = make_instance("Prod", spaces=3)
    mine = inst.spaces.get(octopus_id="Spaces-1")
    managers = services.create_group(name="Mine", members=[member])
    services.grant(managers, Role.MANAGER, space=mine)
    everyone = services.create_group(name="Ops")
    wide = services.grant(everyone, Role.VIEWER, instance=inst)
    assert GrantTarget.objects.filter(grant=wide).count() == 3
    return {"inst": inst, "mine": mine, "wide": wide}


def test_grant_api_lists_only_visible_spaces_in_targets(setup, member, api_client, token_for):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(member)}")
    rows = api_client.get("/api/v1/grants/").json()["results"]
    wide = next(r for r in rows if r["id"] == str(setup["wide"].pk))
    assert [t["space_name"] for t in wide["targets"]] == ["Prod 1"]
    body = api_client.get(f"/api/v1/grants/{setup['wide'].pk}/").content.decode()
    assert "Prod 2" not in body and "Prod 3" not in body


def test_who_can_access_page_lists_only_visible_spaces(setup, member, login):
    page = login(member).get(f"/access/spaces/{setup['mine'].pk}/").content.decode()
    assert "Prod 1" in page
    assert "Prod 2" not in page and "Prod 3" not in page


def test_administrators_still_see_every_target(setup, admin_user, login):
    page = login(admin_user).get(f"/access/spaces/{setup['mine'].pk}/").content.decode()
    assert "Prod 2" in page and "Prod 3" in page
