"""The instances console: filters, sorting, uptime over 30 days, bulk actions per row."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from audit.models import AuditEntry
from identity.models import Grant, Group, Role
from monitoring.models import InstanceMonitor, MaintenanceWindow, StatusFlip
from monitoring.services import console
from spaces.models import Instance, Space
from tests.monitoring.test_dashboard import build, count_queries

pytestmark = pytest.mark.django_db
URL = "/spaces/instances/"


def _names(html: str) -> list[str]:
    return re.findall(r'data-testid="console-row" data-instance="([^"]+)"', html)


def test_console_query_count_is_the_same_for_5_and_40_instances(
    login: Callable[[Any], Client], admin_user: Any, settings: Any
) -> None:
    web = login(admin_user)
    build(5, 2)
    small = count_queries(lambda: web.get(f"{URL}?sort=-uptime&tag=prod"))
    build(35, 2, start=5)
    large = count_queries(lambda: web.get(f"{URL}?sort=-uptime&tag=prod"))
    assert large == small
    assert len(_names(web.get(URL).content.decode())) == 40


def test_filters_search_and_sort_with_indicators(
    login: Callable[[Any], Client], admin_user: Any
) -> None:
    build(10, 1)
    web = login(admin_user)
    offline = _names(web.get(f"{URL}?status=offline").content.decode())
    assert offline == ["octo-0000", "octo-0005"]
    assert _names(web.get(f"{URL}?region=apac").content.decode()) == [
        "octo-0001", "octo-0004", "octo-0007",
    ]  # fmt: skip
    assert _names(web.get(f"{URL}?q=0007").content.decode()) == ["octo-0007"]
    assert _names(web.get(f"{URL}?version=2025.1.1&off_pin=true").content.decode()) == [
        f"octo-{n:04d}" for n in range(0, 10, 2)
    ]
    page = web.get(f"{URL}?sort=-name").content.decode()
    assert _names(page)[0] == "octo-0009"
    assert 'aria-sort="descending"' in page and "▼" in page


def test_a_bad_filter_value_is_a_400_naming_the_field(
    login: Callable[[Any], Client], admin_user: Any
) -> None:
    build(2, 1)
    response = login(admin_user).get(f"{URL}?status=sideways")
    assert response.status_code == 400
    assert b'data-testid="filter-errors">status:' in response.content


def test_uptime_over_30_days_comes_from_the_status_flips(admin_user: Any) -> None:
    build(2, 1)
    now = timezone.now()
    first, second = Instance.objects.order_by("name")
    Instance.objects.filter(pk__in=[first.pk, second.pk]).update(
        created_at=now - timedelta(days=60)
    )
    StatusFlip.objects.all().delete()
    # first: online all along, then offline for the last 3 of the 30 days.
    StatusFlip.objects.create(instance=first, from_status="unknown", to_status="online",
                              at=now - timedelta(days=50))  # fmt: skip
    StatusFlip.objects.create(instance=first, from_status="online", to_status="offline",
                              at=now - timedelta(days=3))  # fmt: skip
    # second: in maintenance (counts as neither) for 10 days, online otherwise.
    StatusFlip.objects.create(instance=second, from_status="unknown", to_status="maintenance",
                              at=now - timedelta(days=40))  # fmt: skip
    StatusFlip.objects.create(instance=second, from_status="maintenance", to_status="online",
                              at=now - timedelta(days=20))  # fmt: skip
    first.refresh_from_db()
    second.refresh_from_db()
    up = console.uptimes([first, second])
    assert up[first.pk] == pytest.approx(90.0, abs=0.01)
    assert up[second.pk] == 100.0


def test_admin_pins_two_instances_with_a_result_and_an_audit_entry_each(
    login: Callable[[Any], Client], admin_user: Any
) -> None:
    build(3, 1)
    chosen = list(Instance.objects.order_by("name")[:2])
    response = login(admin_user).post(
        URL,
        {"instances": [str(i.pk) for i in chosen], "action": "pin", "pinned_version": "2025.1.1"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('data-testid="bulk-result" data-ok="yes"') == 2
    pins = dict(InstanceMonitor.objects.values_list("instance__name", "pinned_version"))
    assert pins == {"octo-0000": "2025.1.1", "octo-0001": "2025.1.1", "octo-0002": "2024.4.1234"}
    assert AuditEntry.objects.filter(action="monitoring.pin").count() == 2


def test_a_member_who_manages_nothing_gets_a_refusal_per_row_and_nothing_changes(
    login: Callable[[Any], Client], member: Any
) -> None:
    build(2, 1)
    first = Instance.objects.order_by("name").first()
    assert first is not None
    group = Group.objects.create(name="Viewers", slug="viewers")
    group.members.add(member)
    Grant.objects.create(group=group, instance=first, role=Role.VIEWER)
    response = login(member).post(
        URL, {"instances": [str(first.pk)], "action": "tags", "add_tags": "emea"}
    )
    assert response.status_code == 200
    assert 'data-ok="no"' in response.content.decode()
    assert "You do not manage this instance." in response.content.decode()
    assert list(first.tags.values_list("name", flat=True)) == ["prod"]


def test_an_instance_the_user_cannot_see_is_refused_and_nothing_is_changed(
    login: Callable[[Any], Client], space_owner: Any
) -> None:
    build(1, 1, owner=space_owner)
    build(1, 1, start=1)
    hidden = Instance.objects.get(name="octo-0001")
    mine = Instance.objects.get(name="octo-0000")
    response = login(space_owner).post(
        URL, {"instances": [str(mine.pk), str(hidden.pk)], "action": "pin", "pinned_version": "9"}
    )
    assert response.status_code == 400
    assert b"Nothing was changed." in response.content
    assert not InstanceMonitor.objects.filter(pinned_version="9").exists()


def test_bulk_window_tags_owners_and_refresh(
    login: Callable[[Any], Client], admin_user: Any, space_owner: Any
) -> None:
    build(2, 1)
    ids = [str(pk) for pk in Instance.objects.values_list("pk", flat=True)]
    web = login(admin_user)
    start = timezone.now() + timedelta(hours=1)
    window = web.post(URL, {
        "instances": ids, "action": "window", "reason": "patching",
        "starts_at": f"{start:%Y-%m-%dT%H:%M}",
        "ends_at": f"{start + timedelta(hours=2):%Y-%m-%dT%H:%M}",
    })  # fmt: skip
    assert window.status_code == 200
    assert MaintenanceWindow.objects.filter(reason="patching").count() == 2
    bad = web.post(URL, {"instances": ids, "action": "window", "starts_at": "", "ends_at": ""})
    assert bad.status_code == 400 and b"needs a start and an end" in bad.content
    tags = web.post(URL, {"instances": ids, "action": "tags", "add_tags": "emea tier1",
                          "remove_tags": "prod"})  # fmt: skip
    assert tags.status_code == 200
    for instance in Instance.objects.all():
        assert sorted(instance.tags.values_list("name", flat=True)) == ["emea", "tier1"]
    web.post(URL, {"instances": ids, "action": "owners", "owners": [str(space_owner.pk)]})
    for instance in Instance.objects.all():
        assert list(instance.owners.all()) == [space_owner]
    assert AuditEntry.objects.filter(action="instance.update").count() == 4
    refresh = web.post(URL, {"instances": ids, "action": "refresh"})
    assert refresh.content.decode().count("Refresh queued.") == 2


def test_only_administrators_set_owners(
    login: Callable[[Any], Client], space_owner: Any, member: Any
) -> None:
    build(1, 1, owner=space_owner)
    mine = Instance.objects.get()
    response = login(space_owner).post(
        URL, {"instances": [str(mine.pk)], "action": "owners", "owners": [str(member.pk)]}
    )
    assert "Only administrators set owners." in response.content.decode()
    assert list(mine.owners.all()) == [space_owner]
    assert Space.objects.count() == 1


def test_bulk_key_rotation_tests_each_new_key_and_reports_each_instance_without_secrets(
    login: Callable[[Any], Client], admin_user: Any, make_sim_instance: Any, caplog: Any
) -> None:
    from odcm.crypto import seal, unseal
    from tests.identity.conftest import enlist_sim

    sims = [make_sim_instance(f"rot-{n}") for n in range(4)]
    made = [enlist_sim(sim) for sim in sims]
    for inst, sim in zip(made, sims, strict=True):  # stored: the read-only key, to replace
        seal(inst, "api_key", sim.read_only_api_key)
        inst.save(update_fields=["api_key"])
    ok, wrong, weak, missing = made
    bogus = "API-NOTAKEY0000000000000000000000"
    lines = "\n".join([
        f"{ok.name}  {sims[0].api_key}",
        f"{wrong.base_url}/ {bogus}",  # by URL
        f"{weak.name.upper()}={sims[2].no_permission_api_key}",
    ])  # fmt: skip
    caplog.set_level("DEBUG")
    response = login(admin_user).post(
        URL,
        {"instances": [str(i.pk) for i in made], "action": "rotate", "new_keys": lines},
    )
    assert response.status_code == 200
    html = response.content.decode()
    rows = re.findall(
        r'data-testid="bulk-result" data-ok="(yes|no)"><td>([^<]+)</td><td[^>]*>[^ ]+ ([^<]+)</td>',
        html,
    )
    results = {name: (ok, message.strip()) for ok, name, message in rows}
    assert results[ok.name][0] == "yes"
    assert results[missing.name] == (
        "no",
        "No new key given for this instance; its key is unchanged.",
    )
    assert results[wrong.name][0] == "no" and results[weak.name][0] == "no"
    print(results[wrong.name], results[weak.name])
    assert html.count('data-testid="bulk-result" data-ok="yes"') == 1
    assert html.count('data-testid="bulk-result" data-ok="no"') == 3
    assert "Key replaced after a successful test" in html
    assert "No new key given for this instance; its key is unchanged." in html
    for sim in sims:
        for key in (sim.api_key, sim.read_only_api_key, sim.no_permission_api_key):
            assert key not in html and key not in caplog.text
    assert bogus not in html and bogus not in caplog.text
    stored = {i.name: unseal(Instance.objects.get(pk=i.pk), "api_key") for i in made}
    assert stored == {
        ok.name: sims[0].api_key,
        wrong.name: sims[1].read_only_api_key,
        weak.name: sims[2].read_only_api_key,
        missing.name: sims[3].read_only_api_key,
    }
    assert AuditEntry.objects.filter(action="instance.rotate_key").count() == 1


def test_bulk_key_rotation_refuses_a_key_for_an_instance_not_selected_and_changes_nothing(
    login: Callable[[Any], Client], admin_user: Any
) -> None:
    build(2, 1)
    first, second = Instance.objects.order_by("name")
    secret = "API-SHOULDNEVERSHOW00000000000000"
    response = login(admin_user).post(
        URL,
        {
            "instances": [str(first.pk)],
            "action": "rotate",
            "new_keys": f"{first.name} {secret}\n{second.name} {secret}",
        },
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert f"No selected instance is named {second.name}" in html
    assert secret not in html
    assert not AuditEntry.objects.filter(action="instance.rotate_key").exists()
    no_key = login(admin_user).post(URL, {"instances": [str(first.pk)], "action": "rotate"})
    assert no_key.status_code == 400
    assert "Give each selected instance" in no_key.content.decode()
