"""Sign-in through ODCM configured on an Octopus instance (octosim over real HTTP): through its
API, or with settings to paste when the API refuses, read back either way."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from django.test import Client

from audit.models import AuditEntry
from identity.models import OctopusSignIn
from identity.services import octopus_signin
from octosim.testing import SimInstance
from odcm.crypto import seal
from tests.conftest import make_user
from tests.identity.conftest import enlist_sim

pytestmark = pytest.mark.django_db
SITE = "https://odcm.example.com"
VALUES = "/api/configuration/authentication-od/values"


@pytest.fixture(autouse=True)
def _site(settings: Any) -> None:
    settings.ODCM_SITE_URL = SITE


def sim_values(sim: SimInstance) -> dict[str, Any]:
    with httpx.Client(trust_env=False, timeout=20) as http:
        resp = http.get(sim.url + VALUES, headers={"X-Octopus-ApiKey": sim.api_key})
    resp.raise_for_status()
    values: dict[str, Any] = resp.json()
    return values


def test_enable_configures_the_instance_through_its_api_and_reads_it_back(sim_instance):
    inst = enlist_sim(sim_instance)
    row = octopus_signin.enable(inst)
    assert row.state == OctopusSignIn.State.PENDING

    assert octopus_signin.configure(str(row.pk)) is True

    row.refresh_from_db()
    assert row.state == OctopusSignIn.State.CONFIGURED, row.last_error
    values = sim_values(sim_instance)
    assert values["IsEnabled"] is True
    assert values["Issuer"] == SITE
    assert values["ClientId"] == row.client_id
    assert values["RoleClaimType"] == "groups"
    assert values["AllowAutoUserCreation"] is True
    assert values["ClientSecret"] == {"HasValue": True, "NewValue": None}  # never read back
    assert AuditEntry.objects.filter(action="octopus_signin.configured").count() == 1
    with httpx.Client(trust_env=False, timeout=20) as http:
        page = http.get(sim_instance.url + "/app/users/sign-in").text
    assert "Sign in with ODCM" in page


def test_a_second_worker_does_not_push_while_the_first_holds_the_row(sim_instance):
    from odcm import work

    inst = enlist_sim(sim_instance)
    row = octopus_signin.enable(inst)
    lease = work.claim(OctopusSignIn.objects.all(), row.pk, seconds=60)
    assert lease is not None
    assert octopus_signin.configure(str(row.pk)) is False
    assert sim_values(sim_instance)["IsEnabled"] is False


def test_an_instance_whose_api_refuses_gets_settings_to_paste_and_a_check(sim_instance):
    inst = enlist_sim(sim_instance)
    seal(inst, "api_key", sim_instance.read_only_api_key)  # may read, may not configure
    inst.save()
    row = octopus_signin.enable(inst)
    octopus_signin.configure(str(row.pk))
    row.refresh_from_db()
    assert row.state == OctopusSignIn.State.MANUAL
    assert "AdministerSystem" in row.last_error

    admin = Client()
    admin.force_login(make_user("root", admin=True))
    page = admin.get(f"/access/sign-in/{inst.pk}/").content.decode()
    assert row.client_id in page and SITE in page and "authenticatedToken/Okta" in page
    shown = admin.post(f"/access/sign-in/{inst.pk}/secret/")
    secret = shown.content.decode().split('data-testid="new-secret">')[1].split("<")[0]
    assert len(secret) > 30
    assert secret not in admin.get(f"/access/sign-in/{inst.pk}/").content.decode()  # once

    # Nothing pasted yet: the check says what differs.
    admin.post(f"/access/sign-in/{inst.pk}/check/")
    row.refresh_from_db()
    assert row.state == OctopusSignIn.State.MANUAL and "Issuer" in row.last_error

    # An Octopus administrator pastes the settings (with the instance's full key here).
    body = {s.field: s.value for s in octopus_signin.desired(row)}
    body["ClientSecret"] = {"HasValue": True, "NewValue": secret}
    with httpx.Client(trust_env=False, timeout=20) as http:
        put = http.put(
            sim_instance.url + VALUES, json=body, headers={"X-Octopus-ApiKey": sim_instance.api_key}
        )
    assert put.status_code == 200, put.text
    admin.post(f"/access/sign-in/{inst.pk}/check/")
    row.refresh_from_db()
    assert row.state == OctopusSignIn.State.CONFIGURED and row.last_error == ""


def test_octosim_refuses_enabling_without_issuer_and_client_id(sim_instance):
    with httpx.Client(trust_env=False, timeout=20) as http:
        resp = http.put(
            sim_instance.url + VALUES,
            json={"IsEnabled": True},
            headers={"X-Octopus-ApiKey": sim_instance.api_key},
        )
    assert resp.status_code == 400
    assert "Issuer and ClientId are required" in resp.text


def test_sign_in_pages_are_for_administrators_only(sim_instance, member):
    inst = enlist_sim(sim_instance)
    octopus_signin.enable(inst)
    other = Client()
    other.force_login(member)
    assert other.get("/access/sign-in/").status_code == 404
    assert other.post(f"/access/sign-in/{inst.pk}/secret/").status_code == 404
