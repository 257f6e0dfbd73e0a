"""Sign-in: one generic message, rate limited per account and per address, audited."""

import pytest
from django.test import Client

from audit.models import AuditEntry
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def attempt(client: Client, login: str, password: str, ip: str = "10.0.0.1"):
    return client.post("/accounts/login/", {"login": login, "password": password}, REMOTE_ADDR=ip)


def test_login_page_renders(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert b"Sign in to ODCM" in response.content


def test_correct_password_signs_in_and_is_audited(client, member):
    response = attempt(client, "mia", PASSWORD)
    assert response.status_code == 302
    assert AuditEntry.objects.filter(action="auth.login", actor=member).exists()


def test_login_by_email_works(client, member):
    assert attempt(client, "mia@example.com", PASSWORD).status_code == 302


def test_wrong_password_and_unknown_user_get_the_same_message(client, member):
    wrong = attempt(client, "mia", "nope-nope-nope").content.decode()
    unknown = attempt(client, "nobody-here", "nope-nope-nope").content.decode()
    marker = 'data-testid="login-error">'
    message_wrong = wrong.split(marker)[1].split("</div>")[0]
    message_unknown = unknown.split(marker)[1].split("</div>")[0]
    assert message_wrong == message_unknown
    assert "mia" not in message_wrong


def test_failed_logins_are_rate_limited_per_account(member):
    for n in range(5):
        attempt(Client(), "mia", "wrong-password", ip=f"10.0.1.{n}")
    blocked = attempt(Client(), "mia", PASSWORD, ip="10.0.1.99")
    assert blocked.status_code != 302
    assert b"Too many failed login attempts" in blocked.content


def test_failed_logins_are_rate_limited_per_address(member, settings):
    for n in range(20):
        attempt(Client(), f"someone{n}", "wrong-password", ip="10.0.2.1")
    blocked = attempt(Client(), "mia", PASSWORD, ip="10.0.2.1")
    assert blocked.status_code != 302
    # Another address is not affected.
    assert attempt(Client(), "mia", PASSWORD, ip="10.0.2.2").status_code == 302


def test_signup_is_closed(client):
    response = client.get("/accounts/signup/")
    assert b"closed" in response.content.lower() or response.status_code in (403, 404)


def test_dashboard_requires_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_password_change_works(client, member):
    client.force_login(member)
    response = client.post(
        "/accounts/password/change/",
        {
            "oldpassword": PASSWORD,
            "password1": "a brand new passphrase",
            "password2": "a brand new passphrase",
        },
    )
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.check_password("a brand new passphrase")
