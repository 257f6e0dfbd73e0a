"""A person signs in to an Octopus instance (octosim) through ODCM, in a browser: ODCM's own
sign-in with TOTP, no Octopus user made beforehand, the teams of their ODCM groups, a space
without a grant refused, and the access gone at the next sign-in after they leave the group."""

from __future__ import annotations

from typing import Any

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

from identity import services
from identity.models import OctopusSignIn, Role
from identity.services import octopus_signin, teams
from spaces.models import Space
from tests.conftest import PASSWORD, make_user
from tests.fixtures.ldap import PASSWORD as LDAP_PASSWORD
from tests.fixtures.ldap import Slapd, group_dn, slapd  # noqa: F401 - the slapd fixture
from tests.identity.conftest import enlist_sim
from tests.identity.test_ldap import ldap_on as ldap_on  # LDAP sign-in switched on
from tests.identity.test_mfa import current_code


def api_status(page: Any, url: str) -> int:
    """A read of the instance's API with the browser's own session cookie."""
    status: int = page.request.get(url).status
    return status


def landed(page: Any, url: str) -> None:
    """Wait until the browser has left ODCM's pages and the sign-in callback; say where it is
    (with the page's text: an error from the callback) when that is not ``url``."""
    page.wait_for_url(lambda u: "/identity/o/" not in u and "/accounts/" not in u)
    page.wait_for_load_state()
    assert page.url == url, page.content()[:1000]


def configured_instance(sim_instance: Any, settings: Any, live_server: Any) -> Any:
    # The issuer Octopus is told about. By address, not "localhost": ODCM and the instance are
    # then the same site, so the instance's sign-in cookie (SameSite=Lax over plain http)
    # comes back with the cross-origin form post; over https it is SameSite=None.
    settings.ODCM_SITE_URL = live_server.url.replace("localhost", "127.0.0.1")
    inst = enlist_sim(sim_instance)
    row = octopus_signin.enable(inst)
    octopus_signin.configure(str(row.pk))
    row.refresh_from_db()
    assert row.state == OctopusSignIn.State.CONFIGURED, row.last_error
    return inst


def sign_in_through_odcm(page: Any, sim_url: str) -> None:
    page.goto(f"{sim_url}/app/users/sign-in")
    page.click("text=Sign in with ODCM")


@pytest.mark.django_db(transaction=True)
def test_person_signs_in_to_octopus_through_odcm_with_totp_and_gets_their_teams(
    live_server: Any, page: Any, sim_instance: Any, settings: Any
) -> None:
    inst = configured_instance(sim_instance, settings, live_server)
    mia = make_user("mia.k")
    secret = generate_totp_secret()
    TOTP.activate(mia, secret)
    platform = services.create_group(name="Platform", members=[mia])
    apps = Space.objects.get(instance=inst, octopus_id="Spaces-2")
    services.grant(platform, Role.DEPLOYER, space=apps)
    teams.sync_spaces([apps.pk])

    sign_in_through_odcm(page, sim_instance.url)
    # ODCM's sign-in, then its second factor.
    page.wait_for_selector("#id_login")
    assert page.url.startswith(settings.ODCM_SITE_URL)
    page.fill("#id_login", "mia.k")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("input[name=code]")
    page.fill("input[name=code]", current_code(secret))
    page.click("button[type=submit]")
    # No consent screen: the answer is posted to Octopus, which signs the person in.
    landed(page, f"{sim_instance.url}/app")
    assert page.inner_text("[data-user]") == "mia.k"
    team_names = [t.inner_text() for t in page.locator("[data-team]").all()]
    assert "ODCM · Platform (Deployer)" in team_names
    assert [s.get_attribute("data-space") for s in page.locator("[data-space]").all()] == [
        "Spaces-2"
    ]
    # Octopus made the user on first sign-in; its API answers with their own permissions.
    me = page.request.get(f"{sim_instance.url}/api/users/me").json()
    assert me["Username"] == "mia.k" and me["EmailAddress"] == "mia.k@example.com"
    assert api_status(page, f"{sim_instance.url}/api/Spaces-2/projects") == 200
    assert api_status(page, f"{sim_instance.url}/api/Spaces-3/projects") == 403

    # She leaves the group in ODCM: Octopus learns it at her next sign-in.
    services.update_group(platform, members=[])
    page.click("text=Sign out")
    page.wait_for_url(f"{sim_instance.url}/app/users/sign-in")
    sign_in_through_odcm(page, sim_instance.url)  # still signed in to ODCM: straight back
    landed(page, f"{sim_instance.url}/app")
    assert page.locator("[data-space]").count() == 0
    assert api_status(page, f"{sim_instance.url}/api/Spaces-2/projects") == 403
    users = page.request.get(
        f"{sim_instance.url}/api/users/all", headers={"X-Octopus-ApiKey": sim_instance.api_key}
    ).json()
    assert [u["Username"] for u in users].count("mia.k") == 1  # the same user, found again


@pytest.mark.django_db(transaction=True)
def test_ldap_person_signs_in_to_octopus_through_odcm_with_their_directory_groups(
    live_server: Any, page: Any, sim_instance: Any, settings: Any, ldap_on: Slapd
) -> None:
    inst = configured_instance(sim_instance, settings, live_server)
    # alice is in developers, inside engineering (LDAP): ODCM's group follows the directory.
    engineering = services.create_group(
        name="Engineering", external_groups=[group_dn("engineering")]
    )
    ops = Space.objects.get(instance=inst, octopus_id="Spaces-3")
    services.grant(engineering, Role.VIEWER, space=ops)
    teams.sync_spaces([ops.pk])

    sign_in_through_odcm(page, sim_instance.url)
    page.wait_for_selector("#id_login")
    page.fill("#id_login", "alice")
    page.fill("#id_password", LDAP_PASSWORD)
    page.click("button[type=submit]")
    landed(page, f"{sim_instance.url}/app")

    # octosim's seed already has an "alice" (another person, another email): a new user.
    me = page.request.get(f"{sim_instance.url}/api/users/me").json()
    assert me["EmailAddress"] == "alice@corp.example" and me["Username"] != "alice"
    team_names = [t.inner_text() for t in page.locator("[data-team]").all()]
    assert "ODCM · Engineering (Viewer)" in team_names
    assert api_status(page, f"{sim_instance.url}/api/Spaces-3/projects") == 200
    assert api_status(page, f"{sim_instance.url}/api/Spaces-2/projects") == 403
