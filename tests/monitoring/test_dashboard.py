"""Dashboard, CSV and report API: access rules, figures, and query counts that do not grow."""

from __future__ import annotations

import csv
import functools
import io
import re
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from monitoring.models import InstanceMonitor, SpaceDay, SpaceTotal, StatusFlip, SweepRun
from monitoring.services.dashboard import today
from odcm.crypto import seal
from spaces.models import Instance, Space, Tag

pytestmark = pytest.mark.django_db


def build(instances: int, spaces_per_instance: int, *, start: int = 0, owner: Any = None) -> None:
    """Instances with spaces, monitors, flips and a week of rollups, written in bulk."""
    tag, _ = Tag.objects.get_or_create(name="prod")
    now = timezone.now()
    made = []
    for n in range(start, start + instances):
        inst = Instance(
            name=f"octo-{n:04d}",
            slug=f"octo-{n:04d}",
            base_url=f"http://127.0.0.1:9/octo-{n:04d}",
            region=["emea", "apac", "amer"][n % 3],
            status="online" if n % 5 else "offline",
            status_since=now - timedelta(hours=n % 7),
            version="2024.4.1234" if n % 2 else "2025.1.1",
        )
        seal(inst, "api_key", "API-TESTKEY")
        made.append(inst)
    Instance.objects.bulk_create(made)
    for inst in made:
        inst.tags.add(tag)
        if owner is not None:
            inst.owners.add(owner)
    InstanceMonitor.objects.bulk_create(
        [InstanceMonitor(instance=i, pinned_version="2024.4.1234") for i in made]
    )
    StatusFlip.objects.bulk_create(
        [StatusFlip(instance=i, from_status="unknown", to_status=i.status, at=now) for i in made]
    )
    spaces = [
        Space(
            instance=inst,
            octopus_id=f"Spaces-{k}",
            name=f"Space {k}",
            slug=f"{inst.slug}-s{k}",
            project_count=k,
            target_count=2 * k,
            unhealthy_target_count=k % 2,
        )
        for inst in made
        for k in range(1, spaces_per_instance + 1)
    ]
    Space.objects.bulk_create(spaces)
    day = today()
    SpaceDay.objects.bulk_create(
        [
            SpaceDay(space=s, day=day - timedelta(days=d), succeeded=3, failed=1, timed_out=1)
            for s in spaces
            for d in range(7)
        ]
    )


def count_queries(call: Callable[[], Any]) -> int:
    call()  # warm up: a token's first use of the minute records last_used
    with CaptureQueriesContext(connection) as ctx:
        response = call()
    assert response.status_code == 200, response.content[:500]
    return len(ctx.captured_queries)


def requests(login: Callable[[Any], Client], user: Any, token: str) -> dict[str, Callable[[], Any]]:
    web = login(user)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return {
        "dashboard": lambda: web.get("/?tf=30d&sort=-failed"),
        "table": lambda: web.get("/?tf=7d&part=table", HTTP_HX_REQUEST="true"),
        "filtered": lambda: web.get(
            "/?region=emea&status=offline&tag=prod", HTTP_HX_REQUEST="true"
        ),
        "csv": lambda: web.get("/monitoring/reports/spaces.csv?tf=90d"),
        "api-spaces": lambda: api.get("/api/v1/reports/spaces/?tf=24h"),
        "api-deployments": lambda: api.get("/api/v1/reports/deployments/?tf=7d"),
        "api-deployments-90d": lambda: api.get("/api/v1/reports/deployments/?tf=90d"),
        "api-versions": lambda: api.get("/api/v1/reports/versions/"),
    }


@pytest.mark.parametrize("persona", ["admin_user", "space_owner"])
def test_query_counts_are_the_same_for_10_and_1000_spaces(
    persona: str,
    request: pytest.FixtureRequest,
    login: Callable[[Any], Client],
    token_for: Callable[..., str],
    settings: Any,
) -> None:
    settings.ODCM_DASHBOARD_CACHE_SECONDS = 0  # measure the uncached path
    user = request.getfixturevalue(persona)
    owner = user if persona == "space_owner" else None
    build(1, 10, owner=owner)
    calls = requests(login, user, token_for(user, read_only=True))
    small = {name: count_queries(call) for name, call in calls.items()}
    build(99, 10, start=1, owner=owner)
    assert Space.objects.count() == 1000
    large = {name: count_queries(call) for name, call in calls.items()}
    assert large == small


