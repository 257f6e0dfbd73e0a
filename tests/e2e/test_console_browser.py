"""The fleet-first dashboard, the instances console's bulk actions and the switcher's
type-ahead, in Chromium under the content security policy."""

from __future__ import annotations

from typing import Any

import pytest

from identity.models import Grant, Group
from monitoring.models import InstanceMonitor, SpaceDay
from spaces.models import Instance, Space
from tests.e2e.test_front_end_browser import Watch, sign_in
from tests.monitoring.test_dashboard import build

pytestmark = pytest.mark.django_db(transaction=True)


def test_fleet_of_50_opens_with_the_offline_instance_first_and_expands_on_demand(
    live_server: Any, page: Any, admin_user: Any
) -> None:
    build(50, 4)  # every 5th instance starts offline in build(): make it exactly one
    Instance.objects.update(status="online")
    InstanceMonitor.objects.update(pinned_version="")
    Space.objects.update(unhealthy_target_count=0)
    SpaceDay.objects.update(failed=0, timed_out=0)
    Instance.objects.filter(name="octo-0031").update(status="offline")
    watch = Watch(page, live_server.url)
    sign_in(page, live_server.url, admin_user.username)
    page.goto(f"{live_server.url}/")
    rows = page.locator("[data-testid=fleet-instance]")
    assert rows.count() == 25  # a page holds 100 space rows (ODCM_DASHBOARD_PAGE_SIZE)
    first = rows.first
    assert first.get_attribute("data-instance") == "octo-0031"
    assert first.get_attribute("open") is not None  # a problem opens by itself
    assert page.locator("[data-testid=card-offline]").get_attribute("data-count") == "1"
    quiet = page.locator("[data-testid=fleet-instance][data-instance=octo-0000]")
    assert not quiet.locator("[data-testid=fleet-space]").first.is_visible()
    page.click("[data-testid=fleet-expand]")
    assert quiet.locator("[data-testid=fleet-space]").first.is_visible()
    page.click("[data-testid=fleet-collapse]")
    assert not first.locator("[data-testid=fleet-space]").first.is_visible()
    # The next page of the fleet swaps in alone (htmx), and the address follows.
    table = page.locator("[data-testid=dashboard-table]").inner_html()
    page.locator("[data-testid=fleet-page-link]").nth(1).click()
    page.wait_for_url(lambda url: url.endswith("/?fleet=2"))
    page.wait_for_selector("[data-testid=fleet-instance][data-instance=octo-0049]")
    assert rows.count() == 25 and rows.first.get_attribute("data-instance") == "octo-0024"
    assert page.locator("[data-testid=dashboard-table]").inner_html() == table
    page.click("[data-testid=card-offline]")
    page.wait_for_url("**/spaces/instances/?status=offline")
    names = page.locator("[data-testid=console-row]")
    assert names.count() == 1 and names.first.get_attribute("data-instance") == "octo-0031"
    assert watch.console == [] and watch.failed == []


def test_console_bulk_pin_and_tags_with_a_result_per_instance(
    live_server: Any, page: Any, admin_user: Any
) -> None:
    build(6, 1)
    watch = Watch(page, live_server.url)
    sign_in(page, live_server.url, admin_user.username)
    page.goto(f"{live_server.url}/spaces/instances/?region=emea")
    assert page.locator("[data-testid=console-row]").count() == 2
    page.check("[data-testid=select-all]")
    page.select_option("[data-testid=bulk-action]", "pin")
    assert not page.locator("[data-testid=bulk-add-tags]").is_visible()  # only pin's input
    page.fill("[data-testid=bulk-pin]", "2026.1.1")
    page.click("[data-testid=bulk-apply]")
    page.wait_for_selector("[data-testid=bulk-results]")
    assert page.locator("[data-testid=bulk-result][data-ok=yes]").count() == 2
    pins = set(InstanceMonitor.objects.filter(pinned_version="2026.1.1").values_list(
        "instance__region", flat=True))  # fmt: skip
    assert pins == {"emea"}
    page.goto(f"{live_server.url}/spaces/instances/?sort=-name")
    page.check("[data-testid=select-octo-0005]")
    page.select_option("[data-testid=bulk-action]", "tags")
    page.fill("[data-testid=bulk-add-tags]", "canary")
    page.click("[data-testid=bulk-apply]")
    page.wait_for_selector("[data-testid=bulk-results]")
    assert list(Instance.objects.filter(tags__name="canary").values_list("name", flat=True)) == [
        "octo-0005"
    ]
    # Key rotation: its own input only; a key that fails its test is reported, never echoed.
    page.check("[data-testid=select-octo-0005]")
    page.select_option("[data-testid=bulk-action]", "rotate")
    assert page.locator("[data-testid=bulk-new-keys]").is_visible()
    assert not page.locator("[data-testid=bulk-pin]").is_visible()
    secret = "API-BROWSERNEVERSHOWN000000000000"
    page.fill("[data-testid=bulk-new-keys]", f"octo-0005 {secret}")
    page.click("[data-testid=bulk-apply]")
    page.wait_for_selector("[data-testid=bulk-results]")
    assert page.locator("[data-testid=bulk-result][data-ok=no]").count() == 1
    assert secret not in page.content()
    assert watch.console == [] and watch.failed == []


def test_switcher_type_ahead_with_the_keyboard(
    live_server: Any, page: Any, admin_user: Any
) -> None:
    build(3, 2)
    Space.objects.filter(instance__name="octo-0002", name="Space 2").update(name="Payments")
    watch = Watch(page, live_server.url)
    sign_in(page, live_server.url, admin_user.username)
    page.goto(f"{live_server.url}/spaces/")
    page.click("[data-testid=switcher]")
    box = page.locator("[data-testid=switcher-search]")
    box.wait_for()
    page.wait_for_function(
        "() => document.activeElement && document.activeElement.id === 'switcher-search'"
    )
    page.keyboard.type("paym")
    match = page.locator("[data-testid=switcher-match]")
    match.first.wait_for()
    assert match.count() == 1 and "Payments (octo-0002)" in match.first.inner_text()
    page.keyboard.press("ArrowDown")
    page.wait_for_function(
        "() => document.activeElement && document.activeElement.dataset.testid === 'switcher-match'"
    )
    page.keyboard.press("Enter")
    space = Space.objects.get(name="Payments")
    page.wait_for_url(f"**/spaces/{space.pk}/")
    assert watch.console == [] and watch.failed == []


def test_a_long_dropdown_is_a_searchable_picker(
    live_server: Any, page: Any, admin_user: Any
) -> None:
    build(10, 2)  # the grant form lists 10 instances and 20 spaces
    group = Group.objects.create(name="Operators", slug="operators")
    watch = Watch(page, live_server.url)
    sign_in(page, live_server.url, admin_user.username)
    page.goto(f"{live_server.url}/access/groups/{group.pk}/")
    picker = page.locator("[data-testid=picker-filter]")
    assert picker.count() == 1  # the short role list keeps its plain dropdown
    picker.fill("0007 space 2")
    assert picker.get_attribute("data-shown") == "1"
    target = page.locator("select[name=grant-target]")
    space = Space.objects.get(instance__name="octo-0007", name="Space 2")
    assert target.input_value() == f"s:{space.pk}"  # the one match is chosen
    with page.expect_navigation():
        page.click("form[action$='/grants/'] button[type=submit]")
    assert Grant.objects.filter(group=group, space=space).exists()
    assert watch.console == [] and watch.failed == []
