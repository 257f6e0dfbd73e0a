"""Air-gapped promotion in the browser: upload the bundle file, review it, fill the missing
value, import with the package files, deploy in the target, download the receipt file and
upload it at the source; the route shows the remote environment's result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from odcm.clients import client_for
from promotions.models import InboundBundle, Promotion, Receipt
from promotions.services import receipts, routes
from tests.conftest import make_user
from tests.octopus.pipeline_helpers import QUICK_POLL, SPACE
from tests.promotions.conftest import exchange
from tests.promotions.test_air_gapped import DB_PASSWORD, source_release
from tests.sharing.conftest import enlist_sim, space_of

from .test_sharing_browser import sign_in


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_air_gapped_promotion_in_the_browser(
    live_server: Any, page: Any, make_sim_instance: Any, tmp_path: Path
) -> None:
    ada = make_user("ada", admin=True)
    sim_a, sim_b = (
        make_sim_instance("browser-src", seed=41),
        make_sim_instance("browser-dst", seed=42),
    )
    sim_a.set_faults(step_ms=20)
    sim_b.set_faults(step_ms=20)
    inst_a, inst_b = enlist_sim(sim_a, owners=[ada]), enlist_sim(sim_b, owners=[ada])
    pair = exchange(space_of(inst_a), space_of(inst_b))
    pipe, release_id = source_release(inst_a, tmp_path)
    route = routes.set_route(pair.source, pipe.project["Id"], pipe.name, [pair.target_peer])
    out = tmp_path / "transfer"
    call_command(
        "export_bundle",
        str(pair.source.pk),
        pipe.project["Id"],
        release_id,
        str(pair.target_peer.pk),
        "--out",
        str(out),
    )
    bundle_file = out / f"{Promotion.objects.get().pk}.odcm-bundle"
    with client_for(inst_b) as c:
        production = next(
            e["Id"] for e in c.get_all(f"/api/{SPACE}/environments") if e["Name"] == "Production"
        )
        phase = {
            "Name": "Production",
            "OptionalDeploymentTargets": [production],
            "AutomaticDeploymentTargets": [],
            "MinimumEnvironmentsBeforePromotion": 0,
            "IsOptionalPhase": False,
        }
        lifecycle = c.create_lifecycle(SPACE, {"Name": "Prod only", "Phases": [phase]})["Id"]
    base = live_server.url

    sign_in(page, base, "ada")
    page.goto(f"{base}/promotions/")
    page.set_input_files("#id_bundle-file", str(bundle_file))
    page.click("button:has-text('Upload bundle')")
    page.wait_for_selector("[data-testid=needed]")
    assert "missing" in page.inner_text("[data-testid=needed]")
    assert "Smoke test" in page.inner_text("[data-testid=steps]")
    page.fill("[aria-label='Value of Db.Password']", DB_PASSWORD)
    page.click("[data-testid=needed] button:has-text('Save')")
    page.wait_for_selector("text=Value for Db.Password saved.")
    assert "supplied here" in page.inner_text("[data-testid=needed]")
    page.fill("#id_lifecycle", lifecycle)
    page.set_input_files("#id_packages", [str(p) for p in (out / "packages").iterdir()])
    page.click("button:has-text('Import')")
    page.wait_for_selector("text=Imported. The release can be deployed in this space.")
    assert page.inner_text("[data-testid=state]") == "Imported"
    bundle = InboundBundle.objects.get()
    assert DB_PASSWORD not in page.content()

    with client_for(inst_b) as c:
        name = c.get(f"/api/{SPACE}/projects/{bundle.imported_project_id}")["Name"]
        started = c.deploy_release_v1(SPACE, name, "1.0.0", ["Production"])
        c.wait_for_tasks([t.task_id for t in started], SPACE, policy=QUICK_POLL)
    receipts.scan(pair.target)  # what the beat sweep does

    page.goto(f"{base}/promotions/")
    with page.expect_download() as download:
        page.click("text=Download receipt")
    receipt_file = tmp_path / "receipt.odcm-receipt"
    download.value.save_as(receipt_file)
    page.set_input_files("#id_receipt-file", str(receipt_file))
    page.click("button:has-text('Upload receipt')")
    page.wait_for_selector("text=Receipt Production: Success recorded.")
    assert Receipt.objects.filter(direction=Receipt.Direction.IN).count() == 1
    page.goto(f"{base}/promotions/routes/{route.pk}/?release=1.0.0")
    progression = page.inner_text("[data-testid=progression]")
    assert "Production" in progression and "Success" in progression


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_route_is_created_through_the_form_in_the_browser(
    live_server: Any, page: Any, make_sim_instance: Any, tmp_path: Path
) -> None:
    from promotions.models import Route
    from tests.promotions.test_routes import accept_releases, make_world

    make_user("ada", admin=True)
    world = make_world(make_sim_instance, tmp_path)
    accept_releases(world)
    base = live_server.url
    sign_in(page, base, "ada")
    page.goto(f"{base}/promotions/")
    page.click(f"a:has-text('{world.source.name}') >> nth=-1")
    page.wait_for_selector("[data-testid=route-form]")
    # The project picker filters as one types; the select follows the first match.
    page.fill("[aria-label='Filter the options of Project']", world.pipe.name)
    assert page.input_value("#id_project") == world.pipe.project["Id"]
    page.select_option("#id_stages-0-stage", "env:Development")
    # htmx: an environment has no lifecycle; the target space offers its own lifecycles.
    page.wait_for_selector("#id_stages-0-lifecycle[type=hidden]", state="attached")
    page.select_option("#id_stages-1-stage", f"space:{world.target_peer.pk}")
    page.wait_for_selector("select#id_stages-1-lifecycle")
    page.fill("#id_stages-1-position", "1")  # the same order as the first: refused
    page.select_option("#id_stages-1-lifecycle", "Prod only")
    # Rows come and go in place (htmx), keeping what was chosen.
    page.click("[data-testid=add-stage]")
    page.wait_for_selector("#id_stages-2-position")
    assert page.input_value("#id_stages-1-lifecycle") == "Prod only"
    page.click("[aria-label='Remove stage 3']")
    page.wait_for_selector("#id_stages-2-position", state="detached")
    page.click("button:has-text('Save route')")
    page.wait_for_selector("[data-testid=field-error]")
    assert "same position 1" in page.inner_text("[data-testid=stages]")
    assert not Route.objects.exists()
    page.fill("#id_stages-1-position", "2")
    page.click("button:has-text('Save route')")
    page.wait_for_selector("[data-testid=route-stages]")
    assert f"Route of {world.pipe.name} saved." in page.content()
    stages = page.inner_text("[data-testid=route-stages]")
    assert "Development" in stages and "lifecycle Prod only" in stages
    route = Route.objects.get()
    assert [s.lifecycle for s in route.stages.all()] == ["", "Prod only"]
