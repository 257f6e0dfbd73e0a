"""The front end in Chromium: every main page works under the content security policy, the
colour modes, the dashboard's pause, and the tiles' keyboard handling."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.urls import reverse

from identity.models import User
from tests.conftest import PASSWORD
from tests.odcm.pages import build_site, main_pages

pytestmark = pytest.mark.django_db(transaction=True)

# Predicates are functions: a string expression would be eval'd, which the policy forbids.
TILES = "() => document.querySelectorAll('[data-testid=space-tile]').length"

# Collects every violation the browser reports, whatever the console says about it.
WATCH_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push([e.violatedDirective, e.blockedURI, e.sourceFile, e.lineNumber].join(" "));
});
"""


class Watch:
    """Console messages about the content security policy, and failed same-origin requests."""

    def __init__(self, page: Any, origin: str) -> None:
        self.console: list[str] = []
        self.failed: list[str] = []
        page.add_init_script(WATCH_CSP)
        page.on("console", self._console)
        page.on("response", lambda r: self._response(r, origin))

    def _console(self, message: Any) -> None:
        text = message.text
        if "Content Security Policy" in text or "Content-Security-Policy" in text:
            self.console.append(text)

    def _response(self, response: Any, origin: str) -> None:
        path = urlsplit(response.url).path
        if response.url.startswith(origin) and response.status >= 400 and path != "/no-such-page/":
            self.failed.append(f"{response.status} {response.url}")


def sign_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_login", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=user-menu]")


def test_the_main_pages_work_under_the_content_security_policy(
    live_server: Any, page: Any, admin_user: User
) -> None:
    site = build_site(admin_user)
    base = live_server.url
    watch = Watch(page, base)
    seen: list[str] = []

    def visit(url: str) -> None:
        page.goto(base + url)
        page.wait_for_load_state("networkidle")
        seen.extend(page.evaluate("window.__csp"))

    visit("/accounts/login/")
    sign_in(page, base, admin_user.username)
    extra = [reverse("admin:index"), reverse("api:instance-list")]
    for url in main_pages(site, admin_user) + extra:
        visit(url)

    # Tiles with a search, then the switcher (loaded by htmx when it opens).
    visit(reverse("spaces:list"))
    page.fill("[data-testid=space-search]", "space 2")
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=space-tile]').length === 1"
    )
    with page.expect_response(lambda r: reverse("spaces:switcher") in r.url) as loaded:
        page.click("[data-testid=switcher]")
    assert loaded.value.status == 200
    page.wait_for_selector("[data-testid=switcher-menu] >> text=All spaces")
    seen.extend(page.evaluate("window.__csp"))

    # Dashboard: htmx swaps the filtered table in.
    visit(reverse("home"))
    page.select_option("[data-testid=filter-status]", "maintenance")
    page.wait_for_function("() => location.search.includes('status=maintenance')")
    page.wait_for_selector("[data-testid=space-row]")
    seen.extend(page.evaluate("window.__csp"))

    # The API documentation: Swagger UI renders the schema's operations.
    visit("/api/docs/")
    page.wait_for_selector(".swagger-ui .opblock", timeout=30_000)
    seen.extend(page.evaluate("window.__csp"))

    assert seen == []
    assert watch.console == []
    assert watch.failed == []