def test_outsider_sees_no_spaces_and_gets_404_for_an_instance(
    login: Callable[[Any], Client], outsider: Any, token_for: Callable[..., str]
) -> None:
    build(2, 3)
    web = login(outsider)
    page = web.get("/")
    assert page.status_code == 200
    assert b'data-testid="dashboard-empty"' in page.content
    assert web.get("/monitoring/instances/octo-0000/").status_code == 404
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(outsider)}")
    body = api.get("/api/v1/reports/spaces/").json()
    assert body["count"] == 0 and body["results"] == []
    assert api.get("/api/v1/reports/versions/").json()["results"] == []
    rows = list(csv.reader(io.StringIO(web.get("/monitoring/reports/spaces.csv").content.decode())))
    assert len(rows) == 1  # the header only


def test_owner_sees_only_their_instances_spaces(
    login: Callable[[Any], Client], space_owner: Any, token_for: Callable[..., str]
) -> None:
    build(2, 3)
    build(1, 4, start=2, owner=space_owner)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(space_owner)}")
    body = api.get("/api/v1/reports/spaces/?tf=7d").json()
    assert {r["instance_slug"] for r in body["results"]} == {"octo-0002"}
    assert body["count"] == 4
    deployments = api.get("/api/v1/reports/deployments/?tf=7d").json()["results"]
    assert {r["instance"] for r in deployments} == {"octo-0002"}
    assert len(deployments) == 4 * 7  # four spaces, seven days of rollups in the last 7 d


def test_anonymous_is_sent_to_sign_in_and_refused_by_the_api(client: Client) -> None:
    assert client.get("/").status_code == 302
    assert client.get("/monitoring/reports/spaces.csv").status_code == 302
    assert APIClient().get("/api/v1/reports/spaces/").status_code in (401, 403)


def test_report_figures_totals_filters_and_pin_flag(
    login: Callable[[Any], Client], admin_user: Any, token_for: Callable[..., str]
) -> None:
    build(3, 2)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(admin_user)}")
    week = api.get(
        "/api/v1/reports/spaces/?tf=custom&from=" + str(today() - timedelta(days=6))
    ).json()
    assert week["count"] == 6
    assert {(r["succeeded"], r["failed"]) for r in week["results"]} == {(21, 14)}
    assert week["totals"]["succeeded"] == 6 * 21 and week["totals"]["rate"] == 60.0
    two_days = api.get(
        f"/api/v1/reports/spaces/?from={today() - timedelta(days=1)}&to={today()}"
    ).json()
    assert {(r["succeeded"], r["failed"]) for r in two_days["results"]} == {(6, 4)}
    emea = api.get("/api/v1/reports/spaces/?region=emea").json()
    assert {r["region"] for r in emea["results"]} == {"emea"}
    one = api.get("/api/v1/reports/spaces/?instance=octo-0001").json()
    assert one["count"] == 2 and one["results"][0]["pin_mismatch"] is False
    zero = api.get("/api/v1/reports/spaces/?instance=octo-0000").json()
    assert zero["results"][0]["pin_mismatch"] is True  # 2025.1.1 against a 2024.4.1234 pin
    versions = api.get("/api/v1/reports/versions/").json()["results"]
    assert {(v["version"], v["instances"]) for v in versions} == {
        ("2024.4.1234", 1),
        ("2025.1.1", 2),
    }
    page = login(admin_user).get("/?tf=7d")
    assert page.content.count(b'data-testid="space-row"') == 6
    assert b'data-testid="pin-mismatch"' in page.content
    assert b'data-testid="deployments-chart"' in page.content
    assert b"Status timeline of octo-0000" in page.content


def test_metrics_expose_instance_space_and_alert_figures(client: Client, settings: Any) -> None:
    settings.ODCM_METRICS_TOKEN = ""
    build(2, 2)
    SpaceTotal.objects.create(space=Space.objects.get(slug="octo-0001-s1"), succeeded=21)
    text = client.get("/metrics").content.decode()
    assert 'odcm_instance_up{odcm_instance="octo-0000"} 0.0' in text
    assert 'odcm_instance_up{odcm_instance="octo-0001"} 1.0' in text
    assert 'odcm_instance_status{odcm_instance="octo-0000",status="offline"} 1.0' in text
    assert 'odcm_instance_version_info{odcm_instance="octo-0001",version="2024.4.1234"} 1.0' in text
    assert 'odcm_space_projects{odcm_instance="octo-0001",space="octo-0001-s2"} 2.0' in text
    assert (
        'odcm_space_targets{health="unhealthy",odcm_instance="octo-0001",space="octo-0001-s1"} 1.0'
        in text
    )
    assert (
        'odcm_space_deployments_total{odcm_instance="octo-0001",result="success",'
        'space="octo-0001-s1"} 21.0' in text
    )
    assert "odcm_alerts_pending 0.0" in text


