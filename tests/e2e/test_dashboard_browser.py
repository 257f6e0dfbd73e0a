"""The dashboard in a browser: a space going offline shows up without a reload, and the
timeframe switch changes the figures."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from monitoring.services import dashboard, deployments
from monitoring.services.status import sweep_status
from octosim.testing import SimInstance
from odcm.ui import status_colour
from spaces.models import Space
from tests.conftest import PASSWORD
from tests.monitoring.conftest import enlist_sim


def in_thread(work: Callable[[], Any]) -> Any:
    """Run ORM + asyncio work off the test thread (Playwright's loop lives there)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = work()
        except BaseException as exc:  # pragma: no cover - re-raised below
            box["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box.get("result")


@pytest.mark.django_db(transaction=True)
def test_dashboard_shows_a_space_going_offline_and_switches_timeframes(
    live_server: Any, page: Any, sim_instance: SimInstance, admin_user: Any, settings: Any
) -> None:
    settings.ODCM_OFFLINE_AFTER = 1  # "within one sweep"
    settings.ODCM_DASHBOARD_REFRESH_SECONDS = 1
    instance = enlist_sim(sim_instance)
    spaces = list(Space.objects.filter(instance=instance).select_related("instance"))
    in_thread(lambda: sweep_status(force=True))
    in_thread(lambda: deployments.pull(spaces))

    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_login", admin_user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/?tf=90d")
    rows = page.locator("[data-testid=space-row]")
    assert rows.count() == 3
    assert page.locator("[data-testid=space-row][data-status=online]").count() == 3
    page.evaluate("window.__notReloaded = true")

    sim_instance.set_faults(offline="refuse")
    in_thread(lambda: sweep_status(force=True))
    page.wait_for_selector("[data-testid=space-row][data-status=offline]", timeout=15_000)
    assert page.locator("[data-testid=space-row][data-status=offline]").count() == 3
    assert page.evaluate("window.__notReloaded") is True  # htmx swapped the table in place

    expected = {
        key: dashboard.space_table(
            admin_user, dashboard.parse_period({"tf": key}), dashboard.Filters()
        ).totals["succeeded"]
        for key in ("24h", "90d")
    }
    assert expected["90d"] != expected["24h"]
    assert page.inner_text("[data-testid=total-succeeded]").strip() == str(expected["90d"])
    page.click("[data-testid=tf-24h]")
    page.wait_for_function(
        "want => document.querySelector('[data-testid=total-succeeded]').innerText.trim() === want",
        arg=str(expected["24h"]),
    )
    assert "tf=24h" in page.url
    assert page.evaluate("window.__notReloaded") is True

    # The status timelines draw each segment in its status's colour (the colour comes from
    # the <g> around the segments of one status) with its own tooltip.
    page.reload()
    shown = timeline_fills(page)
    # The last 24 hours in hourly buckets, each the worst status held: offline.
    assert "offline" in {status for status, _, _ in shown}
    for status, fill, wanted in shown:
        assert fill == wanted, (status, fill, wanted)


def timeline_fills(page: Any) -> list[tuple[str, str, str]]:
    """(status from the tooltip, the rect's computed fill, its status colour) per segment."""
    colours = {s: status_colour(s) for s in ("online", "offline", "maintenance", "unknown")}
    return page.evaluate(
        """colours => {
            const probe = document.createElement('span');
            document.body.appendChild(probe);
            const rgb = name => {
                probe.style.color = `var(--bs-${name})`;
                return getComputedStyle(probe).color;
            };
            const rects = document.querySelectorAll('svg[aria-label^="Status timeline"] rect');
            return Array.from(rects, r => {
                const status = r.querySelector('title').textContent.split(' ')[0];
                return [status, getComputedStyle(r).fill, rgb(colours[status])];
            });
        }""",
        colours,
    )
