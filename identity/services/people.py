"""People administration: create a person, deactivate them everywhere, reset their second
factor, list and end their ODCM sessions.

Deactivating is the one switch that ends a person's access: ODCM stops signing them in (and
so stops issuing id_tokens to the Octopus instances), their sessions and tokens end, and the
managed teams of their groups are pushed again without them (``_group_members`` counts active
users only). A deactivated account stays, with its history.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from audit.services import record
from identity import access
from identity.models import ApiToken, User
from identity.services import octopus_sessions, teams
from identity.services.groups import enqueue_sync
from odcm.errors import ServiceError


class PeopleError(ServiceError):
    """A change to a person that ODCM refuses; the message says why."""


# What a session remembers of the client that signed in (set at sign-in, shown to admins).
CLIENT_KEY = "odcm_client"


def remember_client(request: HttpRequest) -> None:
    """Store the signing-in client's address, browser and time in its session."""
    from odcm.clientip import client_ip

    request.session[CLIENT_KEY] = {
        "ip": client_ip(request) or request.META.get("REMOTE_ADDR", ""),
        "agent": request.META.get("HTTP_USER_AGENT", "")[:300],
        "at": timezone.now().isoformat(),
    }


@dataclass(frozen=True)
class SessionInfo:
    """One live ODCM session of a person. ``ref`` names it without revealing its key."""

    ref: str
    ip: str
    agent: str
    signed_in_at: datetime | None
    expires_at: datetime


def _ref(session_key: str) -> str:
    return hashlib.sha256(session_key.encode()).hexdigest()[:20]


def _live_sessions(user: User) -> list[tuple[Session, dict[str, Any]]]:
    """The person's live database sessions (one scan of live ones: sessions are keyed by
    their secret, not by user)."""
    found = []
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        data = session.get_decoded()
        if str(data.get("_auth_user_id")) == str(user.pk):
            found.append((session, data))
    return found


def sessions_of(user: User) -> list[SessionInfo]:
    """The person's live ODCM sessions, newest first."""
    rows = []
    for session, data in _live_sessions(user):
        client = data.get(CLIENT_KEY) or {}
        at = client.get("at")
        rows.append(
            SessionInfo(
                ref=_ref(session.session_key),
                ip=str(client.get("ip") or ""),
                agent=str(client.get("agent") or ""),
                signed_in_at=datetime.fromisoformat(at) if isinstance(at, str) else None,
                expires_at=session.expire_date,
            )
        )
    return sorted(rows, key=lambda r: r.expires_at, reverse=True)


def end_session(user: User, ref: str, *, actor: Any, request: HttpRequest | None = None) -> bool:
    """End one of the person's ODCM sessions (by ``ref``). False if it is gone already."""
    for session, _ in _live_sessions(user):
        if _ref(session.session_key) == ref:
            session.delete()
            record(
                "user.end_session",
                actor=actor,
                request=request,
                obj=user,
                message=f"an ODCM session of {user.username} ended",
            )
            return True
    return False


def _end_sessions(user: User) -> int:
    """Delete the person's browser sessions."""
    ended = 0
    for session, _ in _live_sessions(user):
        session.delete()
        ended += 1
    return ended


def create_person(
    *,
    username: str,
    email: str,
    first_name: str = "",
    last_name: str = "",
    password: str = "",
    actor: Any,
    request: HttpRequest | None = None,
) -> User:
    """Create a local account. Without a password it has none usable: the person signs in
    through single sign-on (an account with their email) or sets one by password reset."""
    username, email = username.strip(), email.strip()
    errors: dict[str, list[str]] = {}
    if not username:
        errors["username"] = ["A person needs a username."]
    elif User.objects.filter(username__iexact=username).exists():
        errors["username"] = [f"The username {username!r} is taken."]
    if email and User.objects.filter(email__iexact=email).exists():
        errors["email"] = [f"Another account has the email {email}."]
    if password:
        candidate = User(username=username, email=email)
        try:
            validate_password(password, candidate)
        except ValidationError as exc:
            errors["password"] = list(exc.messages)
    if errors:
        raise PeopleError(" ".join(m for ms in errors.values() for m in ms), errors=errors)
    with transaction.atomic():
        user = User.objects.create_user(
            username=username,
            email=email,
            first_name=first_name.strip(),
            last_name=last_name.strip(),
            password=password or None,
        )
        record(
            "user.create",
            actor=actor,
            request=request,
            obj=user,
            after={
                "username": username,
                "email": email,
                "sign_in": "local" if password else "single sign-on or reset",
            },
        )
    return user


def deactivate(user: User, *, actor: Any, request: HttpRequest | None = None) -> list[str]:
    """Deactivate ``user``: no sign-in, sessions and tokens end, removed from every managed
    team (pushed after commit). Returns the spaces whose teams will be pushed."""
    if user.pk == getattr(actor, "pk", None):
        raise PeopleError("You cannot deactivate yourself.")
    with transaction.atomic():
        groups = list(access.user_groups(user))  # before: an inactive user has no groups
        changed = User.objects.filter(pk=user.pk, is_active=True).update(is_active=False)
        if not changed:
            return []
        revoked = ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        spaces: set[str] = set()
        for group in groups:
            spaces.update(teams.bump_group(group))
        spaces.update(teams.bump_user(user))  # their own teams, from grants to them alone
        ended = _end_sessions(user)
        record(
            "user.deactivate",
            actor=actor,
            request=request,
            obj=user,
            message=(
                f"{user.username} deactivated: {revoked} token(s) revoked, {ended} session(s) "
                f"ended, removed from the managed teams of {len(groups)} group(s)"
            ),
        )
        enqueue_sync(spaces)
        # And their Octopus sessions end, on every instance whose API allows it.
        octopus_sessions.enqueue([user.pk])
    user.refresh_from_db()
    return sorted(spaces)


def reset_mfa(user: User, *, actor: Any, request: HttpRequest | None = None) -> int:
    """Remove the person's second factors (TOTP, recovery codes): they set them up again at
    their next sign-in where MFA is required. Returns how many were removed."""
    from allauth.mfa.models import Authenticator

    with transaction.atomic():
        removed, _ = Authenticator.objects.filter(user=user).delete()
        record(
            "user.reset_mfa",
            actor=actor,
            request=request,
            obj=user,
            message=f"{removed} second factor(s) of {user.username} removed",
        )
    return int(removed)
