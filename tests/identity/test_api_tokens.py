"""Personal API tokens: valid, revoked, expired, read-only, malformed; created from the CLI."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from identity.models import ApiToken

pytestmark = pytest.mark.django_db


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_valid_token_authenticates(api_client, member, token_for):
    response = api_client.get("/api/v1/me/", **bearer(token_for(member)))
    assert response.status_code == 200
    assert response.json()["username"] == "mia"


def test_anonymous_gets_401_with_bearer_challenge(api_client):
    response = api_client.get("/api/v1/me/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_revoked_token_is_refused(api_client, member, token_for):
    token = token_for(member)
    api_client.post(f"/api/v1/tokens/{ApiToken.objects.get().pk}/revoke/", **bearer(token))
    response = api_client.get("/api/v1/me/", **bearer(token))
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]


def test_expired_token_is_refused(api_client, member, token_for):
    token = token_for(member, expires_days=1)
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = api_client.get("/api/v1/me/", **bearer(token))
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_read_only_token_cannot_write(api_client, member, token_for):
    token = token_for(member, read_only=True)
    assert api_client.get("/api/v1/tokens/", **bearer(token)).status_code == 200
    response = api_client.post("/api/v1/tokens/", {"name": "sneaky"}, **bearer(token))
    assert response.status_code == 403
    assert "read-only" in response.json()["detail"]
    assert ApiToken.objects.count() == 1


@pytest.mark.parametrize(
    "header", ["Bearer", "Bearer a b", "Bearer not-a-token", "Bearer odcm_AAAAAAAA_" + "x" * 43]
)
def test_malformed_or_unknown_tokens_are_refused(api_client, member, header):
    response = api_client.get("/api/v1/me/", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401


def test_token_with_wrong_secret_but_right_prefix_is_refused(api_client, member, token_for):
    token = token_for(member)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert api_client.get("/api/v1/me/", **bearer(forged)).status_code == 401


def test_tokens_are_stored_hashed(member, token_for):
    token = token_for(member)
    row = ApiToken.objects.get()
    assert token not in (row.digest, row.prefix)
    assert row.digest != token


def test_api_creates_token_once_and_lists_without_it(api_client, member):
    api_client.force_login(member)
    created = api_client.post(
        "/api/v1/tokens/", {"name": "ci", "expires_days": 7, "read_only": True}, format="json"
    )
    assert created.status_code == 201
    plaintext = created.json()["token"]
    assert plaintext.startswith("odcm_")
    listed = api_client.get("/api/v1/tokens/").json()["results"]
    assert "token" not in listed[0]
    assert plaintext not in str(listed)


def test_user_cannot_revoke_someone_elses_token(api_client, member, outsider, token_for):
    token_for(member)
    api_client.force_login(outsider)
    response = api_client.post(f"/api/v1/tokens/{ApiToken.objects.get().pk}/revoke/")
    assert response.status_code == 404
    assert ApiToken.objects.get().revoked_at is None


def test_management_command_prints_only_the_token(member, api_client):
    out = io.StringIO()
    call_command("create_api_token", "mia", "--expires-days", "3", "--read-only", stdout=out)
    printed = out.getvalue().strip()
    assert "\n" not in printed
    token = ApiToken.objects.get()
    assert token.read_only and token.expires_at is not None
    assert api_client.get("/api/v1/me/", **bearer(printed)).status_code == 200


def test_management_command_refuses_unknown_user(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no user named"):
        call_command("create_api_token", "nobody")


def test_tokens_page_creates_and_revokes(login, member):
    client = login(member)
    page = client.post("/account/tokens/", {"name": "laptop", "expires_days": "30"})
    assert page.status_code == 200
    token = ApiToken.objects.get()
    assert f"odcm_{token.prefix}_" in page.content.decode()
    assert page["Cache-Control"] == "no-store"
    again = client.get("/account/tokens/").content.decode()
    assert "odcm_" + token.prefix + "_…" in again
    client.post(f"/account/tokens/{token.pk}/revoke/")
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_api_denies_by_default(api_client, admin_user):
    from rest_framework.views import APIView

    from odcm.api.permissions import DenyAll

    class Forgotten(APIView):
        pass

    assert Forgotten().get_permissions()[0].__class__ is DenyAll
