"""People administration: create a person, deactivate them everywhere, reset their second
factor. (Their ODCM sessions: ``identity.services.sessions``.)

Deactivating is the one switch that ends a person's access: ODCM stops signing them in (and
so stops issuing id_tokens to the Octopus instances), their sessions and tokens end, and the
managed teams of their groups are pushed again without them (``_group_members`` counts active
users only). A deactivated account stays, with its history.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from audit.services import record
from identity import access
from identity.models import ApiToken, User
from identity.services import octopus_sessions, sessions, teams
from identity.services.groups import enqueue_sync
from odcm.errors import ServiceError


class PeopleError(ServiceError):
    """A change to a person that ODCM refuses; the message says why."""


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
        ended = sessions.end_all(user)
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
