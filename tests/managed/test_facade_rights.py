"""ODCM's own key for the management instance lacking a right its facade key needs
(UserEdit, TeamCreate or TeamEdit): the customer's page and API name the permission and say
a key may be entered by hand, nothing is half-made in Octopus (no service user, team or key
left behind) nor in ODCM, and a key entered by hand then works."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from managed.services import facades
from octosim.permissions import SPACE_PERMISSIONS, SYSTEM_PERMISSIONS
from octosim.testing import SimInstance

from .conftest import enlist_sim, space_of

pytestmark = pytest.mark.django_db


def limited_key(sim: SimInstance, lacking: str) -> tuple[str, str]:
    """A service user holding every permission but ``lacking`` (system-wide and in
    Spaces-1), and its API key: (user id, key)."""
    headers = {"X-Octopus-ApiKey": sim.api_key}
    with httpx.Client(base_url=sim.url, headers=headers, trust_env=False) as c:

        def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            answer = c.post(path, json=body)
            assert answer.status_code in (200, 201), answer.text
            return dict(answer.json())

        user = post(
            "/api/users",
            {"Username": "odcm-limited", "DisplayName": "ODCM (limited)", "IsService": True},
        )
        role = post(
            "/api/userroles",
            {
                "Name": f"Everything but {lacking}",
                "GrantedSystemPermissions": [p for p in SYSTEM_PERMISSIONS if p != lacking],
                "GrantedSpacePermissions": [p for p in SPACE_PERMISSIONS if p != lacking],
            },
        )
        system = post(
            "/api/teams",
            {"Name": "ODCM system", "MemberUserIds": [user["Id"]], "ExternalSecurityGroups": []},
        )
        post("/api/scopeduserroles", {"TeamId": system["Id"], "UserRoleId": role["Id"]})
        space = post(
            "/api/Spaces-1/teams",
            {
                "Name": "ODCM space",
                "MemberUserIds": [user["Id"]],
                "ExternalSecurityGroups": [],
                "SpaceId": "Spaces-1",
            },
        )
        post(
            "/api/Spaces-1/scopeduserroles",
            {"TeamId": space["Id"], "UserRoleId": role["Id"], "SpaceId": "Spaces-1"},
        )
        key = post(f"/api/users/{user['Id']}/apikeys", {"Purpose": "ODCM"})
    return str(user["Id"]), str(key["ApiKey"])


def octopus_side(sim: SimInstance) -> dict[str, Any]:
    """What the management instance holds (read with the full-access key)."""
    headers = {"X-Octopus-ApiKey": sim.api_key}
    with httpx.Client(base_url=sim.url, headers=headers, trust_env=False) as c:
        users = c.get("/api/users/all").json()
        teams = c.get("/api/teams/all").json()
        keys = {u["Id"]: c.get(f"/api/users/{u['Id']}/apikeys").json()["Items"] for u in users}
    return {"users": users, "teams": teams, "keys": keys}


@pytest.mark.parametrize("lacking", ["UserEdit", "TeamCreate", "TeamEdit"])
def test_a_management_key_lacking_a_right_names_it_and_leaves_nothing_half_made(
    make_sim_instance, admin_user, login, lacking
):
    mgmt_sim = make_sim_instance(spaces=1, seed=95)
    facade_sim = make_sim_instance(spaces=1, seed=96)
    user_id, key = limited_key(mgmt_sim, lacking)
    mgmt = space_of(enlist_sim(mgmt_sim, api_key=key))
    facade_instance = enlist_sim(facade_sim)
    before = octopus_side(mgmt_sim)

    customer = facades.create_customer("Acme", mgmt, instance=facade_instance, actor=admin_user)
    assert facades.sync_customer(str(customer.pk)) == "failed"
    customer.refresh_from_db()
    assert customer.status == "failed"
    assert f"lacks the {lacking} permission" in customer.last_error, customer.last_error
    assert "nothing was made" in customer.last_error
    assert "enter a key by hand" in customer.last_error

    # Shown on the customer's page and in the API.
    web = login(admin_user)
    page = web.get(f"/managed/customers/{customer.pk}/").content.decode()
    assert f"lacks the {lacking} permission" in page and "Enter a key by hand" in page
    api = json.loads(web.get(f"/api/v1/managed/customers/{customer.pk}/").content)
    assert f"lacks the {lacking} permission" in api["last_error"]
    assert api["service_user_id"] == "" and api["api_key_set"] is False

    # Nothing half-made: no user, team or key in Octopus, no ids or key in ODCM.
    after = octopus_side(mgmt_sim)
    assert [u["Id"] for u in after["users"]] == [u["Id"] for u in before["users"]]
    assert not any(u["Username"].startswith("odcm-facade-") for u in after["users"])
    assert [t["Id"] for t in after["teams"]] == [t["Id"] for t in before["teams"]]
    assert after["keys"] == before["keys"]
    assert len(after["keys"][user_id]) == 1  # the limited key itself, nothing else
    assert (customer.service_user_id, customer.service_team_id, customer.api_key_id) == (
        "",
        "",
        "",
    )
    assert not customer.api_key and customer.key_source == "odcm"

    # As the page says: a key entered by hand is then used.
    facades.set_api_key(customer, "API-ENTEREDBYAPERSON0000000007", actor=admin_user)
    assert facades.sync_customer(str(customer.pk)) in ("synced", "in step")
    customer.refresh_from_db()
    assert customer.status == "in_step" and customer.key_source == "manual"
    assert customer.last_error == "" and customer.api_key_digest
    assert octopus_side(mgmt_sim)["users"] == after["users"]
