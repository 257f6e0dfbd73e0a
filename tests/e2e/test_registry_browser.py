"""A person enlists an octosim instance, finds a space among the tiles, stars it and follows
it into Octopus."""

from __future__ import annotations

from typing import Any

import pytest

from octosim.testing import SimInstance
from spaces.models import Favourite, Instance
from tests.conftest import PASSWORD, make_user


@pytest.mark.django_db(transaction=True)
def test_enlist_search_star_switch_and_follow_the_deep_link(
    live_server: Any, page: Any, sim_instance: SimInstance
) -> None:
    make_user("ada", admin=True)
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_login", "ada")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("nav")

    # Enlist through the form; a wrong key first gives its specific message.
    page.goto(f"{live_server.url}/spaces/instances/")
    page.click("[data-testid=enlist-link]")
    page.fill("#id_name", "Brisbane")
    page.fill("#id_base_url", sim_instance.url)
    page.fill("#id_api_key", "API-NOTTHEKEYNOTTHEKEY00")
    page.click("[data-testid=enlist-form] button[type=submit]")
    assert "refused the API key" in page.inner_text("[data-testid=form-error]")
    assert page.input_value("#id_api_key") == ""  # never rendered back
    page.fill("#id_api_key", sim_instance.api_key)
    page.click("[data-testid=enlist-form] button[type=submit]")
    page.wait_for_selector("text=Enlisted Brisbane with 3 spaces.")
    instance = Instance.objects.get()
    names = dict(instance.spaces.values_list("octopus_id", "name"))

    # Tiles, then instant search.
    page.click("nav a.nav-link >> text=Spaces")
    page.wait_for_selector("[data-testid=space-tile]")
    assert page.locator("[data-testid=space-tile]").count() == 3
    page.fill("[data-testid=space-search]", names["Spaces-2"])
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=space-tile]').length === 1"
    )
    tile = page.locator("[data-testid=space-tile]")
    assert names["Spaces-2"] in tile.inner_text() and "Brisbane" in tile.inner_text()
    page.fill("[data-testid=space-search]", "brisbane")  # by instance
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=space-tile]').length === 3"
    )

    # Star one; it is pinned at the top of the switcher.
    page.fill("[data-testid=space-search]", names["Spaces-2"])
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=space-tile]').length === 1"
    )
    page.click("[data-testid=tile-star]")
    page.wait_for_selector("[data-testid=tile-star][aria-pressed=true]")
    assert Favourite.objects.filter(space__octopus_id="Spaces-2").exists()
    page.click("[data-testid=switcher]")
    pinned = page.wait_for_selector("[data-testid=switcher-favourite]")
    assert names["Spaces-2"] in pinned.inner_text()
    page.keyboard.press("Escape")

    # Keyboard: type to filter, arrows, Enter opens the space's page in ODCM.
    page.goto(f"{live_server.url}/spaces/")
    page.wait_for_selector("[data-testid=space-tile]")
    page.locator("[data-testid=space-search]").press_sequentially(names["Spaces-3"][:6])
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=space-tile]').length >= 1"
    )
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-testid=octopus-link]")
    assert "/spaces/" in page.url

    # The switcher entry opens the starred space's page, which links into Octopus.
    page.click("[data-testid=switcher]")
    page.click("[data-testid=switcher-favourite]")
    link = page.wait_for_selector("[data-testid=octopus-link]")
    assert link.get_attribute("href") == f"{sim_instance.url}/app#/Spaces-2"
    assert names["Spaces-2"] in page.inner_text("h1")
