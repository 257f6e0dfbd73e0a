"""Closing the console's gaps, in Chromium under the content security policy: the queued-task
card leads to the spaces whose queue waits, spaces that share a name are told apart by their
instance, and the variable editor's scope pickers are searchable chips."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from identity.models import Group
from monitoring.models import SpaceQueue
from sharing.models import SharedItem
from sharing.services import items
from spaces.models import Space
from tests.conftest import make_user
from tests.e2e.test_front_end_browser import Watch, sign_in
from tests.monitoring.test_dashboard import build
from tests.sharing.conftest import enlist_sim, space_of

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_queued_task_card_opens_the_dashboard_on_the_waiting_spaces(
    live_server: Any, page: Any, admin_user: Any, settings: Any
) -> None:
    settings.ODCM_QUEUE_ALERT_MINUTES = 15
    settings.ODCM_DASHBOARD_CACHE_SECONDS = 0
    build(3, 2)
    waiting = Space.objects.order_by("name").first()
    assert waiting is not None
    for space in Space.objects.all():
        SpaceQueue.objects.create(space=space, updated_at=timezone.now())
    SpaceQueue.objects.filter(space=waiting).update(
        alerted=True, queued=3, oldest_queued_at=timezone.now() - timedelta(hours=1)
    )
    watch = Watch(page, live_server.url)
    sign_in(page, live_server.url, admin_user.username)
    page.goto(f"{live_server.url}/")
    card = page.locator("[data-testid=card-queued_tasks]")
    assert card.get_attribute("data-count") == "1"
    card.click()
    page.wait_for_url("**/?problem=queue")
    rows = page.locator("[data-testid=space-row]")
    assert rows.count() == 1 and rows.first.get_attribute("data-space") == waiting.slug
    assert watch.console == [] and watch.failed == []


def test_spaces_that_share_a_name_show_their_instance_in_the_grant_picker(
    live_server: Any, page: Any, admin_user: Any
) -> None:
    build(2, 1)
    Space.objects.update(name="Default")
    group = Group.objects.create(name="Web team")
    watch = Watch(page, live_server.url)
    sign_in(page, live_server.url, admin_user.username)
    page.goto(f"{live_server.url}/access/groups/{group.pk}/")
    options = page.locator("select[name=grant-target] option").all_inner_texts()
    assert "Default (octo-0000)" in options and "Default (octo-0001)" in options
    space = Space.objects.select_related("instance").get(instance__name="octo-0001")
    page.goto(f"{live_server.url}/access/spaces/{space.pk}/")
    assert page.locator("h1").inner_text() == "Who can access Default (octo-0001)"
    assert watch.console == [] and watch.failed == []


@pytest.mark.e2e
def test_scope_pickers_filter_and_pick_as_chips(
    live_server: Any, page: Any, make_sim_instance: Any
) -> None:
    owen = make_user("owen")
    publisher = space_of(enlist_sim(make_sim_instance("chips-pub", seed=101), owners=[owen]))
    item = items.create_item(publisher, SharedItem.Kind.VARIABLE_SET, "Platform")
    items.save_revision(item, {"variables": [{"name": "Region", "value": "emea"}]})
    watch = Watch(page, live_server.url)
    sign_in(page, live_server.url, "owen")
    page.goto(f"{live_server.url}/sharing/items/{item.pk}/edit/")
    page.click("[data-testid=add-variable]")  # a row added by the page gets a picker too
    row = page.locator("[data-editor-row]").last
    row.locator("[data-testid=var-name]").fill("Api.Url")
    cell = row.locator("td", has=page.locator("[data-testid=scope-environments]"))
    scope = cell.locator("[data-testid=scope-environments]")
    box = cell.locator("[data-testid=picker-filter]")
    box.fill("prod")
    box.press("Enter")  # picks the first match as a chip and clears the filter
    chips = cell.locator("[data-testid=chip]")
    assert chips.all_inner_texts() == ["Production ×"]
    assert box.input_value() == ""
    cell.locator("option", has_text="Test").first.click()  # a click adds, no Ctrl needed
    assert sorted(chips.all_inner_texts()) == ["Production ×", "Test ×"]
    assert sorted(scope.locator("option:checked").all_inner_texts()) == ["Production", "Test"]
    cell.locator("[data-testid=chip][data-value=Test]").click()  # × removes it
    assert scope.locator("option:checked").all_inner_texts() == ["Production"]
    page.click("[data-testid=save-draft]")
    page.wait_for_selector("text=Draft saved (not published).")
    saved = page.locator("[data-editor-row]", has=page.locator("input[value='Api.Url']"))
    assert saved.locator("[data-testid=chip]").all_inner_texts() == ["Production ×"]
    assert watch.console == [] and watch.failed == []
