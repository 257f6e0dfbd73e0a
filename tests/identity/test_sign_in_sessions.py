"""A person's ODCM sessions come from an index written at sign-in (``SignInSession``), never
from decoding every session: the people page reads only that person's rows and sessions,
signing out and ending a session remove the row, a cycled key is followed, expired ones go."""

from __future__ import annotations

from datetime import timedelta
from importlib import import_module
from typing import Any

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from identity.models import SignInSession, User
from identity.services import sessions
from tests.conftest import PASSWORD, make_user

pytestmark = pytest.mark.django_db


def _sign_in(username: str, agent: str = "Browser/1.0") -> Client:
    browser = Client(HTTP_USER_AGENT=agent)
    response = browser.post("/accounts/login/", {"login": username, "password": PASSWORD})
    assert response.status_code == 302
    return browser


def _others_signed_in(count: int) -> None:
    """``count`` other people, each with a live session indexed as a sign-in indexes it."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    people = User.objects.bulk_create(
        [User(username=f"other{n}", email=f"other{n}@example.com") for n in range(count)]
    )
    rows = []
    for person in people:
        session = store()
        session["_auth_user_id"] = str(person.pk)
        session.create()
        rows.append(SignInSession(user=person, session_key=session.session_key, agent="Other"))
    SignInSession.objects.bulk_create(rows)


def _page_queries(admin: Client, person: User) -> tuple[str, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        response = admin.get(f"/access/users/{person.uuid}/")
    assert response.status_code == 200
    return response.content.decode(), [q["sql"] for q in queries.captured_queries]


def test_the_sessions_list_reads_only_that_persons_sessions_whatever_the_others(
    login: Any, admin_user: User
) -> None:
    mia = make_user("mia")
    _sign_in("mia", "Laptop/1.0")
    admin = login(admin_user)
    page, few = _page_queries(admin, mia)
    assert page.count('data-testid="session"') == 1 and "Laptop/1.0" in page

    _others_signed_in(200)
    page, many = _page_queries(admin, mia)
    assert page.count('data-testid="session"') == 1 and "Other" not in page
    assert len(many) == len(few)
    # Every read of the session table goes by key: none walks everyone's sessions.
    for sql in many:
        if '"django_session"' in sql:
            assert '"django_session"."session_key" IN' in sql or (
                '"django_session"."session_key" =' in sql
            ), sql


def test_signing_out_removes_the_sessions_row(admin_user: User) -> None:
    mia = make_user("mia")
    browser = _sign_in("mia")
    row = SignInSession.objects.get(user=mia)
    assert row.session_key == browser.cookies["sessionid"].value and row.ip == "127.0.0.1"
    assert browser.post("/accounts/logout/").status_code == 302
    assert not SignInSession.objects.filter(user=mia).exists()
    assert sessions.sessions_of(mia) == []


def test_ending_a_session_signs_that_browser_out_and_keeps_the_other(
    login: Any, admin_user: User
) -> None:
    mia = make_user("mia")
    laptop, phone = _sign_in("mia", "Laptop/1.0"), _sign_in("mia", "Phone/2.0")
    ref = next(s.ref for s in sessions.sessions_of(mia) if s.agent == "Laptop/1.0")
    admin = login(admin_user)
    assert admin.post(f"/access/users/{mia.uuid}/sessions/{ref}/end/").status_code == 302
    assert laptop.get("/account/access/").status_code == 302  # back to sign-in
    assert phone.get("/account/access/").status_code == 200
    assert [s.agent for s in sessions.sessions_of(mia)] == ["Phone/2.0"]
    # Another person's ref, or a made-up one, ends nothing.
    zed = make_user("zed")
    phone_ref = sessions.sessions_of(mia)[0].ref
    assert not sessions.end_session(zed, phone_ref, actor=admin_user)
    assert admin.post(f"/access/users/{mia.uuid}/sessions/not-a-ref/end/").status_code == 302
    assert phone.get("/account/access/").status_code == 200


def test_a_cycled_session_key_is_followed(admin_user: User) -> None:
    mia = make_user("mia")
    browser = _sign_in("mia")
    before = browser.cookies["sessionid"].value
    changed = browser.post(
        "/accounts/password/change/",
        {
            "oldpassword": PASSWORD,
            "password1": "An0ther-long-pass!",
            "password2": "An0ther-long-pass!",
        },
    )
    assert changed.status_code == 302
    after = browser.cookies["sessionid"].value
    assert after != before and browser.get("/account/access/").status_code == 200
    assert list(SignInSession.objects.filter(user=mia).values_list("session_key", flat=True)) == [
        after
    ]
    assert len(sessions.sessions_of(mia)) == 1


def test_expired_sessions_leave_the_list_and_are_pruned(admin_user: User) -> None:
    mia = make_user("mia")
    _sign_in("mia")
    _sign_in("mia")
    first, second = SignInSession.objects.filter(user=mia).order_by("created_at")
    past = timezone.now() - timedelta(minutes=1)
    Session.objects.filter(session_key=first.session_key).update(expire_date=past)
    assert [s.ref for s in sessions.sessions_of(mia)] == [str(second.pk)]
    assert not SignInSession.objects.filter(pk=first.pk).exists()
    Session.objects.filter(session_key=second.session_key).delete()
    assert sessions.prune(timezone.now()) == {"sign_in_sessions": 1}
    assert not SignInSession.objects.exists()


def test_the_migration_indexes_sessions_opened_before_the_index(admin_user: User) -> None:
    from django.apps import apps

    migration = import_module("identity.migrations.0010_sign_in_sessions")
    mia = make_user("mia")
    store = import_module(settings.SESSION_ENGINE).SessionStore
    session = store()
    session["_auth_user_id"] = str(mia.pk)
    session["odcm_client"] = {"ip": "10.0.0.7", "agent": "Old/1.0"}
    session.create()
    anonymous = store()
    anonymous["something"] = 1
    anonymous.create()
    migration.index_live_sessions(apps, None)
    migration.index_live_sessions(apps, None)  # twice: nothing doubled
    (row,) = SignInSession.objects.all()
    assert (row.user, row.session_key, row.ip, row.agent) == (
        mia, session.session_key, "10.0.0.7", "Old/1.0",
    )  # fmt: skip
    assert [s.agent for s in sessions.sessions_of(mia)] == ["Old/1.0"]
