"""TOTP two-factor sign-in (allauth MFA) and the administrators' MFA requirement."""

from __future__ import annotations

import pytest
from allauth.mfa.totp.internal.auth import (
    TOTP,
    format_hotp_value,
    generate_totp_secret,
    hotp_value,
    yield_hotp_counters_from_time,
)
from django.test import Client

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def current_code(secret: str) -> str:
    counter = next(iter(yield_hotp_counters_from_time()))
    return format_hotp_value(hotp_value(secret, counter))


def test_totp_is_asked_after_the_password_and_a_right_code_signs_in(member):
    secret = generate_totp_secret()
    TOTP.activate(member, secret)
    client = Client()
    response = client.post("/accounts/login/", {"login": "mia", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/2fa/authenticate/")
    assert client.get("/").status_code == 302  # not signed in yet
    wrong = client.post("/accounts/2fa/authenticate/", {"code": "000000"})
    assert wrong.status_code == 200 and b"code" in wrong.content.lower()
    ok = client.post("/accounts/2fa/authenticate/", {"code": current_code(secret)})
    assert ok.status_code == 302
    assert client.get("/").status_code == 200


def test_admins_without_mfa_are_sent_to_set_it_up_when_required(
    settings, login, admin_user, member
):
    settings.ODCM_REQUIRE_ADMIN_MFA = True
    admin = login(admin_user)
    response = admin.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/2fa/totp/activate/"
    # The set-up pages stay open (allauth first asks for the password again).
    setup = admin.get("/accounts/2fa/totp/activate/")
    assert setup.status_code == 302 and setup["Location"].startswith("/accounts/reauthenticate/")
    assert admin.get(setup["Location"]).status_code == 200
    assert admin.get("/api/v1/me/").status_code == 403
    # Other people are not affected.
    assert login(member).get("/").status_code == 200


def test_admins_with_totp_pass_when_mfa_is_required(settings, login, admin_user):
    settings.ODCM_REQUIRE_ADMIN_MFA = True
    TOTP.activate(admin_user, generate_totp_secret())
    assert login(admin_user).get("/").status_code == 200


def test_mfa_is_not_required_by_default(login, admin_user):
    assert login(admin_user).get("/").status_code == 200
