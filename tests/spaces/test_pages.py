"""Registry pages: access, the enlist form, tiles, the space page, favourites and recents."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse

from identity import services as identity_services
from identity.models import Role, User
from octosim.testing import SimInstance
from spaces import services
from spaces.models import Favourite, Instance, RecentVisit, Space

pytestmark = pytest.mark.django_db


def _grant_viewer(user: User, space: Space) -> None:
    group = identity_services.create_group(name=f"g-{space.pk}", members=[user])
    identity_services.grant(group, Role.VIEWER, space=space)


def test_enlist_form_shows_the_specific_error_and_saves_nothing(
    sim_instance: SimInstance, admin_user: User, login: Callable[[User], Client]
) -> None:
    client = login(admin_user)
    form = {"name": "Bris", "base_url": sim_instance.url, "api_key": "API-BADBADBADBADBADBAD00"}
    page = client.post(reverse("spaces:enlist"), form)
    assert page.status_code == 200
    assert "Octopus refused the API key" in page.content.decode()
    assert "API-BADBADBAD" not in page.content.decode()  # never rendered back
    assert not Instance.objects.exists()
    form["api_key"] = sim_instance.api_key
    form["enlist_all"] = "on"
    page = client.post(reverse("spaces:enlist"), form, follow=True)
    inst = Instance.objects.get()
    assert page.redirect_chain[-1][0] == reverse("spaces:instance", args=[inst.pk])
    assert "Enlisted Bris with 3 spaces." in page.content.decode()


def test_enlist_form_can_list_spaces_for_picking_later(
    sim_instance: SimInstance, admin_user: User, login: Callable[[User], Client]
) -> None:
    client = login(admin_user)
    form = {"name": "Pick", "base_url": sim_instance.url, "api_key": sim_instance.api_key}
    page = client.post(reverse("spaces:enlist"), form, follow=True)
    assert "enlist the ones you want" in page.content.decode()
    inst = Instance.objects.get()
    assert set(inst.spaces.values_list("state", flat=True)) == {Space.State.NOT_ENLISTED}
    space = inst.spaces.get(octopus_id="Spaces-2")
    client.post(reverse("spaces:space-state", args=[space.pk, "enlist"]), {"next": "instance"})
    space.refresh_from_db()
    assert space.state == Space.State.ENLISTED


def test_only_admins_enlist_and_outsiders_get_404(
    enlisted: Instance, member: User, outsider: User, login: Callable[[User], Client]
) -> None:
    space = enlisted.spaces.get(octopus_id="Spaces-1")
    _grant_viewer(member, space)
    assert login(member).get(reverse("spaces:enlist")).status_code == 403
    assert login(member).get(reverse("spaces:space", args=[space.pk])).status_code == 200
    assert login(member).get(reverse("spaces:instance", args=[enlisted.pk])).status_code == 200
    other = enlisted.spaces.get(octopus_id="Spaces-2")
    assert login(member).get(reverse("spaces:space", args=[other.pk])).status_code == 404
    assert (
        login(member).post(reverse("spaces:instance-refresh", args=[enlisted.pk])).status_code
        == 403
    )
    assert login(member).get(reverse("spaces:space-delete", args=[space.pk])).status_code == 403
    assert login(outsider).get(reverse("spaces:space", args=[space.pk])).status_code == 404
    assert login(outsider).get(reverse("spaces:instance", args=[enlisted.pk])).status_code == 404
    tiles = login(outsider).get(reverse("spaces:list"))
    assert json.loads(_tiles_json(tiles.content.decode())) == {
        "instances": [],
        "starred": [],
        "spaces": [],
    }


def _tiles_json(html: str) -> str:
    match = re.search(r'<script id="tiles-data" type="application/json">(.*?)</script>', html)
    assert match
    return match.group(1)


def test_tiles_page_lists_visible_enlisted_spaces_with_counts_and_links(
    enlisted: Instance, admin_user: User, login: Callable[[User], Client]
) -> None:
    Space.objects.filter(instance=enlisted, octopus_id="Spaces-2").update(
        project_count=7, target_count=4
    )
    services.set_enlisted(enlisted.spaces.get(octopus_id="Spaces-3"), False)
    services.update_instance(enlisted, region="APAC", tags=["prod"])
    page = login(admin_user).get(reverse("spaces:list"))
    data = json.loads(_tiles_json(page.content.decode()))
    assert [row[2] for row in data["spaces"]] == ["Spaces-1", "Spaces-2"]
    two = data["spaces"][1]
    assert two[0] == str(enlisted.spaces.get(octopus_id="Spaces-2").pk)
    assert (two[3], two[4], two[5]) == (str(enlisted.pk), 7, 4)
    assert data["starred"] == []
    (inst,) = data["instances"]
    assert (inst["name"], inst["region"], inst["tags"]) == (enlisted.name, "APAC", ["prod"])
    assert "api_key" not in page.content.decode()


def test_space_page_links_into_octopus_and_records_the_visit(
    enlisted: Instance, admin_user: User, login: Callable[[User], Client]
) -> None:
    space = enlisted.spaces.get(octopus_id="Spaces-2")
    page = login(admin_user).get(reverse("spaces:space", args=[space.pk]))
    assert f'href="{enlisted.base_url}/app#/Spaces-2"' in page.content.decode()
    assert RecentVisit.objects.filter(user=admin_user, space=space).exists()


def test_favourites_and_recents_are_per_user(
    enlisted: Instance, admin_user: User, member: User, login: Callable[[User], Client]
) -> None:
    one, two, three = enlisted.spaces.order_by("octopus_id")
    for space in (one, two):
        _grant_viewer(member, space)
    ada, mia = login(admin_user), login(member)
    ada.post(reverse("spaces:favourite", args=[two.pk]), {"starred": "1"})
    mia.get(reverse("spaces:space", args=[one.pk]))
    mia.get(reverse("spaces:space", args=[two.pk]))
    ada.get(reverse("spaces:space", args=[three.pk]))
    assert list(Favourite.objects.values_list("user__username", "space")) == [("ada", two.pk)]
    ada_menu = ada.get(reverse("spaces:switcher")).content.decode()
    mia_menu = mia.get(reverse("spaces:switcher")).content.decode()
    assert ada_menu.index("★ " + two.name) < ada_menu.index(three.name)
    assert one.name not in ada_menu
    assert "★" not in mia_menu
    assert mia_menu.index(two.name) < mia_menu.index(one.name)  # most recent first
    assert three.name not in mia_menu
    # Unstar through htmx: the star partial comes back.
    answer = ada.post(reverse("spaces:favourite", args=[two.pk]), {"starred": "0"},
                      HTTP_HX_REQUEST="true")  # fmt: skip
    assert "☆" in answer.content.decode()
    assert not Favourite.objects.exists()


def test_recent_list_keeps_the_last_eight(
    admin_user: User, login: Callable[[User], Client]
) -> None:
    from tests.spaces.conftest import make_rows

    rows = make_rows(10)
    client = login(admin_user)
    for space in rows:
        client.get(reverse("spaces:space", args=[space.pk]))
    menu = client.get(reverse("spaces:switcher")).content.decode()
    assert menu.count('data-testid="switcher-recent"') == 8
    assert f">{rows[-1].name} <" in menu and f">{rows[0].name} <" not in menu


def test_instance_pages_and_standard_environments(
    enlisted: Instance, admin_user: User, login: Callable[[User], Client]
) -> None:
    client = login(admin_user)
    listing = client.get(reverse("spaces:instances")).content.decode()
    assert enlisted.name in listing and "3 / 3" in listing
    detail = client.get(reverse("spaces:instance", args=[enlisted.pk])).content.decode()
    assert "instance.enlist" in detail and "Spaces-3" in detail
    assert client.get(reverse("spaces:instance-edit", args=[enlisted.pk])).status_code == 200
    assert client.get(reverse("spaces:instance-rotate", args=[enlisted.pk])).status_code == 200
    assert client.get(reverse("spaces:space-create", args=[enlisted.pk])).status_code == 200
    client.post(reverse("spaces:standard-environments"), {"names": "Dev\nQA\nProd\ndev"})
    from spaces.models import StandardEnvironment

    assert list(StandardEnvironment.objects.values_list("name", flat=True)) == ["Dev", "QA", "Prod"]


def test_create_and_delete_a_space_through_the_pages(
    sim_instance: SimInstance, enlisted: Instance, admin_user: User,
    login: Callable[[User], Client],
) -> None:  # fmt: skip
    client = login(admin_user)
    answer = client.post(
        reverse("spaces:space-create", args=[enlisted.pk]),
        {"name": "Web Team", "manager_users": ["Users-3"], "stamp_environments": "on"},
    )
    space = enlisted.spaces.get(name="Web Team")
    assert answer.status_code == 302 and space.created_by_odcm
    page = client.post(reverse("spaces:space-delete", args=[space.pk]), {"confirm_name": "nope"})
    assert "Type the space" in page.content.decode()
    client.post(reverse("spaces:space-delete", args=[space.pk]), {"confirm_name": "Web Team"})
    space.refresh_from_db()
    assert space.state == Space.State.GONE
    default = enlisted.spaces.get(is_default=True)
    page = client.post(reverse("spaces:space-delete", args=[default.pk]),
                       {"confirm_name": default.name})  # fmt: skip
    assert "is the default space" in page.content.decode()


def test_unenlisting_an_instance_keeps_octopus_intact(
    sim_instance: SimInstance, enlisted: Instance, admin_user: User,
    login: Callable[[User], Client],
) -> None:  # fmt: skip
    client = login(admin_user)
    url = reverse("spaces:instance-unenlist", args=[enlisted.pk])
    client.post(url, {"confirm_name": "wrong"})
    assert Instance.objects.exists()
    sim_instance.reset_stats()
    client.post(url, {"confirm_name": enlisted.name})
    assert not Instance.objects.exists() and not Space.objects.exists()
    assert sim_instance.stats()["total"] == 0
    assert len(sim_instance.truth()["spaces"]) == 3


def test_tiles_data_cannot_break_out_of_its_script_tag(
    admin_user: User, login: Callable[[User], Client]
) -> None:
    from tests.spaces.conftest import make_rows

    (space,) = make_rows(1)
    Space.objects.filter(pk=space.pk).update(name="</script><img src=x onerror=alert(1)> & co")
    html = login(admin_user).get(reverse("spaces:list")).content.decode()
    assert "<img src=x" not in html
    data = json.loads(_tiles_json(html))
    assert data["spaces"][0][1] == "</script><img src=x onerror=alert(1)> & co"