def test_cached_figures_are_served_until_a_sweep_or_pull_finishes(
    login: Callable[[Any], Client], admin_user: Any, settings: Any
) -> None:
    from monitoring.services.status import finish_run

    settings.ODCM_DASHBOARD_CACHE_SECONDS = 300
    build(2, 2)
    web = login(admin_user)

    def statuses() -> set[bytes]:
        page = web.get("/?tf=7d&part=table", HTTP_HX_REQUEST="true")
        return set(re.findall(rb'data-status="(\w+)"', page.content))

    assert statuses() == {b"offline", b"online"}
    Instance.objects.update(status="maintenance")
    assert statuses() == {b"offline", b"online"}  # served from the cache
    SweepRun.objects.get_or_create(name="status")
    finish_run("status", time.perf_counter(), 2, 0)
    assert statuses() == {b"maintenance"}  # a finished sweep shows at once


def test_sorting_and_paging_happen_in_sql(
    login: Callable[[Any], Client], admin_user: Any, settings: Any, token_for: Callable[..., str]
) -> None:
    settings.ODCM_DASHBOARD_PAGE_SIZE = 10
    build(3, 5)
    SpaceDay.objects.filter(space__slug="octo-0002-s3").update(failed=9)
    web = login(admin_user)
    first = web.get("/?tf=7d&sort=-failed&part=table", HTTP_HX_REQUEST="true").content
    slugs = re.findall(rb'data-space="([\w-]+)"', first)
    assert len(slugs) == 10 and slugs[0] == b"octo-0002-s3"
    second = web.get("/?tf=7d&sort=-failed&page=2&part=table", HTTP_HX_REQUEST="true").content
    assert len(re.findall(rb'data-testid="space-row"', second)) == 5
    assert b'data-testid="total-succeeded">315<' in second  # totals cover every page
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(admin_user)}")
    body = api.get("/api/v1/reports/spaces/?sort=-failed&page_size=4&page=1").json()
    assert body["count"] == 15 and len(body["results"]) == 4 and body["next"]
    assert body["results"][0]["slug"] == "octo-0002-s3"
    assert body["totals"]["spaces"] == 15


def test_the_paged_table_costs_the_same_queries_on_every_page_and_swaps_the_table_alone(
    login: Callable[[Any], Client], admin_user: Any, settings: Any
) -> None:
    settings.ODCM_DASHBOARD_CACHE_SECONDS = 0
    settings.ODCM_DASHBOARD_PAGE_SIZE = 10
    build(1, 10)  # octo-0000 is in emea
    web = login(admin_user)

    def part(n: int) -> Any:
        url = f"/?tf=30d&region=emea&sort=-failed&page={n}&part=table"
        return web.get(url, HTTP_HX_REQUEST="true")

    small = count_queries(lambda: part(1))
    build(99, 10, start=1)  # 34 instances in emea: 340 spaces, 34 pages
    assert {count_queries(functools.partial(part, n)) for n in (1, 2, 34)} == {small}
    html = part(2).content.decode()
    # The whole polled element comes back, asking next time for the page on show.
    assert html.lstrip().startswith('<div id="space-table"')
    assert 'hx-swap="outerHTML"' in html and "sort=-failed&amp;page=2&amp;part=table" in html
    assert html.count('data-testid="space-row"') == 10
    assert re.findall(r'data-instance="([^"]+)"', html) and {
        int(i[5:]) % 3 for i in re.findall(r'data-instance="(octo-\d+)"', html)
    } == {0}
    assert "340 spaces · 30 d" in html  # totals over every page
    # A page link keeps the filters and sort: htmx swaps the table, a plain link loads the page.
    link = re.search(
        r'href="([^"]+)" hx-get="([^"]+)" hx-target="#space-table" hx-swap="outerHTML" '
        r'hx-push-url="([^"]+)"[^>]*>3<',
        html,
    )
    assert link is not None
    plain, swap, pushed = (g.replace("&amp;", "&") for g in link.groups())
    assert plain == pushed == "?tf=30d&region=emea&sort=-failed&page=3"
    assert swap == plain + "&part=table"
    full = web.get("/" + plain).content.decode()
    assert 'id="dashboard-filters"' in full and full.count('data-testid="space-row"') == 10
