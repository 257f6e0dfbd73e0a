"""An administrator walks an instance baseline from creation to applied, then finds and
repairs a hand edit, through the pages only (real Celery worker, octosim over HTTP)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from managed.models import BaselineTarget
from odcm.clients import client_for
from tests.conftest import make_user
from tests.e2e.test_managed_browser import _shows
from tests.e2e.test_sharing_browser import sign_in
from tests.managed.conftest import enlist_sim

SECRET = "smtp-browser-never-shown-5150"
DOCUMENT = {
    "smtp": {"host": "smtp.browser.example", "port": 587, "password": SECRET},
    "authentication": {"guest": False},
    "retention": {"days": 45},
}


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_baseline_goes_from_creation_to_applied_and_a_hand_edit_is_shown_and_repaired(
    live_server: Any, page: Any, make_sim_instance: Callable[..., Any], start_celery_worker: Any
) -> None:
    start_celery_worker(concurrency=1)
    make_user("ada", admin=True)
    inst = enlist_sim(make_sim_instance("browser-baseline", spaces=1, seed=152))
    base = live_server.url

    sign_in(page, base, "ada")
    page.click("nav >> text=Managed")
    page.click("a:has-text('Instance baselines')")
    page.click("summary:has-text('New baseline')")
    form = "[data-testid=new-baseline]"
    page.fill(f"{form} #id_name", "Browser baseline")
    page.fill(f"{form} #id_document", json.dumps(DOCUMENT))
    page.click("button:has-text('Create baseline')")
    page.wait_for_selector("text=Baseline Browser baseline created.")
    assert SECRET not in page.content()
    page.select_option("[data-testid=assign] select[name=instances]", [str(inst.pk)])
    page.click("[data-testid=assign] button:has-text('Assign')")
    page.wait_for_selector("text=Assigned to 1 instance(s).")
    with page.expect_navigation():
        page.click("[data-testid=apply]")
    assert _shows(page, "Applied", "[data-testid=target] [data-testid=status]")
    assert "0 to create, 2 to change" in page.inner_text("[data-testid=target]")
    with client_for(inst) as client:
        assert client.get("/api/smtpconfiguration")["SmtpHost"] == "smtp.browser.example"
        assert client.get("/api/configuration/retention-default")["RetentionDays"] == 45
        client.put("/api/configuration/authentication-guest/values", {"IsEnabled": True})

    with page.expect_navigation():
        page.click("[data-testid=check]")
    assert _shows(page, "Drifted", "[data-testid=target] [data-testid=status]")
    assert "guest" in page.inner_text("[data-testid=drift]")
    with page.expect_navigation():
        page.click("[data-testid=apply]")
    assert _shows(page, "Applied", "[data-testid=target] [data-testid=status]")
    target = BaselineTarget.objects.get()
    assert target.drift == [] and target.applied_revision == 1
    with client_for(inst) as client:
        guest = client.get("/api/configuration/authentication-guest/values")
    assert guest["IsEnabled"] is False
    assert SECRET not in page.content()
