"""Finding a space by one of its projects: the inventory reads the project names from octosim,
a person types part of one in the navbar switcher, follows it to the space, and from the
search page into the project in Octopus (octosim's web view)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connection

from monitoring.services import inventory
from octosim.testing import SimInstance
from spaces import services
from spaces.models import Instance, Space
from tests.e2e.test_front_end_browser import Watch, sign_in
from tests.spaces.octo import api

pytestmark = pytest.mark.django_db(transaction=True)


def take_inventory(instance: Instance) -> dict[str, int]:
    """The inventory sweep of the instance's spaces, as the enlist hook runs it: in a thread
    of its own, since the sweep runs its own event loop and Playwright's runs in this one."""

    def run() -> dict[str, int]:
        try:
            spaces = Space.objects.filter(instance=instance).select_related("instance")
            return inventory.refresh_counts(list(spaces))
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result()


def test_switcher_finds_a_project_by_name_and_follows_it_to_its_space_and_into_octopus(
    live_server: Any, page: Any, admin_user: Any, sim_instance: SimInstance
) -> None:
    instance = services.enlist_instance(
        name="Brisbane", base_url=sim_instance.url, api_key=sim_instance.api_key,
        actor=admin_user,
    )  # fmt: skip
    # Give one project a name nothing else has, in Octopus, then take the inventory.
    with api(sim_instance) as client:
        project = client.get("/api/Spaces-2/projects/all").json()[0]
        client.put(
            f"/api/Spaces-2/projects/{project['Id']}", json={**project, "Name": "Zephyr Checkout"}
        ).raise_for_status()
    assert take_inventory(instance)["errors"] == 0
    space = Space.objects.get(instance=instance, octopus_id="Spaces-2")

    watch = Watch(page, live_server.url)
    sign_in(page, live_server.url, admin_user.username)
    page.goto(f"{live_server.url}/spaces/")
    page.click("[data-testid=switcher]")
    page.locator("[data-testid=switcher-search]").wait_for()
    page.wait_for_function(
        "() => document.activeElement && document.activeElement.id === 'switcher-search'"
    )
    page.keyboard.type("zephyr che")
    match = page.locator("[data-testid=switcher-project]")
    match.first.wait_for()
    assert match.count() == 1
    assert f"Zephyr Checkout — {space.name} (Brisbane)" in match.first.inner_text()
    assert page.locator("[data-testid=switcher-match]").count() == 0  # no space is named so
    match.first.click()
    page.wait_for_url(f"**/spaces/{space.pk}/")

    # The search page lists it too, with a link to the project in Octopus.
    page.goto(f"{live_server.url}/spaces/search/?q=ZEPHYR")
    row = page.locator("[data-testid=search-project]")
    assert row.count() == 1
    href = row.locator("[data-testid=project-octopus-link]").get_attribute("href")
    assert href == f"{sim_instance.url.rstrip('/')}/app#/Spaces-2/projects/{project['Slug']}"
    assert watch.console == [] and watch.failed == []
    page.goto(href)
    page.wait_for_selector("#view >> text=Zephyr Checkout")
    assert project["Id"] in page.inner_text("#view")
