"""Issue 18's walkthrough bugs, walked again as a person in Chromium: sorting headers (1),
403 pages for non-administrators (2), a filtered dashboard with no match (6), a custom
timeframe without dates (7), one highlighted navigation item (8), the API's JSON index and
JSON 404 (12), audit links and CSV export (13), un-enlisting with a confirmation (14), "1 space"
and the favicon (16). The Django-client tests of each fix live next to the code they cover."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.sync_api import expect

from identity.models import User
from spaces.models import Instance, Space
from tests.e2e.test_front_end_browser import Watch, sign_in
from tests.monitoring.test_dashboard import build

pytestmark = pytest.mark.django_db(transaction=True)


def _order(page: Any) -> list[str]:
    rows = page.get_by_test_id("space-row")
    rows.first.wait_for()
    return [str(r.get_attribute("data-space")) for r in rows.all()]


def test_an_administrator_walks_the_fixed_pages(
    live_server: Any, page: Any, admin_user: User
) -> None:
    build(2, 2)  # octo-0000 (offline) and octo-0001, each with "Space 1" and "Space 2"
    Space.objects.filter(instance__name="octo-0001", name="Space 2").update(name="Payments")
    base = live_server.url
    watch = Watch(page, base)
    sign_in(page, base, admin_user.username)

    # Bug 1: a column header sorts the dashboard; its link has one "?".
    page.goto(f"{base}/?tf=7d")
    before = _order(page)
    page.click("[data-testid=dashboard-table] a.sort-link[data-sort=projects]")
    page.wait_for_url(re.compile(r"/\?(.*&)?sort=-projects"))
    assert "??" not in page.url and "/?" in page.url
    expect(page.locator("th[aria-sort=descending] a[data-sort=projects]")).to_have_count(1)
    after = _order(page)
    assert after != before and sorted(after) == sorted(before)
    assert all(slug.endswith("-s2") for slug in after[:2]), after  # most projects first

    # Bug 7: "Custom" without dates says which dates it shows and fills the date boxes.
    page.click("[data-testid=tf-custom]")
    notice = page.get_by_test_id("custom-incomplete")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("pick both a From and a To date")
    expect(page.locator("#f-from")).not_to_have_value("")
    expect(page.locator("#f-to")).not_to_have_value("")
    shown = notice.inner_text()
    assert page.locator("#f-from").input_value() in shown
    assert page.locator("#f-to").input_value() in shown

    # Bug 6: a filter with no match says so, not "once instances are enlisted".
    page.select_option("[data-testid=filter-status]", "maintenance")
    empty = page.get_by_test_id("dashboard-empty")
    expect(empty).to_contain_text("No space matches these filters")
    assert "enlisted" not in empty.inner_text()

    # Bug 8: on an instance page only "Instances" is highlighted.
    instance = Instance.objects.get(name="octo-0000")
    space = instance.spaces.get(name="Space 1")
    page.goto(f"{base}/spaces/instances/{instance.pk}/")
    active = page.locator("nav a.nav-link.active")
    expect(active).to_have_count(1)
    expect(active).to_have_text("Instances")

    # Bug 14: un-enlisting asks first; nothing changes until it is confirmed.
    page.click(f"form[action='/spaces/{space.pk}/unenlist/'] button[type=submit]")
    confirm = page.get_by_test_id("confirm-form")
    expect(confirm).to_be_visible()
    expect(page.locator("main, body").first).to_contain_text("Nothing changes in Octopus")
    space.refresh_from_db()
    assert space.state == Space.State.ENLISTED
    page.click("[data-testid=confirm]")
    page.wait_for_url(f"**/spaces/instances/{instance.pk}/")
    space.refresh_from_db()
    assert space.state == Space.State.NOT_ENLISTED

    # Bug 13: the audit log names the space, links to it, and exports CSV.
    page.goto(f"{base}/audit/")
    link = page.get_by_test_id("audit-object-link").filter(has_text="Space 1")
    expect(link).to_have_count(1)
    assert str(space.pk) not in link.inner_text()
    csv_href = page.get_by_test_id("audit-csv").get_attribute("href")
    link.click()
    page.wait_for_url(f"**/spaces/{space.pk}/")
    export = page.request.get(f"{base}{csv_href}")
    assert export.status == 200 and export.headers["content-type"].startswith("text/csv")
    text = export.text()
    assert text.startswith("at,actor,action,object_type") and "space.unenlist" in text

    # Bug 16: "1 space", not "1 spaces"; the favicon is served.
    page.goto(f"{base}/spaces/")
    page.get_by_test_id("space-search").fill("paym")
    expect(page.locator("#space-count")).to_have_text("1 space")
    icon = page.request.get(f"{base}/favicon.ico")
    assert icon.ok and icon.headers["content-type"].startswith("image/")
    page_icon = page.locator("link[rel~=icon]").get_attribute("href")
    assert page.request.get(f"{base}{page_icon}").ok

    # Bug 12: the API's root is a JSON index; an unknown path answers JSON, not the HTML page.
    index = page.request.get(f"{base}/api/v1/", headers={"Accept": "application/json"})
    assert index.status == 200
    links = index.json()
    assert "instances" in links and "docs" in links
    missing = page.goto(f"{base}/api/v1/no-such-thing/")
    assert missing is not None and missing.status == 404
    assert missing.headers["content-type"].startswith("application/json")
    assert json.loads(page.locator("body").inner_text())["code"] == "not_found"

    assert watch.console == []
    assert watch.failed == [f"404 {base}/api/v1/no-such-thing/"]


def test_a_non_administrator_gets_a_403_page_not_a_redirect_loop(
    live_server: Any, page: Any, member: User
) -> None:
    base = live_server.url
    sign_in(page, base, member.username)
    for path in ("/administration/", "/audit/"):
        response = page.goto(f"{base}{path}")  # a redirect loop would raise here
        assert response is not None and response.status == 403, path
        assert page.url == f"{base}{path}"
        expect(page.locator("body")).to_contain_text("ask an ODCM administrator")
        expect(page.get_by_test_id("user-menu")).to_be_visible()  # still signed in
