"""People pages: create a person, see a person's ODCM sessions (and end one) and tokens."""

from __future__ import annotations

import pytest
from django.test import Client

from audit.models import AuditEntry
from identity.models import ApiToken, SignInSession, User
from identity.services import sessions as sign_ins
from tests.conftest import PASSWORD, make_user

pytestmark = pytest.mark.django_db


def test_an_administrator_creates_a_person_with_or_without_a_password(login, admin_user):
    client = login(admin_user)
    made = client.post(
        "/access/users/new/",
        {"username": "nina", "email": "nina@example.com", "first_name": "Nina", "password": ""},
    )
    assert made.status_code == 302
    nina = User.objects.get(username="nina")
    assert not nina.has_usable_password() and nina.first_name == "Nina"
    assert (
        AuditEntry.objects.get(action="user.create").changes["after"]["sign_in"]
        == "single sign-on or reset"
    )
    taken = client.post("/access/users/new/", {"username": "NINA", "email": "other@example.com"})
    assert taken.status_code == 200 and "is taken" in taken.content.decode()
    weak = client.post("/access/users/new/", {"username": "otto", "password": "123"})
    assert weak.status_code == 200 and not User.objects.filter(username="otto").exists()
    strong = client.post("/access/users/new/", {"username": "otto", "password": "a-Long-pass-42!"})
    assert strong.status_code == 302 and User.objects.get(username="otto").has_usable_password()


def test_people_pages_are_404_to_others(login, member):
    client = login(member)
    for url in ("/access/users/new/", "/access/users/search/?q=a", "/access/grants/person/",
                "/access/invitations/"):  # fmt: skip
        assert client.get(url).status_code == 404, url


def test_a_persons_sessions_are_listed_and_one_can_be_ended(login, admin_user):
    mia = make_user("mia")
    laptop, phone = Client(HTTP_USER_AGENT="Laptop/1.0"), Client(HTTP_USER_AGENT="Phone/2.0")
    for browser in (laptop, phone):
        assert (
            browser.post("/accounts/login/", {"login": "mia", "password": PASSWORD}).status_code
            == 302
        )
    assert laptop.get("/account/access/").status_code == 200
    sessions = sign_ins.sessions_of(mia)
    assert sorted(s.agent for s in sessions) == ["Laptop/1.0", "Phone/2.0"]
    assert all(s.ip == "127.0.0.1" and s.signed_in_at for s in sessions)
    admin = login(admin_user)
    page = admin.get(f"/access/users/{mia.uuid}/").content.decode()
    assert page.count('data-testid="session"') == 2 and "Laptop/1.0" in page
    assert laptop.cookies["sessionid"].value not in page  # the key never shows
    ref = next(s.ref for s in sessions if s.agent == "Laptop/1.0")
    ended = admin.post(f"/access/users/{mia.uuid}/sessions/{ref}/end/")
    assert ended.status_code == 302
    assert laptop.get("/account/access/").status_code == 302  # back to sign-in
    assert phone.get("/account/access/").status_code == 200
    assert SignInSession.objects.filter(user=mia).count() == 1  # the ended one's row went
    assert AuditEntry.objects.filter(action="user.end_session").count() == 1
    again = admin.post(f"/access/users/{mia.uuid}/sessions/{ref}/end/", follow=True)
    assert "already ended" in again.content.decode()


def test_a_persons_tokens_are_listed_and_one_can_be_revoked(login, admin_user, token_for):
    mia = make_user("mia")
    token_for(mia)
    token = ApiToken.objects.get(user=mia)
    admin = login(admin_user)
    page = admin.get(f"/access/users/{mia.uuid}/").content.decode()
    assert f"odcm_{token.prefix}_" in page and 'data-testid="person-token"' in page
    assert admin.post(f"/access/users/{mia.uuid}/tokens/{token.pk}/revoke/").status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    other = make_user("zed")
    assert admin.post(f"/access/users/{other.uuid}/tokens/{token.pk}/revoke/").status_code == 404
