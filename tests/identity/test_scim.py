"""SCIM 2.0 provisioning driven by a SCIM client over HTTP (httpx against the live server),
as Entra ID or Okta would: users and groups pushed in, a deprovisioned user loses access."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from identity import access, services
from identity.models import ApiToken, Group, Role, User
from identity.services.service_accounts import create_service_account
from identity.services.tokens import create_token
from spaces.models import Instance, Space
from tests.conftest import make_user
from tests.identity.test_access import make_instance

SCIM = "application/scim+json"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def scim_client(base: str, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"{base}/scim/v2",
        headers={"Authorization": f"Bearer {token}", "Content-Type": SCIM},
        trust_env=False,
        timeout=30,
    )


def provisioning_token() -> str:
    admin = make_user("root", admin=True)
    bot = create_service_account(name="entra", owner=services.create_group(name="IT"), actor=admin)
    bot.user.is_superuser = True  # the provisioning client acts as an administrator
    bot.user.save(update_fields=["is_superuser"])
    return create_token(bot.user, name="scim", areas=["access"])[1]


@pytest.mark.django_db(transaction=True)
def test_scim_client_provisions_people_and_groups_and_deprovisioning_ends_access(
    live_server: Any,
) -> None:
    inst: Instance = make_instance("Prod", spaces=2)
    apps = Space.objects.get(instance=inst, octopus_id="Spaces-1")
    with scim_client(live_server.url, provisioning_token()) as scim:
        made = scim.post(
            "/Users",
            json={
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "jo.smith",
                "name": {"givenName": "Jo", "familyName": "Smith"},
                "emails": [{"value": "jo@corp.example", "primary": True}],
                "active": True,
            },
        )
        assert made.status_code == 201, made.text
        assert made.headers["content-type"].startswith(SCIM)
        user_id = made.json()["id"]
        again = scim.post("/Users", json={"userName": "JO.SMITH"})
        assert again.status_code == 409 and again.json()["scimType"] == "uniqueness"

        found = scim.get("/Users", params={"filter": 'userName eq "jo.smith"'}).json()
        assert found["totalResults"] == 1 and found["Resources"][0]["id"] == user_id

        group = scim.post("/Groups", json={"displayName": "Platform", "members": []})
        assert group.status_code == 201, group.text
        group_id = group.json()["id"]
        patched = scim.patch(
            f"/Groups/{group_id}",
            json={
                "schemas": [PATCH],
                "Operations": [{"op": "add", "path": "members", "value": [{"value": user_id}]}],
            },
        )
        assert patched.status_code == 200, patched.text
        assert [m["value"] for m in patched.json()["members"]] == [user_id]

        jo = User.objects.get(username="jo.smith")
        assert not jo.has_usable_password() and jo.email == "jo@corp.example"
        services.grant(Group.objects.get(pk=group_id), Role.VIEWER, space=apps)
        assert [s.pk for s, _ in access.what_can_access(jo)] == [apps.pk]
        token, _ = create_token(jo, name="laptop")

        gone = scim.patch(
            f"/Users/{user_id}",
            json={
                "schemas": [PATCH],
                "Operations": [{"op": "replace", "path": "active", "value": False}],
            },
        )
        assert gone.status_code == 200 and gone.json()["active"] is False
        jo.refresh_from_db()
        assert not jo.is_active
        assert access.what_can_access(jo) == []
        assert ApiToken.objects.get(pk=token.pk).revoked_at is not None


@pytest.mark.django_db(transaction=True)
def test_scim_refuses_bad_input_and_tokens_without_the_right(live_server: Any) -> None:
    token = provisioning_token()
    with scim_client(live_server.url, token) as scim:
        assert scim.post("/Users", content=b"not json").json()["scimType"] == "invalidSyntax"
        bad_filter = scim.get("/Users", params={"filter": 'name co "x"'})
        assert bad_filter.status_code == 400 and bad_filter.json()["scimType"] == "invalidFilter"
        unknown = scim.post("/Groups", json={"displayName": "G", "members": [{"value": "nope"}]})
        assert unknown.status_code == 400
        assert not Group.objects.filter(name="G").exists()  # nothing half-made
        assert scim.get("/Users/00000000-0000-0000-0000-000000000000").status_code == 404
    person = make_user("plain")
    with scim_client(live_server.url, create_token(person, name="x")[1]) as scim:
        assert scim.get("/Users").status_code == 403  # not an administrator
    admin = make_user("boss", admin=True)
    with scim_client(live_server.url, create_token(admin, name="r", areas=["reports"])[1]) as scim:
        assert scim.get("/Users").status_code == 403  # not its area
    with scim_client(live_server.url, "odcm_nope") as scim:
        assert scim.get("/ServiceProviderConfig").status_code == 401
