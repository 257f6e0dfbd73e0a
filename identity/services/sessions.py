"""A person's ODCM browser sessions, indexed by person (:class:`identity.models.SignInSession`).

Django keys its sessions by their secret, not by user, so finding a person's sessions in the
session table means decoding every one. Instead a row is written at sign-in
(:func:`remember_client`, from the ``user_logged_in`` receiver), follows the session when its
key changes (a password change cycles it: :func:`follow`, from
``identity.middleware.SessionIndexMiddleware``), and goes at sign-out (:func:`forget`), when an
administrator ends the session (:func:`end_session`), when the person is deactivated
(:func:`end_all`), and when its session has expired or vanished (:func:`prune`, read time and
the retention task). ODCM keeps its sessions in the database (Django's default engine).

This module imports no other identity service: ``identity.signals`` imports it, and the
services that import the signals must not be imported back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from audit.services import record
from identity.models import SignInSession, User
from odcm.retention import delete_in_batches

# What a session remembers of the client that signed in and of its index row.
CLIENT_KEY = "odcm_client"
# "Last seen" is written at most this often (seconds), not on every request.
SEEN_EVERY = 300


@dataclass(frozen=True)
class SessionInfo:
    """One live ODCM session of a person. ``ref`` names it without revealing its key."""

    ref: str
    ip: str
    agent: str
    signed_in_at: datetime | None
    last_seen_at: datetime | None
    expires_at: datetime


def _store(session_key: str | None = None) -> Any:
    return import_module(settings.SESSION_ENGINE).SessionStore(session_key=session_key)


def remember_client(request: HttpRequest) -> None:
    """At sign-in: store the client's address, browser and time in its session, and index the
    session under the person who signed in."""
    from odcm.clientip import client_ip

    user = getattr(request, "user", None)
    session = request.session
    if session.session_key is None:
        session.save()  # a key to index it by
    key = session.session_key
    ip = client_ip(request) or request.META.get("REMOTE_ADDR", "")
    agent = request.META.get("HTTP_USER_AGENT", "")[:300]
    now = timezone.now()
    session[CLIENT_KEY] = {
        "ip": ip,
        "agent": agent,
        "at": now.isoformat(),
        "key": key,
        "seen": int(time.time()),
    }
    if not isinstance(user, User) or user.pk is None or not key:
        return
    defaults = {"user": user, "ip": ip[:64], "agent": agent, "created_at": now,
                "last_seen_at": now}  # fmt: skip
    try:
        with transaction.atomic():
            SignInSession.objects.update_or_create(session_key=key, defaults=defaults)
    except IntegrityError:  # the same session indexed at this moment by another request
        pass


def follow(request: HttpRequest) -> None:
    """After a request: if the session's key changed (it was cycled), move its index row to
    the new key; now and then, note when it was last seen. Costs no query otherwise."""
    session = getattr(request, "session", None)
    if session is None or session.session_key is None or not session.accessed:
        return  # no session, or one this request did not load: nothing to read it for
    client = session.get(CLIENT_KEY)
    if not isinstance(client, dict) or not client.get("key"):
        return  # signed in before the index existed, or not signed in
    key, now = session.session_key, int(time.time())
    moved = client["key"] != key
    seen = moved or now - int(client.get("seen") or 0) >= SEEN_EVERY
    if not seen:
        return
    changes: dict[str, Any] = {"last_seen_at": timezone.now()}
    if moved:
        changes["session_key"] = key
    try:
        with transaction.atomic():
            SignInSession.objects.filter(session_key=client["key"]).update(**changes)
    except IntegrityError:  # already indexed under the new key
        SignInSession.objects.filter(session_key=client["key"]).delete()
    session[CLIENT_KEY] = {**client, "key": key, "seen": now}


def forget(request: HttpRequest) -> None:
    """At sign-out: the session ends, and so does its index row."""
    session = getattr(request, "session", None)
    key = getattr(session, "session_key", None)
    if key:
        SignInSession.objects.filter(session_key=key).delete()


def _live(user: User) -> list[tuple[SignInSession, datetime]]:
    """The person's indexed sessions that still live, with their expiry; rows whose session
    has expired or vanished are deleted on the way (queries do not grow with other people's
    sessions: both lookups go by key)."""
    rows = list(SignInSession.objects.filter(user=user).order_by("-created_at"))
    if not rows:
        return []
    expiry = dict(
        Session.objects.filter(
            session_key__in=[r.session_key for r in rows], expire_date__gt=timezone.now()
        ).values_list("session_key", "expire_date")
    )
    gone = [r.pk for r in rows if r.session_key not in expiry]
    if gone:
        SignInSession.objects.filter(pk__in=gone).delete()
    return [(r, expiry[r.session_key]) for r in rows if r.session_key in expiry]


def sessions_of(user: User) -> list[SessionInfo]:
    """The person's live ODCM sessions, newest sign-in first."""
    return [
        SessionInfo(
            ref=str(row.pk),
            ip=row.ip,
            agent=row.agent,
            signed_in_at=row.created_at,
            last_seen_at=row.last_seen_at,
            expires_at=expires,
        )
        for row, expires in _live(user)
    ]


def _end(row: SignInSession) -> None:
    _store(row.session_key).delete()
    SignInSession.objects.filter(pk=row.pk).delete()


def end_session(user: User, ref: str, *, actor: Any, request: HttpRequest | None = None) -> bool:
    """End one of the person's ODCM sessions (``ref``: from :func:`sessions_of`): that browser
    is signed out at its next request. False if it is gone already."""
    row = SignInSession.objects.filter(user=user, pk=ref).first() if _is_uuid(ref) else None
    if row is None:
        return False
    alive = Session.objects.filter(
        session_key=row.session_key, expire_date__gt=timezone.now()
    ).exists()
    _end(row)
    if not alive:
        return False
    record(
        "user.end_session",
        actor=actor,
        request=request,
        obj=user,
        message=f"an ODCM session of {user.username} ended",
    )
    return True


def end_all(user: User) -> int:
    """End every ODCM session of the person (deactivation). Returns how many lived."""
    ended = 0
    for row, _expires in _live(user):
        _end(row)
        ended += 1
    return ended


def prune(now: datetime) -> dict[str, int]:
    """Retention: index rows whose session has expired or vanished."""
    live = Session.objects.filter(expire_date__gt=now).values("session_key")
    return {
        "sign_in_sessions": delete_in_batches(SignInSession.objects.exclude(session_key__in=live))
    }


def _is_uuid(value: str) -> bool:
    import uuid

    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True
