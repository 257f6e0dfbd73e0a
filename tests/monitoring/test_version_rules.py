"""A pipeline stage's allowed Octopus Server versions replace the single version pin for the
instances of that stage: in the console (and its "off its pin" filter), on the instance page,
in the fleet cards, in the dashboard and in the version alert. Instances in no stage (or in a
stage that names no versions) keep their pin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from monitoring.models import Alert, InstanceMonitor, VersionChange
from monitoring.services import console, dashboard, fleet
from monitoring.services.status import set_pin, sweep_status
from octosim.testing import SimInstance
from rollouts.services import pipelines
from spaces.models import Instance, Space

pytestmark = pytest.mark.django_db


def _instance(name: str, version: str, pin: str) -> Instance:
    inst = Instance.objects.create(
        name=name, slug=name, base_url=f"http://127.0.0.1:9/{name}", version=version
    )
    Space.objects.create(instance=inst, octopus_id="Spaces-1", name=f"{name} space", slug=name)
    InstanceMonitor.objects.create(instance=inst, pinned_version=pin)
    return inst


@pytest.fixture
def four() -> dict[str, Instance]:
    """listed-off: pin agrees, list does not; listed-ok: pin disagrees, list agrees;
    unlisted: in a stage naming no versions, off its pin; alone: in no pipeline, off its pin."""
    made = {
        "listed-off": _instance("listed-off", "2025.1.1", "2025.1.1"),
        "listed-ok": _instance("listed-ok", "2024.4.1", "2023.1.0"),
        "unlisted": _instance("unlisted", "2024.4.1", "2024.3.0"),
        "alone": _instance("alone", "2024.2.0", "2024.1.0"),
    }
    pipelines.save_pipeline(
        "Train",
        [
            {"name": "dev", "selector": "instances", "instances": [made["unlisted"].pk]},
            {
                "name": "prod",
                "selector": "instances",
                "instances": [made["listed-off"].pk, made["listed-ok"].pk],
                "allowed_versions": ["2024.4.1", "2024.4.2"],
            },
        ],
    )
    return made


def _off(names: dict[str, Instance], ids: Any) -> set[str]:
    by_pk = {i.pk: n for n, i in names.items()}
    return {by_pk[pk] for pk in ids}


def test_the_console_filter_and_rows_use_the_stage_list(four: dict[str, Instance]) -> None:
    off = Instance.objects.filter(console.off_pin_instances()).values_list("pk", flat=True)
    assert _off(four, off) == {"listed-off", "unlisted", "alone"}
    rows = {r["instance"].slug: r for r in console.rows(Instance.objects.all(), "name")}
    assert {slug for slug, r in rows.items() if r["off_pin"]} == {
        "listed-off",
        "unlisted",
        "alone",
    }
    assert rows["listed-ok"]["expected"] == "2024.4.1, 2024.4.2 (pipeline Train, stage prod)"
    assert rows["alone"]["expected"] == "2024.1.0" and rows["alone"]["allowed"] is None


def test_the_console_page_and_its_off_pin_filter(
    four: dict[str, Instance], login: Callable[[Any], Client], admin_user: Any
) -> None:
    web = login(admin_user)
    html = web.get("/spaces/instances/?off_pin=true").content.decode()
    assert 'data-instance="listed-off"' in html and 'data-instance="listed-ok"' not in html
    assert "allowed 2024.4.1, 2024.4.2" in html


def test_the_instance_page_shows_the_stage_list_instead_of_the_pin(
    four: dict[str, Instance], login: Callable[[Any], Client], admin_user: Any
) -> None:
    web = login(admin_user)
    off = web.get(f"/spaces/instances/{four['listed-off'].pk}/").content.decode()
    assert "allowed 2024.4.1, 2024.4.2 by pipeline Train, stage prod" in off
    assert "not allowed" in off and 'data-testid="pin-replaced"' in off
    ok = web.get(f"/spaces/instances/{four['listed-ok'].pk}/").content.decode()
    assert 'data-testid="pin-mismatch"' not in ok
    alone = web.get(f"/spaces/instances/{four['alone'].pk}/").content.decode()
    assert "pinned to 2024.1.0" in alone and 'data-testid="pin-mismatch"' in alone


def test_the_fleet_card_and_dashboard_count_against_the_stage_list(
    four: dict[str, Instance], admin_user: Any
) -> None:
    seen = fleet.fleet(admin_user, "/spaces/instances/", "/deliveries/")
    card = next(c for c in seen.cards if c.key == "off_pin")
    assert card.count == 3
    rows = {r.instance.slug: r for r in seen.instances}
    assert "not an allowed version (2024.4.1, 2024.4.2, pipeline Train, stage prod)" in (
        rows["listed-off"].problems
    )
    assert rows["listed-ok"].problems == []
    assert rows["alone"].problems == ["off its pin 2024.1.0"]
    versions = {v["version"]: v["pin_mismatches"] for v in dashboard.version_inventory(admin_user)}
    assert versions == {"2025.1.1": 1, "2024.4.1": 1, "2024.2.0": 1}
    finish = dashboard.finisher()
    spaces = dashboard.space_rows(
        admin_user, dashboard.parse_period({}), dashboard.Filters(), "space"
    )
    flagged = {r["instance_slug"]: finish(r)["pin_mismatch"] for r in spaces}
    assert flagged == {"listed-off": True, "listed-ok": False, "unlisted": True, "alone": True}


@pytest.mark.django_db(transaction=True)
def test_the_version_alert_follows_the_stage_list(
    sim_instance: SimInstance, enlist: Callable[..., Instance]
) -> None:
    instance = enlist(sim_instance)
    sweep_status(force=True)
    set_pin(instance, "1999.1.1")  # would flag every change; the stage's list replaces it
    pipelines.save_pipeline(
        "Versions",
        [
            {
                "name": "prod",
                "selector": "instances",
                "instances": [instance.pk],
                "allowed_versions": ["2025.1.1"],
            }
        ],
    )
    sim_instance.set_faults(version="2025.1.1")
    sweep_status(force=True)
    assert not Alert.objects.filter(instance=instance, kind=Alert.Kind.VERSION).exists()
    sim_instance.set_faults(version="2025.2.0")
    sweep_status(force=True)
    alert = Alert.objects.get(instance=instance, kind=Alert.Kind.VERSION)
    assert "pipeline Versions, stage prod allows 2025.1.1" in alert.detail
    change = VersionChange.objects.get(instance=instance, to_version="2025.2.0")
    assert change.unexpected and change.pinned_version == "2025.1.1"
