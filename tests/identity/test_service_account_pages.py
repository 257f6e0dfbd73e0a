"""Service accounts and scoped tokens in the browser: list, create, tokens limited to
instances or spaces (shown once), revoke; and who may reach which account's page."""

from __future__ import annotations

import re

import pytest

from audit.models import AuditEntry
from identity import services
from identity.models import ApiToken, Role, ServiceAccount
from identity.services import service_accounts
from tests.identity.test_access import make_instance

pytestmark = pytest.mark.django_db


def _new_token(page: str) -> str:
    match = re.search(r'data-testid="new-token">(odcm_[^<]+)<', page)
    assert match, "no token shown"
    return match.group(1)


@pytest.fixture
def world(member):
    inst = make_instance("Prod")
    make_instance("Other")
    granted = inst.spaces.get(octopus_id="Spaces-1")
    apps = services.create_group(name="Apps", members=[member])
    services.grant(apps, Role.VIEWER, space=granted)
    return inst, granted, apps


def test_member_creates_an_account_and_a_space_limited_token_that_acts_as_it(
    world, member, login, api_client
):
    inst, granted, apps = world
    client = login(member)
    response = client.post(
        "/account/service-accounts/", {"name": "CI deploys", "owner": apps.pk, "description": "x"}
    )
    account = ServiceAccount.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/account/service-accounts/{account.pk}/"
    assert account.user.username == "svc-ci-deploys" and account.owner == apps
    assert "svc-ci-deploys" in client.get("/account/service-accounts/").content.decode()
    # The account sees what its groups grant: make it a member of the owner group.
    services.update_group(apps, members=[member, account.user])
    page = client.get(f"/account/service-accounts/{account.pk}/").content.decode()
    assert "Prod / Prod 1" in page  # offered as a limit …
    assert "Prod / Prod 2" not in page  # … but not a space the account cannot see
    response = client.post(
        f"/account/service-accounts/{account.pk}/",
        {"name": "pipeline", "expires_days": "30", "read_only": "on", "spaces": [granted.pk]},
    )
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    plaintext = _new_token(response.content.decode())
    token = ApiToken.objects.get(user=account.user)
    assert token.read_only and token.limited and list(token.spaces.all()) == [granted]
    assert "space Prod / Prod 1" in response.content.decode()
    # It acts as the account, limited to the one space: not as the member who made it.
    me = api_client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {plaintext}").json()
    assert me["username"] == "svc-ci-deploys"
    spaces = api_client.get("/api/v1/spaces/", HTTP_AUTHORIZATION=f"Bearer {plaintext}").json()
    rows = spaces["results"] if isinstance(spaces, dict) else spaces
    assert [row["id"] for row in rows] == [str(granted.pk)]
    entry = AuditEntry.objects.get(action="api_token.create")
    assert entry.actor == member
    # The plaintext is shown once: never again on the page.
    assert plaintext not in client.get(f"/account/service-accounts/{account.pk}/").content.decode()
    # Revoked from the page, it is refused.
    response = client.post(f"/account/service-accounts/{account.pk}/tokens/{token.pk}/revoke/")
    assert response.status_code == 302
    refused = api_client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    assert AuditEntry.objects.filter(action="api_token.revoke", actor=member).exists()


def test_a_limit_the_account_cannot_see_is_refused_and_nothing_is_written(world, member, login):
    inst, granted, apps = world
    account = service_accounts.create_service_account(name="ci", owner=apps, actor=member)
    other_space = inst.spaces.get(octopus_id="Spaces-2")
    client = login(member)
    response = client.post(
        f"/account/service-accounts/{account.pk}/",
        {"name": "pipeline", "expires_days": "30", "spaces": [other_space.pk]},
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert 'data-testid="new-token"' not in response.content.decode()
    assert not ApiToken.objects.exists()


def test_accounts_of_other_groups_are_404_and_owners_must_be_ones_own_group(
    world, member, outsider, login, admin_user
):
    inst, granted, apps = world
    account = service_accounts.create_service_account(name="ci", owner=apps, actor=member)
    token = service_accounts.create_service_token(account, actor=member, name="t")[0]
    client = login(outsider)
    assert "svc-ci" not in client.get("/account/service-accounts/").content.decode()
    assert client.get(f"/account/service-accounts/{account.pk}/").status_code == 404
    revoke = f"/account/service-accounts/{account.pk}/tokens/{token.pk}/revoke/"
    assert client.post(revoke).status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None
    # An outsider belongs to no group: no account can be created in anyone's name.
    page = client.get("/account/service-accounts/").content.decode()
    assert "you belong to none" in page
    response = client.post("/account/service-accounts/", {"name": "sneaky", "owner": apps.pk})
    assert response.status_code == 200 and ServiceAccount.objects.count() == 1
    # Administrators manage every account.
    assert login(admin_user).get(f"/account/service-accounts/{account.pk}/").status_code == 200


def test_a_taken_name_is_a_form_error(world, member, login):
    _inst, _granted, apps = world
    client = login(member)
    client.post("/account/service-accounts/", {"name": "ci", "owner": apps.pk})
    response = client.post("/account/service-accounts/", {"name": "CI", "owner": apps.pk})
    assert response.status_code == 200
    assert "is taken" in response.content.decode()
    assert ServiceAccount.objects.count() == 1


def test_personal_token_limited_to_an_instance_from_the_tokens_page(
    world, member, login, api_client
):
    inst, granted, apps = world
    client = login(member)
    page = client.get("/account/tokens/").content.decode()
    assert ">Prod<" in page and ">Other<" not in page
    response = client.post(
        "/account/tokens/", {"name": "laptop", "expires_days": "7", "instances": [inst.pk]}
    )
    plaintext = _new_token(response.content.decode())
    token = ApiToken.objects.get(user=member)
    assert token.limited and list(token.instances.all()) == [inst]
    assert "instance Prod" in response.content.decode()
    me = api_client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    assert me.status_code == 200
