"""The fleet overview on the dashboard: cards, problems first, spaces under their instance."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from monitoring.models import Alert, ChannelDelivery, InstanceMonitor, Notification, SpaceQueue
from monitoring.services import fleet
from spaces.models import Instance, Space
from tests.monitoring.test_dashboard import build, count_queries

pytestmark = pytest.mark.django_db


def _instances_in_page_order(html: str) -> list[str]:
    return re.findall(r'data-testid="fleet-instance" data-instance="([^"]+)"', html)


def _card(html: str, key: str) -> tuple[str, str]:
    match = re.search(rf'href="([^"]*)" data-testid="card-{key}" data-count="([^"]*)"', html)
    assert match, key
    return match.group(1).replace("&amp;", "&"), match.group(2)


@pytest.mark.parametrize("persona", ["admin_user", "space_owner"])
def test_fleet_query_count_is_the_same_for_10_and_200_spaces(
    persona: str, request: pytest.FixtureRequest, login: Callable[[Any], Client], settings: Any
) -> None:
    settings.ODCM_DASHBOARD_CACHE_SECONDS = 0
    user = request.getfixturevalue(persona)
    owner = user if persona == "space_owner" else None
    web = login(user)
    build(2, 5, owner=owner)
    small = count_queries(lambda: web.get("/"))
    build(38, 5, start=2, owner=owner)
    assert Space.objects.count() == 200
    large = count_queries(lambda: web.get("/"))
    assert large == small
    page = web.get("/").content.decode()
    # A page holds at most ODCM_DASHBOARD_PAGE_SIZE (100) space rows: 20 instances of 5.
    assert len(_instances_in_page_order(page)) == 20
    assert page.count('data-testid="fleet-space"') == 100
    assert count_queries(lambda: web.get("/?fleet=2")) == small
    part = lambda: web.get("/?fleet=2&part=fleet", HTTP_HX_REQUEST="true")  # noqa: E731
    assert count_queries(part) == count_queries(part)  # warmed; the same at any page


def test_the_fleet_is_paged_by_space_rows_with_every_instance_on_one_page(
    login: Callable[[Any], Client], admin_user: Any, settings: Any
) -> None:
    settings.ODCM_DASHBOARD_CACHE_SECONDS = 0
    settings.ODCM_DASHBOARD_PAGE_SIZE = 10
    build(7, 3)  # 21 space rows: 3 instances (9 rows) a page, the offline ones first
    InstanceMonitor.objects.update(pinned_version="")  # no pin: offline or not is the rank
    Space.objects.bulk_create(
        [
            Space(instance=Instance.objects.get(name="octo-0006"), octopus_id=f"Spaces-x{k}",
                  name=f"Extra {k:02d}", slug=f"extra-{k}")
            for k in range(12)
        ]
    )  # fmt: skip
    web = login(admin_user)
    first = web.get("/?tf=30d&region=emea").content.decode()
    assert _instances_in_page_order(first) == ["octo-0000", "octo-0005", "octo-0001"]
    assert first.count('data-testid="fleet-space"') == 9
    assert 'data-testid="card-online" data-count="5"' in first  # cards count every instance
    assert "Instances 1–3 of 7, most urgent first" in first
    links = re.findall(r'href="(\?[^"]*)"[^>]*data-testid="fleet-page-link"', first)
    assert [link.replace("&amp;", "&") for link in links] == [
        f"?tf=30d&region=emea&fleet={n}" for n in (1, 2, 3)
    ]
    seen = list(_instances_in_page_order(first))
    for n in (2, 3):
        part = web.get(f"/?tf=30d&region=emea&fleet={n}&part=fleet", HTTP_HX_REQUEST="true")
        html = part.content.decode()
        assert html.lstrip().startswith('<div id="fleet-page">')
        assert 'data-testid="dashboard-table"' not in html  # the fleet part alone
        seen += _instances_in_page_order(html)
    assert sorted(seen) == [f"octo-{n:04d}" for n in range(7)]
    # octo-0006 has 15 spaces, more than a page: its 10 most urgent, and the way to the rest.
    last = web.get("/?fleet=3").content.decode().split('id="space-table"')[0]  # the fleet
    assert _instances_in_page_order(last) == ["octo-0006"]
    assert last.count('data-testid="fleet-space"') == 10
    assert "The 10 most urgent of 15 spaces" in last
    assert 'href="/?instance=octo-0006">all of them in the spaces table' in last
    # Its spaces with failed deployments first, then the quiet ones by name.
    assert last.index(">Space 3<") < last.index(">Extra 00<")
    assert ">Extra 06<" in last and ">Extra 07<" not in last
    # Past the last page: the last page, not an error.
    assert _instances_in_page_order(web.get("/?fleet=99").content.decode()) == ["octo-0006"]


def test_offline_and_off_pin_instances_come_first_with_cards_that_link_to_them(
    login: Callable[[Any], Client], admin_user: Any
) -> None:
    build(12, 2)  # every 5th offline; odd ones run 2024.4.1234 = their pin, even ones are off it
    InstanceMonitor.objects.update(pinned_version="")
    InstanceMonitor.objects.filter(instance__name="octo-0003").update(pinned_version="2099.1")
    Instance.objects.filter(name="octo-0007").update(status="unhealthy")
    Instance.objects.filter(name="octo-0009").update(status="maintenance")
    html = login(admin_user).get("/").content.decode()
    order = _instances_in_page_order(html)
    assert order[:2] == ["octo-0000", "octo-0005"]  # offline (alphabetical among equals)
    assert order[2:5] == ["octo-0010", "octo-0007", "octo-0003"]  # offline, unhealthy, off pin
    cards = {key: _card(html, key) for key in ("online", "offline", "unhealthy", "off_pin")}
    assert cards["offline"] == ("/spaces/instances/?status=offline", "3")
    assert cards["unhealthy"] == ("/spaces/instances/?status=unhealthy", "1")
    assert cards["off_pin"] == ("/spaces/instances/?off_pin=true", "1")
    assert cards["online"][1] == "7"


def test_failing_alert_deliveries_are_counted_and_named_on_their_instance(
    login: Callable[[Any], Client], admin_user: Any
) -> None:
    build(2, 1)
    first = Instance.objects.get(name="octo-0001")
    alert = Alert.objects.create(
        instance=first, kind="offline", status="offline", since=timezone.now()
    )
    now = timezone.now()
    Notification.objects.create(
        alert=alert, user=admin_user, email="a@example.com", message_id="<1@x>",
        next_attempt_at=now + timedelta(minutes=1), attempts=2, last_error="refused",
    )  # fmt: skip
    # Sent, or not tried yet: not failing.
    Notification.objects.create(
        alert=alert, user=admin_user.__class__.objects.create(username="b"),
        email="b@example.com", message_id="<2@x>", next_attempt_at=now, state="sent", attempts=1,
    )  # fmt: skip
    html = login(admin_user).get("/").content.decode()
    assert _card(html, "failed_deliveries") == ("/spaces/instances/?delivery=failing", "1")
    assert "1 failing alert deliveries" in html
    assert ChannelDelivery.objects.count() == 0


def test_queued_task_card_counts_open_queue_waits_and_links_to_the_dashboard_filter(
    login: Callable[[Any], Client], admin_user: Any, space_owner: Any, settings: Any
) -> None:
    settings.ODCM_QUEUE_ALERT_MINUTES = 15
    settings.ODCM_DASHBOARD_CACHE_SECONDS = 0
    build(2, 3)
    long_ago = timezone.now() - timedelta(hours=1)
    spaces = list(Space.objects.order_by("name"))
    for space in spaces:
        SpaceQueue.objects.create(space=space, updated_at=long_ago)
    waiting = spaces[:2]
    SpaceQueue.objects.filter(space__in=waiting).update(
        alerted=True, queued=2, oldest_queued_at=long_ago
    )
    # An old queue alert that has since cleared is no open wait (the card once counted it).
    Alert.objects.create(
        instance=spaces[3].instance, space=spaces[3], kind=Alert.Kind.QUEUE, status="online",
        since=long_ago,
    )  # fmt: skip
    web = login(admin_user)
    html = web.get("/").content.decode()
    url, count = _card(html, "queued_tasks")
    assert (url, count) == ("/?problem=queue", "2")
    listed = web.get(url).content.decode()
    assert set(re.findall(r'data-testid="space-row" data-space="([^"]+)"', listed)) == {
        s.slug for s in waiting
    }
    # Only what the user may see: the owner of neither instance sees no wait.
    assert _card(login(space_owner).get("/").content.decode(), "queued_tasks")[1] == "0"
    # Queue alerts turned off: no figure rather than a reassuring 0.
    settings.ODCM_QUEUE_ALERT_MINUTES = 0
    assert _card(web.get("/").content.decode(), "queued_tasks")[1] == ""
    assert fleet.queued_task_alerts(admin_user) is None


def test_every_space_figure_links_to_what_is_behind_it(
    login: Callable[[Any], Client], admin_user: Any
) -> None:
    build(1, 2)
    space = Space.objects.select_related("instance").get(name="Space 1")
    html = login(admin_user).get("/").content.decode()
    assert f'href="{space.octopus_url}/infrastructure/machines"' in html
    assert f'href="{space.octopus_url}/infrastructure/machines?healthStatuses=Unhealthy"' in html
    assert f'href="{space.octopus_url}/tasks?states=Failed,TimedOut"' in html
    assert f'href="/spaces/{space.pk}/"' in html


def test_outsider_sees_an_empty_fleet(login: Callable[[Any], Client], outsider: Any) -> None:
    build(3, 2)
    html = login(outsider).get("/").content.decode()
    assert _instances_in_page_order(html) == []
    assert _card(html, "offline")[1] == "0"


def test_the_table_refresh_brings_fresh_fleet_cards_out_of_band(
    login: Callable[[Any], Client], admin_user: Any, settings: Any
) -> None:
    settings.ODCM_DASHBOARD_CACHE_SECONDS = 0
    build(5, 1)  # octo-0000 offline
    web = login(admin_user)
    page = web.get("/").content.decode()
    assert 'id="fleet-cards"' in page and 'hx-swap-oob="true"' not in page
    assert _card(page, "offline")[1] == "1"
    Instance.objects.filter(name="octo-0001").update(status="offline")
    refresh = web.get("/?tf=7d&part=table", HTTP_HX_REQUEST="true").content.decode()
    assert 'data-testid="space-row"' in refresh
    assert 'id="fleet-cards" data-testid="fleet-cards" hx-swap-oob="true"' in refresh
    assert _card(refresh, "offline")[1] == "2"


def test_the_instances_url_is_the_console_and_the_old_registry_page_is_gone() -> None:
    from django.template import TemplateDoesNotExist
    from django.template.loader import get_template
    from django.urls import resolve, reverse

    import spaces.views
    from monitoring.console_views import console_view

    assert reverse("spaces:instances") == "/spaces/instances/"
    assert resolve("/spaces/instances/").func is console_view
    assert not hasattr(spaces.views, "instances")
    with pytest.raises(TemplateDoesNotExist):
        get_template("spaces/instances.html")
