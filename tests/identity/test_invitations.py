"""Invitations of outside people: made through the API and the page, emailed through a real
SMTP server, the link's page, and the refusals (expired, withdrawn, used, wrong provider)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from allauth.socialaccount.models import SocialApp
from django.test import Client
from django.utils import timezone

from audit.models import AuditEntry
from identity.models import Grant, Invitation
from identity.services import invitations
from tests.conftest import PASSWORD, make_user
from tests.identity.test_access import make_instance
from tests.monitoring import conftest as mail_fixtures

smtp_server = mail_fixtures.smtp_server  # the real SMTP server (aiosmtpd), for the tests below

pytestmark = pytest.mark.django_db


@pytest.fixture
def provider() -> SocialApp:
    """An external provider as an administrator registers it (never contacted here)."""
    return SocialApp.objects.create(
        provider="openid_connect",
        provider_id="partnerco",
        name="PartnerCo",
        client_id="odcm",
        secret="s3cret-of-the-test-app",
        settings={"server_url": "https://login.partner.example"},
    )


def _link(server, to: str) -> str:
    (message,) = server.sink.by_recipient()[to]
    body = message.get_content()
    assert "PartnerCo" in body
    found = re.search(r"https?://\S+/invitations/\S+/", body)
    assert found is not None
    return found.group(0)


def test_an_invitation_is_emailed_and_its_link_offers_the_named_provider(
    smtp_server, provider, admin_user, api_client, settings
):
    settings.ODCM_SITE_URL = "https://odcm.example.org"
    space = make_instance("Prod").spaces.get(octopus_id="Spaces-1")
    api_client.force_authenticate(admin_user)
    made = api_client.post(
        "/api/v1/invitations/",
        {
            "email": "pat@partner.example",
            "provider": "partnerco",
            "days": 3,
            "grants": [
                {"role": "deployer", "space": str(space.pk), "scope": {"environments": ["Test"]}}
            ],
        },
        format="json",
    )
    assert made.status_code == 201, made.content
    doc = made.json()
    assert doc["state"] == "pending" and doc["sent_at"] and not doc["send_error"]
    link = _link(smtp_server, "pat@partner.example")
    assert link.startswith("https://odcm.example.org/invitations/")
    token = link.rstrip("/").rsplit("/", 1)[1]
    row = Invitation.objects.get()
    assert token not in row.digest and len(row.digest) == 64  # only a digest is kept
    page = Client().get(f"/invitations/{token}/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Sign in with PartnerCo" in text and "pat@partner.example" in text
    assert "/accounts/oidc/partnerco/login/" in text and "accept" in text
    assert AuditEntry.objects.filter(action="invitation.create").exists()
    listed = api_client.get("/api/v1/invitations/").json()
    assert listed["results"][0]["grants"][0]["scope"] == {"environments": ["Test"]}


def test_bad_invitations_are_400s_naming_the_field(provider, admin_user, api_client, member):
    api_client.force_authenticate(admin_user)
    base = {"email": "pat@partner.example", "provider": "partnerco"}
    cases = [
        ({**base, "provider": "nowhere"}, "provider"),
        ({**base, "email": "not-an-address"}, "email"),
        ({**base, "days": 90}, "days"),
        ({**base, "grants": [{"role": "boss", "space": "x"}]}, "grants"),
        ({**base, "grants": [{"role": "viewer", "space": "00000000-0000-0000-0000-000000000000"}]},
         "grants"),
    ]  # fmt: skip
    for body, field in cases:
        reply = api_client.post("/api/v1/invitations/", body, format="json")
        assert reply.status_code == 400 and field in reply.json()["errors"], (body, reply.json())
    assert Invitation.objects.count() == 0
    api_client.force_authenticate(member)
    assert api_client.post("/api/v1/invitations/", base, format="json").status_code in (403, 404)


def test_expired_withdrawn_and_used_links_are_refused_saying_so(provider, admin_user):
    row, token = invitations.create(email="pat@partner.example", provider="partnerco",
                                    actor=admin_user)  # fmt: skip
    client = Client()
    assert client.get(f"/invitations/{token}/").status_code == 200
    Invitation.objects.filter(pk=row.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    page = client.get(f"/invitations/{token}/")
    assert page.status_code == 410 and "has expired" in page.content.decode()
    Invitation.objects.filter(pk=row.pk).update(expires_at=timezone.now() + timedelta(days=1))
    invitations.revoke(row, actor=admin_user)
    assert "withdrawn" in client.get(f"/invitations/{token}/").content.decode()
    Invitation.objects.filter(pk=row.pk).update(revoked_at=None, accepted_at=timezone.now())
    assert "already been used" in client.get(f"/invitations/{token}/").content.decode()
    assert "not valid" in client.get("/invitations/forged-token/").content.decode()


def test_accepting_after_a_password_sign_in_is_refused_as_the_wrong_provider(provider, admin_user):
    space = make_instance("Prod").spaces.get(octopus_id="Spaces-1")
    pat = make_user("pat")
    pat.email = "pat@partner.example"
    pat.save()
    _, token = invitations.create(
        email="pat@partner.example",
        provider="partnerco",
        grants=[{"role": "viewer", "space": str(space.pk)}],
        actor=admin_user,
    )
    client = Client()
    assert (
        client.post("/accounts/login/", {"login": "pat", "password": PASSWORD}).status_code == 302
    )
    client.get(f"/invitations/{token}/")
    refused = client.get(f"/invitations/{token}/accept/")
    text = refused.content.decode()
    assert refused.status_code == 403
    assert "for signing in with PartnerCo; you signed in with a password" in text
    assert not Grant.objects.filter(user=pat).exists()
    assert Invitation.objects.get().accepted_at is None


def test_an_invitation_that_cannot_be_emailed_says_so(provider, admin_user, login, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    client = login(admin_user)
    reply = client.post(
        "/access/invitations/",
        {"invite-email": "pat@partner.example", "invite-provider": "partnerco", "invite-days": 7},
        follow=True,
    )
    text = reply.content.decode()
    assert "could not be emailed" in text and "not sent" in text
    row = Invitation.objects.get()
    assert row.sent_at is None and row.send_error
    assert AuditEntry.objects.filter(action="invitation.send_failed").exists()
