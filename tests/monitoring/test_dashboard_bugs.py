"""Dashboard bugs from the walkthrough: filtered empty states, the versions panel under the
filters, an empty chart's legend, a custom timeframe without dates, hourly buckets for 24 h."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from monitoring.models import StatusFlip
from monitoring.services import dashboard
from tests.monitoring.test_dashboard import build

pytestmark = pytest.mark.django_db


def test_a_filter_with_no_match_says_so_and_offers_to_clear_it(
    admin_user: Any, login: Callable[[Any], Client]
) -> None:
    build(2, 1)
    page = login(admin_user).get("/", {"status": "maintenance"}).content.decode()
    assert "No space matches these filters" in page
    assert "once instances are enlisted" not in page.lower()
    unfiltered = login(admin_user).get("/").content.decode()
    assert "No space matches" not in unfiltered


def test_the_versions_panel_follows_the_status_and_tag_filters(admin_user: Any) -> None:
    build(4, 1)  # octo-0000 is offline on 2025.1.1; the others are online
    offline = dashboard.version_inventory(admin_user, dashboard.Filters(status="offline"))
    assert [(v["version"], v["instances"]) for v in offline] == [("2025.1.1", 1)]
    assert dashboard.version_inventory(admin_user, dashboard.Filters(tag="no-such-tag")) == []


def test_an_empty_chart_does_not_claim_a_peak_of_one(
    admin_user: Any, login: Callable[[Any], Client]
) -> None:
    build(1, 1)
    page = login(admin_user).get("/", {"tf": "24h", "status": "maintenance"}).content.decode()
    assert "Peak 1 per day" not in page
    assert "No deployments in this period for these filters." in page


def test_custom_timeframe_without_dates_says_which_dates_it_shows(
    admin_user: Any, login: Callable[[Any], Client]
) -> None:
    build(1, 1)
    web = login(admin_user)
    page = web.get("/", {"tf": "custom"}, HTTP_HX_REQUEST="true").content.decode()
    period = dashboard.parse_period({"tf": "custom"})
    assert period.incomplete
    assert 'data-testid="custom-incomplete"' in page
    first = period.first.isoformat()
    assert f'id="f-from" name="from" value="{first}" hx-swap-oob="true"' in page
    chosen = web.get(
        "/", {"tf": "custom", "from": first, "to": period.last.isoformat()}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert 'data-testid="custom-incomplete"' not in chosen


def test_a_short_outage_in_the_last_24_hours_is_a_visible_hourly_block(admin_user: Any) -> None:
    build(1, 1)
    instance_flips = StatusFlip.objects.all()
    instance = instance_flips.get().instance
    now = timezone.now()
    StatusFlip.objects.filter(instance=instance).update(
        at=now - timedelta(days=3), to_status="online"
    )
    began = now - timedelta(hours=3, minutes=10)
    StatusFlip.objects.create(
        instance=instance, from_status="online", to_status="offline", at=began
    )
    StatusFlip.objects.create(
        instance=instance,
        from_status="offline",
        to_status="online",
        at=began + timedelta(minutes=5),
    )
    instance.status = "online"
    instance.save()
    period = dashboard.parse_period({"tf": "24h"})
    (timeline,) = dashboard.status_timelines(admin_user, period, dashboard.Filters())
    segments = timeline["segments"]
    assert len(segments) == 24
    assert all(s["to"] - s["from"] == timedelta(hours=1) for s in segments)
    down = [s for s in segments if s["status"] == "offline"]
    assert len(down) in (1, 2) and all(s["width"] == round(100 / 24, 3) for s in down)
    assert segments[0]["from"] >= now - timedelta(hours=24)
