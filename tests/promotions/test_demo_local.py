"""The demo's setup (DevTest and Prod, a local trust both ways, a route) and a promotion
between two spaces of this same ODCM through the REST API: promote, review, supply,
import (packages streamed feed to feed, hash checked), deploy, receipt, progression."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from octosim.testing import SimInstance
from odcm.clients import client_for
from promotions.models import InboundBundle, Receipt, Route, Trust
from promotions.services import receipts, transfer
from spaces.models import Space
from tests.octopus.pipeline_helpers import QUICK_POLL
from tests.sharing.conftest import enlist_sim

from .conftest import assert_nowhere

pytestmark = pytest.mark.django_db(transaction=True)


def test_demo_setup_then_a_local_promotion_through_the_api(
    make_sim_instance: Callable[..., SimInstance],
    admin_user: Any,
    outsider: Any,
    token_for: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[tuple[str, str]] = []
    sims = [make_sim_instance("promo-demo-a", seed=21), make_sim_instance("promo-demo-b", seed=22)]
    for sim in sims:
        sim.set_faults(step_ms=20)
        enlist_sim(sim)
    call_command("demo_promotions")
    call_command("demo_promotions")  # idempotent
    devtest, prod = Space.objects.get(name="DevTest"), Space.objects.get(name="Prod")
    assert Trust.objects.filter(state=Trust.State.ACTIVE).count() == 2
    route = Route.objects.get(space=devtest)
    assert [str(s) for s in route.stages.all()] == ["Development", "Test", "Prod"]

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(admin_user)}")
    with client_for(devtest.instance) as c:
        release = c.project_releases(devtest.octopus_id, route.project_id)[0]
    target = route.stages.get(kind="space").target
    assert target is not None
    made = api.post(
        "/api/v1/promotions/promotions/",
        {"route": str(route.pk), "release": release["Id"], "target": str(target.pk)},
        format="json",
    )
    assert made.status_code == 201, made.content
    assert made.json()["state"] == "delivered"
    (bundle,) = api.get("/api/v1/promotions/inbox/").json()["results"]
    review = api.get(f"/api/v1/promotions/inbox/{bundle['id']}/review/").json()
    assert review["needed"] == [
        {"name": "Db.Password", "environment": "Production", "state": "missing"}
    ]
    refused = api.post(f"/api/v1/promotions/inbox/{bundle['id']}/import/", {}, format="json")
    assert refused.status_code == 400 and "Db.Password" in refused.json()["message"]
    supplied = api.post(
        f"/api/v1/promotions/inbox/{bundle['id']}/supply/",
        {"name": "Db.Password", "environment": "Production", "value": "prod-Plaintext-7731"},
        format="json",
    )
    assert supplied.status_code == 200 and "prod-Plaintext-7731" not in supplied.content.decode()
    with client_for(prod.instance) as c:
        lifecycle = next(lc for lc in c.lifecycles(prod.octopus_id) if lc["Name"] == "Prod")
    done = api.post(
        f"/api/v1/promotions/inbox/{bundle['id']}/import/",
        {"lifecycle": lifecycle["Id"]},
        format="json",
    )
    assert done.status_code == 200, done.content
    row = InboundBundle.objects.get()
    assert row.state == InboundBundle.State.IMPORTED
    with client_for(prod.instance) as c:
        name = "DevTest: Web"
        started = c.deploy_release_v1(prod.octopus_id, name, "1.0.0", ["Production"])
        c.wait_for_tasks([t.task_id for t in started], prod.octopus_id, policy=QUICK_POLL)
    for receipt in receipts.scan(prod):
        assert transfer.send_receipt(str(receipt.pk)) == "delivered"
    assert Receipt.objects.filter(direction=Receipt.Direction.IN, space=devtest).count() == 1
    stages = api.get(f"/api/v1/promotions/routes/{route.pk}/progression/").json()["stages"]
    assert [(s["stage"], s["state"]) for s in stages] == [
        ("Development", "Success"),
        ("Test", "Success"),
        ("Prod: Production", "Success"),
    ]
    compared = api.get(f"/api/v1/promotions/inbox/{bundle['id']}/compare/").json()
    assert {r["verdict"] for r in compared["steps"]} == {"same"}
    by_name = {r["name"]: r for r in compared["variables"]}
    assert by_name["Db.Password []"]["a"] == "(sensitive)"

    # Every page renders, for a manager, and shows what it should.
    pages = Client()
    pages.force_login(admin_user)
    # The dashboard shows each project's progression across its route in one row (loaded
    # by htmx from promotions' own view: the dashboard itself never waits for Octopus).
    home = pages.get("/").content.decode()
    assert 'data-testid="dashboard-promotions"' in home and "/promotions/dashboard-rows/" in home
    rows = pages.get("/promotions/dashboard-rows/").content.decode()
    assert rows.count('data-testid="promotion-row"') == 1
    assert "DevTest: Web" in rows and "1.0.0" in rows
    for stage in ("Development", "Test", "Prod: Production"):
        assert f"{stage}" in rows
    assert rows.count("<strong>Success</strong>") == 3
    nobody = Client()
    nobody.force_login(outsider)
    assert "dashboard-promotions" not in nobody.get("/").content.decode()
    assert (
        'data-testid="promotion-row"'
        not in nobody.get("/promotions/dashboard-rows/").content.decode()
    )
    for url, expected in (
        ("/promotions/", "Space identities"),
        (f"/promotions/spaces/{devtest.pk}/", ":"),
        (f"/promotions/spaces/{devtest.pk}/certificate.pem", "BEGIN CERTIFICATE"),
        (f"/promotions/routes/{route.pk}/?release=1.0.0", "Prod: Production"),
        (f"/promotions/inbox/{bundle['id']}/", "Db.Password"),
        (f"/promotions/inbox/{bundle['id']}/compare/", "Smoke test"),
        (f"/promotions/promotions/{made.json()['id']}/bundle/", "eyJ"),
    ):
        response = pages.get(url)
        assert response.status_code == 200, url
        text = response.content.decode()
        assert expected in text, url
        seen.append((url, text))
    for url in (
        "/api/v1/promotions/inbox/",
        f"/api/v1/promotions/inbox/{bundle['id']}/review/",
        "/api/v1/promotions/identities/",
        "/api/v1/promotions/promotions/",
    ):
        seen.append((url, api.get(url).content.decode()))
    for where, text in seen:
        for secret in ("prod-Plaintext-7731", "demo-prod-key", "PRIVATE KEY"):
            assert secret not in text, f"{secret} in {where}"
    assert_nowhere(["prod-Plaintext-7731", "demo-prod-key"], caplog)
