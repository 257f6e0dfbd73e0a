"""The Django admin: no sign-in of its own (allauth's, with MFA and limits), every change
audited, and service-owned rows read-only."""

from __future__ import annotations

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.test import Client

from audit.models import AuditEntry
from identity.models import ApiToken, User
from identity.services.tokens import create_token, revoke_token
from odcm.crypto import seal
from spaces.models import Instance, Space
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_admin_login_form_never_signs_in_with_a_password_alone(admin_user: User) -> None:
    TOTP.activate(admin_user, generate_totp_secret())
    client = Client()
    response = client.post(
        "/django-admin/login/", {"username": "ada", "password": PASSWORD, "next": "/django-admin/"}
    )
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")
    assert "_auth_user_id" not in client.session
    assert client.get("/django-admin/").status_code == 302


def test_admin_sends_people_to_the_allauth_sign_in_and_back(admin_user: User) -> None:
    client = Client()
    page = client.get("/django-admin/", follow=True)
    assert page.redirect_chain[-1][0] == "/accounts/login/?next=%2Fdjango-admin%2F"
    signed_in = client.post(
        "/accounts/login/?next=%2Fdjango-admin%2F", {"login": "ada", "password": PASSWORD}
    )
    assert signed_in["Location"] == "/django-admin/"
    assert client.get("/django-admin/").status_code == 200


def test_admin_login_refuses_an_outside_next(admin_user: User) -> None:
    location = Client().get("/django-admin/login/?next=https://evil.example/")["Location"]
    assert "evil.example" not in location


def test_a_locked_account_cannot_sign_in_through_the_admin(admin_user: User) -> None:
    for n in range(5):
        Client().post(
            "/accounts/login/", {"login": "ada", "password": "wrong"}, REMOTE_ADDR=f"10.9.0.{n}"
        )
    client = Client()
    client.post("/django-admin/login/", {"username": "ada", "password": PASSWORD})
    assert "_auth_user_id" not in client.session
    response = client.post("/accounts/login/", {"login": "ada", "password": PASSWORD})
    assert response.status_code != 302


def test_admin_password_change_goes_to_the_rate_limited_page(login, admin_user: User) -> None:
    response = login(admin_user).get("/django-admin/password_change/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/password/change/"


def _instance() -> Instance:
    inst = Instance(name="Prod", slug="prod", base_url="http://127.0.0.1:9/prod")
    seal(inst, "api_key", "API-ADMINADMINADMINADMIN00")
    inst.save()
    return inst


def test_service_owned_rows_are_read_only_in_the_admin(login, admin_user: User) -> None:
    inst = _instance()
    space = Space.objects.create(instance=inst, octopus_id="Spaces-1", name="One", slug="one")
    row, _secret = create_token(admin_user, name="ci")
    revoke_token(row)
    client = login(admin_user)
    pages = [
        (f"/django-admin/spaces/instance/{inst.pk}/change/", {"base_url": "http://evil.example"}),
        (f"/django-admin/spaces/space/{space.pk}/change/", {"name": "Renamed"}),
        (f"/django-admin/identity/apitoken/{row.pk}/change/", {"revoked_at": ""}),
    ]
    for url, data in pages:
        assert client.get(url).status_code == 200  # visible, as a read-only page
        assert client.post(url, data).status_code == 403
    assert client.get("/django-admin/spaces/instance/add/").status_code == 403
    assert (
        client.post(f"/django-admin/spaces/instance/{inst.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    inst.refresh_from_db()
    assert inst.base_url == "http://127.0.0.1:9/prod"
    assert ApiToken.objects.get(pk=row.pk).revoked_at is not None
    for model in ("grant", "group", "granttarget"):
        assert client.get(f"/django-admin/identity/{model}/").status_code == 404


def test_admin_changes_to_users_are_audited(login, admin_user: User, member: User) -> None:
    client = login(admin_user)
    url = f"/django-admin/identity/user/{member.pk}/change/"
    form = client.get(url).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k != "password"}
    data.update(
        {
            "username": "mia",
            "email": "mia@example.com",
            "is_active": "on",
            "is_staff": "on",
            "is_superuser": "on",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
            "last_login_0": "",
            "last_login_1": "",
            "groups": [],
            "user_permissions": [],
        }
    )
    response = client.post(url, data)
    assert response.status_code == 302, response.content[:2000]
    member.refresh_from_db()
    assert member.is_superuser
    entry = AuditEntry.objects.get(action="admin.change", object_id=str(member.pk))
    assert entry.actor == admin_user
    assert entry.changes["after"]["is_superuser"] is True
    assert entry.changes["before"]["is_superuser"] is False


def test_every_admin_registration_is_audited() -> None:
    from django.contrib import admin

    from odcm.adminsite import AuditedAdmin

    assert admin.site._registry
    for model, model_admin in admin.site._registry.items():
        assert isinstance(model_admin, AuditedAdmin), model


def test_every_admin_list_page_still_opens(login, admin_user: User) -> None:
    from django.contrib import admin
    from django.urls import reverse

    client = login(admin_user)
    for model in admin.site._registry:
        meta = model._meta
        url = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
        assert client.get(url).status_code == 200, url


def test_non_administrators_are_kept_out_of_the_admin(login, member: User) -> None:
    member.is_staff = True
    member.save(update_fields=["is_staff"])
    response = login(member).get("/django-admin/", follow=True)
    assert response.redirect_chain[-1][0] == "/"
    assert b"ODCM administration" not in response.content
