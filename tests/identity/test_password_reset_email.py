"""The password-reset email names ODCM and links to its configured address."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from django.test import Client

pytestmark = pytest.mark.django_db


def test_password_reset_email_uses_the_site_name_and_url_not_the_request_host(
    admin_user: Any, settings: Any
) -> None:
    settings.ODCM_SITE_URL = "https://odcm.example.org"
    client = Client(HTTP_HOST="127.0.0.1")
    response = client.post("/accounts/password/reset/", {"email": admin_user.email})
    assert response.status_code == 302
    (message,) = mail.outbox
    assert "Hello from ODCM!" in message.body
    assert "127.0.0.1" not in message.body and "127.0.0.1" not in message.subject
    assert message.subject.startswith("[ODCM] ")
    assert "https://odcm.example.org/accounts/password/reset/key/" in message.body