def test_the_colour_mode_follows_the_system_until_chosen_and_is_remembered(
    live_server: Any, browser: Any, admin_user: User, tmp_path: Path
) -> None:
    build_site(admin_user)
    context = browser.new_context(viewport={"width": 1400, "height": 900}, color_scheme="dark")
    page = context.new_page()
    try:
        sign_in(page, live_server.url, admin_user.username)
        mode = "document.documentElement.getAttribute('data-bs-theme')"
        assert page.evaluate(mode) == "dark"  # the system's preference
        page.click("[data-testid=theme-toggle]")
        page.click("[data-testid=theme-light]")
        assert page.evaluate(mode) == "light"
        page.reload()
        assert page.evaluate(mode) == "light"
        shots = Path(os.environ.get("ODCM_SCREENSHOTS", tmp_path))
        page.screenshot(path=str(shots / "dashboard-light.png"), full_page=True)
        page.click("[data-testid=theme-toggle]")
        page.click("[data-testid=theme-dark]")
        page.goto(f"{live_server.url}/spaces/")
        assert page.evaluate(mode) == "dark"
        assert page.get_attribute("[data-testid=theme-dark]", "aria-pressed") == "true"
        page.goto(live_server.url)
        page.screenshot(path=str(shots / "dashboard-dark.png"), full_page=True)
        page.click("[data-testid=theme-toggle]")
        page.click("[data-testid=theme-auto]")
        assert page.evaluate(mode) == "dark"
        page.emulate_media(color_scheme="light")
        page.wait_for_function(f"() => {mode} === 'light'")
    finally:
        context.close()


def within(page: Any, ms: int, check: Callable[[], bool]) -> bool:
    """Whether ``check`` holds within ``ms`` milliseconds: asked every 50 ms (Playwright delivers
    the page's events meanwhile), so a wait ends once it holds, not after a fixed ``ms``."""
    deadline = time.monotonic() + ms / 1000
    while not check():
        if time.monotonic() >= deadline:
            return False
        page.wait_for_timeout(50)
    return True


def test_the_dashboard_refresh_can_be_paused_and_resumed(
    live_server: Any, page: Any, admin_user: User, settings: Any
) -> None:
    settings.ODCM_DASHBOARD_REFRESH_SECONDS = 1
    build_site(admin_user)
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if "part=table" in r.url else None)
    sign_in(page, live_server.url, admin_user.username)
    assert within(page, 1500, lambda: bool(polls)), "the table polls while not paused"

    page.click("[data-testid=refresh-pause]")
    assert page.get_attribute("[data-testid=refresh-pause]", "aria-pressed") == "true"
    assert "paused" in page.inner_text("[data-testid=refreshed-at]")
    page.wait_for_timeout(300)  # a poll already on its way may land
    before = len(polls)
    page.wait_for_timeout(2500)
    assert len(polls) == before

    page.click("[data-testid=refresh-pause]")
    page.wait_for_function("() => document.querySelector('[data-testid=refresh-pause]')"
                           ".getAttribute('aria-pressed') === 'false'")  # fmt: skip
    assert within(page, 2500, lambda: len(polls) > before), "the table polls again"


def test_the_tiles_keyboard_stays_in_the_grid_and_the_star_is_not_inside_the_link(
    live_server: Any, page: Any, admin_user: User
) -> None:
    build_site(admin_user)
    sign_in(page, live_server.url, admin_user.username)
    page.goto(f"{live_server.url}/spaces/")
    page.wait_for_selector("[data-testid=space-tile]")
    assert page.locator("a button, a a, a input").count() == 0
    focused = "document.activeElement.textContent.trim()"

    # From the search box: down into the grid, right to the next tile, up back to the box.
    page.focus("[data-testid=space-search]")
    page.keyboard.press("ArrowDown")
    assert page.evaluate(focused) == "Space 1"
    page.keyboard.press("ArrowRight")
    assert page.evaluate(focused) == "Space 2"
    page.keyboard.press("ArrowUp")
    assert page.evaluate("document.activeElement.id") == "space-search"

    # Outside the grid the arrows belong to the page: a menu gets them, not the tiles.
    page.click("[data-testid=user-menu]")
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.classList.contains('dropdown-item')")
    assert page.evaluate("document.activeElement.closest('#tiles')") is None
    page.keyboard.press("Escape")

    # Enter in the search box opens the first match.
    page.fill("[data-testid=space-search]", "space 2")
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=space-tile]').length === 1"
    )
    page.press("[data-testid=space-search]", "Enter")
    page.wait_for_selector("[data-testid=octopus-link]")
    assert "Space 2" in page.inner_text("h1")
