"""People administration: deactivate a person everywhere, reset their second factor.

Deactivating is the one switch that ends a person's access: ODCM stops signing them in (and
so stops issuing id_tokens to the Octopus instances), their sessions and tokens end, and the
managed teams of their groups are pushed again without them (``_group_members`` counts active
users only). A deactivated account stays, with its history.
"""

from __future__ import annotations

from typing import Any

from django.contrib.sessions.models import Session
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from audit.services import record
from identity import access
from identity.models import ApiToken, User
from identity.services import teams
from identity.services.groups import enqueue_sync
from odcm.errors import ServiceError


class PeopleError(ServiceError):
    """A change to a person that ODCM refuses; the message says why."""


def _end_sessions(user: User) -> int:
    """Delete the person's browser sessions (database sessions: one scan of live ones)."""
    ended = 0
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if str(session.get_decoded().get("_auth_user_id")) == str(user.pk):
            session.delete()
            ended += 1
    return ended


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
