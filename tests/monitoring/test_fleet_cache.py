"""The dashboard's fleet section is cached like its table: a cached page does not compute it
again, and what changes it (a status flip, a revoked grant, a delivery that starts or stops
failing) shows at once. Cached figures are per viewer: a person, or a limited token of theirs."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from identity import services
from identity.models import Role
from monitoring.models import Alert, Notification
from monitoring.services import alerts, outbox
from monitoring.services.status import sweep_status
from octosim.testing import SimInstance
from spaces.models import Instance
from spaces.services import instances as registry
from tests.monitoring.conftest import SmtpServer
from tests.monitoring.test_dashboard import build

pytestmark = pytest.mark.django_db

# Tables the fleet section reads and the rest of a cached page does not (the first-run
# checklist reads notifications too): a page that queries none of them did not compute it.
FLEET_ONLY = ("monitoring_channeldelivery", "monitoring_spaceday", "monitoring_instancemonitor")


def _card(html: str, key: str) -> str:
    match = re.search(rf'data-testid="card-{key}" data-count="([^"]*)"', html)
    assert match, key
    return match.group(1)


def _fleet_instances(html: str) -> list[str]:
    return re.findall(r'data-testid="fleet-instance" data-instance="([^"]+)"', html)


def _fleet_queries(queries: list[dict[str, Any]]) -> list[str]:
    return [q["sql"] for q in queries if any(t in q["sql"] for t in FLEET_ONLY)]


@pytest.mark.parametrize("persona", ["admin_user", "space_owner"])
def test_a_cached_dashboard_page_does_not_compute_the_fleet_again(
    persona: str,
    request: pytest.FixtureRequest,
    login: Callable[[Any], Client],
    settings: Any,
    django_assert_max_num_queries: Any,
) -> None:
    settings.ODCM_DASHBOARD_CACHE_SECONDS = 300
    user = request.getfixturevalue(persona)
    build(4, 3, owner=user if persona == "space_owner" else None)
    web = login(user)
    first = web.get("/").content.decode()
    assert len(_fleet_instances(first)) == 4
    # Session, user, data stamp, other apps' panels and (administrators) the first-run
    # checklist: 8 at most (5 for an owner); the fleet added 5 more to each.
    with (
        django_assert_max_num_queries(8),
        CaptureQueriesContext(connection) as page,
    ):
        again = web.get("/").content.decode()
    assert _fleet_queries(page.captured_queries) == []
    assert again.count('data-testid="fleet-space"') == 12
    assert _fleet_instances(again) == _fleet_instances(first)
    assert _card(again, "offline") == _card(first, "offline") == "1"
    # The htmx refresh brings the same cards from the cache.
    with CaptureQueriesContext(connection) as refresh:
        cards = web.get("/?tf=7d&part=table", HTTP_HX_REQUEST="true").content.decode()
    assert _fleet_queries(refresh.captured_queries) == []
    assert _card(cards, "offline") == "1"


def test_a_status_flip_shows_on_the_cached_fleet_at_once(
    sim_instance: SimInstance,
    enlist: Callable[..., Instance],
    login: Callable[[Any], Client],
    admin_user: Any,
    settings: Any,
) -> None:
    settings.ODCM_DASHBOARD_CACHE_SECONDS = 300
    instance = enlist(sim_instance)
    assert sweep_status(force=True) is not None
    web = login(admin_user)
    page = web.get("/").content.decode()
    assert (_card(page, "online"), _card(page, "unhealthy")) == ("1", "0")
    sim_instance.set_faults(unhealthy=True)
    assert sweep_status(force=True) is not None
    instance.refresh_from_db()
    assert instance.status == "unhealthy"
    page = web.get("/").content.decode()
    assert (_card(page, "online"), _card(page, "unhealthy")) == ("0", "1")
    assert 'data-status="unhealthy"' in page


def test_a_revoked_grant_takes_the_instance_off_the_cached_fleet_at_once(
    login: Callable[[Any], Client],
    admin_user: Any,
    member: Any,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.ODCM_DASHBOARD_CACHE_SECONDS = 300
    build(2, 2)
    group = services.create_group(name="Viewers", members=[member])
    with django_capture_on_commit_callbacks(execute=True):
        grant = services.grant(group, Role.VIEWER, instance=Instance.objects.get(name="octo-0001"))
    web, admin = login(member), login(admin_user)
    assert _fleet_instances(web.get("/").content.decode()) == ["octo-0001"]
    # An administrator's cached fleet is theirs alone: it never reaches the member's page.
    assert len(_fleet_instances(admin.get("/").content.decode())) == 2
    assert _fleet_instances(web.get("/").content.decode()) == ["octo-0001"]
    with django_capture_on_commit_callbacks(execute=True):
        services.revoke(grant)
    page = web.get("/").content.decode()
    assert _fleet_instances(page) == []
    assert "No instances you can see." in page


def test_a_delivery_that_starts_or_stops_failing_shows_on_the_cached_fleet_at_once(
    smtp_server: SmtpServer, login: Callable[[Any], Client], admin_user: Any, settings: Any
) -> None:
    settings.ODCM_DASHBOARD_CACHE_SECONDS = 300
    build(1, 1)
    alert = Alert.objects.create(
        instance=Instance.objects.get(), kind="offline", status="offline", since=timezone.now()
    )
    Notification.objects.create(
        alert=alert, user=admin_user, email="a@example.com", message_id="<1@x>",
        next_attempt_at=timezone.now(),
    )  # fmt: skip
    web = login(admin_user)
    assert _card(web.get("/").content.decode(), "failed_deliveries") == "0"
    smtp_server.stop()  # the mail server is down: the send fails for real
    row = outbox.claim_next(Notification)
    assert row is not None and not alerts.send_claimed(row)
    assert _card(web.get("/").content.decode(), "failed_deliveries") == "1"
    smtp_server.start()
    Notification.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    row = outbox.claim_next(Notification)
    assert row is not None and alerts.send_claimed(row)
    assert len(smtp_server.sink.messages) == 1
    assert _card(web.get("/").content.decode(), "failed_deliveries") == "0"


def test_a_limited_token_never_gets_the_figures_its_owner_cached_through_another(
    member: Any,
    token_for: Callable[..., str],
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.ODCM_DASHBOARD_CACHE_SECONDS = 300
    build(2, 3)
    group = services.create_group(name="Viewers", members=[member])
    with django_capture_on_commit_callbacks(execute=True):
        for instance in Instance.objects.all():
            services.grant(group, Role.VIEWER, instance=instance)
    one = Instance.objects.get(name="octo-0001")
    wide, narrow = APIClient(), APIClient()
    wide.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(member)}")
    narrow.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(member, instances=[one])}")
    spaces, days = "/api/v1/reports/spaces/?tf=7d", "/api/v1/reports/deployments/?tf=7d"
    # Cached for the member's unlimited token first: all 6 spaces, 42 space-days.
    assert (wide.get(spaces).json()["count"], wide.get(days).json()["count"]) == (6, 42)
    seen = narrow.get(spaces).json()
    assert seen["count"] == 3
    assert {row["instance_slug"] for row in seen["results"]} == {"octo-0001"}
    seen = narrow.get(days).json()
    assert seen["count"] == 21
    assert {row["instance"] for row in seen["results"]} == {"octo-0001"}


def test_an_instance_renamed_or_removed_in_the_registry_shows_on_the_cached_fleet_at_once(
    login: Callable[[Any], Client],
    admin_user: Any,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.ODCM_DASHBOARD_CACHE_SECONDS = 300
    build(2, 2)
    web = login(admin_user)
    assert sorted(_fleet_instances(web.get("/").content.decode())) == ["octo-0000", "octo-0001"]
    with django_capture_on_commit_callbacks(execute=True):
        registry.update_instance(Instance.objects.get(name="octo-0001"), name="renamed")
    page = web.get("/").content.decode()
    assert ">renamed<" in page and ">octo-0001<" not in page
    with django_capture_on_commit_callbacks(execute=True):
        Instance.objects.get(name="renamed").delete()
    assert _fleet_instances(web.get("/").content.decode()) == ["octo-0000"]
