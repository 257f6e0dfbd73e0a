"""Invitations: an administrator invites an outside person by email to sign in through a named
external OpenID Connect provider (their own organisation's), with an expiry and the grants
they will receive.

The link's secret is shown only in the email (a digest is stored). Opening the link remembers
the invitation in the browser session, which lets that provider's sign-in create the account
even when single sign-on is invite-only (``identity.adapters``). Accepting needs a sign-in
through exactly that provider, in this session, with the invited address: the grants are then
given to the person alone (``identity.services.groups.grant``), once (a conditional UPDATE); a
grant by tag or region becomes a rule for them (``identity.services.grant_rules``), so
instances tagged later reach them too.
Expired, revoked, used and wrong-provider invitations are refused with a message saying so.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from audit.services import record
from identity.models import Invitation, Role, User, instance_model, space_model
from identity.services import grant_rules
from identity.services.groups import GrantError, clean_scope, grant
from odcm.errors import ErrorKind, ServiceError
from odcm.mail import header_text

# The invitation a browser opened (its id), and the provider its latest sign-in used.
SESSION_KEY = "odcm_invitation"
SIGNED_IN_VIA = "odcm_signed_in_via"
MAX_DAYS = 30
# What an invitation's grant is for: one space or instance (ids), or a tag or region (names).
TARGETS = ("space", "instance", "tag", "region")


class InvitationError(ServiceError):
    """An invitation that cannot be made or used; the message is for the person."""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def providers(request: HttpRequest | None = None) -> dict[str, str]:
    """The external OpenID Connect providers configured in ODCM: id -> name."""
    from allauth.socialaccount.adapter import get_adapter

    return {
        str(app.provider_id or app.provider): str(app.name)
        for app in get_adapter().list_apps(request, provider="openid_connect")
    }


def _clean_grants(grants: Any) -> list[dict[str, Any]]:
    if not isinstance(grants, list):
        raise _field("grants", "Grants are a list of {role, space or instance, scope}.")
    cleaned = []
    for item in grants:
        if not isinstance(item, dict) or item.get("role") not in Role.values:
            raise _field("grants", f"Each grant needs a role: {', '.join(Role.values)}.")
        kinds = [k for k in TARGETS if item.get(k)]
        if len(kinds) != 1:
            raise _field(
                "grants", "Each grant is for one space, one instance, one tag or one region."
            )
        try:
            scope = clean_scope(item.get("scope"))
        except GrantError as exc:
            raise _field("grants", str(exc)) from None
        entry: dict[str, Any] = {"role": item["role"], "scope": scope}
        kind = kinds[0]
        if kind in ("tag", "region"):
            # A rule for the person once they accept: the instances carrying it then and later.
            value = item[kind]
            if not isinstance(value, str) or not value.strip() or len(value.strip()) > 100:
                raise _field("grants", f"Name the {kind} (at most 100 characters).")
            entry[kind] = value.strip()
            cleaned.append(entry)
            continue
        model = space_model() if kind == "space" else instance_model()
        row = model.objects.filter(pk=str(item[kind])).first() if _is_uuid(item[kind]) else None
        if row is None:
            raise _field("grants", f"No {kind} {item[kind]!r}.")
        entry[kind] = str(row.pk)
        cleaned.append(entry)
    return cleaned


def _is_uuid(value: Any) -> bool:
    import uuid

    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _field(name: str, message: str) -> InvitationError:
    return InvitationError(message, errors={name: [message]})


def link(token: str) -> str:
    return settings.ODCM_SITE_URL.rstrip("/") + reverse("identity:invitation", args=[token])


def create(
    *,
    email: str,
    provider: str,
    grants: Any = (),
    days: int = 7,
    message: str = "",
    expires_at: datetime | None = None,
    actor: Any,
    request: HttpRequest | None = None,
) -> tuple[Invitation, str]:
    """Make an invitation and email its link. Returns it and the link's secret (for the
    caller's own use only: it is in the email, never stored). It expires after ``days``, or
    at ``expires_at`` when given (in the future, at most ``MAX_DAYS`` days away)."""
    email = (email or "").strip()
    if "@" not in email or len(email) > 254:
        raise _field("email", "Give the person's email address.")
    known = providers(request)
    if provider not in known:
        names = ", ".join(sorted(known)) or "none is configured"
        raise _field("provider", f"Unknown sign-in provider {provider!r} (known: {names}).")
    now = timezone.now()
    if expires_at is not None:
        if expires_at.tzinfo is None:
            raise _field("expires_at", "Give the expiry with its time zone.")
        if expires_at <= now:
            raise _field("expires_at", "The expiry is in the past.")
        if expires_at > now + timedelta(days=MAX_DAYS):
            raise _field("expires_at", f"An invitation expires within {MAX_DAYS} days.")
    elif not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise _field("days", f"An invitation expires after 1 to {MAX_DAYS} days.")
    cleaned = _clean_grants(list(grants))
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        row = Invitation.objects.create(
            email=email,
            provider=provider,
            grants=cleaned,
            digest=_digest(token),
            message=message.strip()[:2000],
            expires_at=expires_at or now + timedelta(days=days),
            created_by=actor if getattr(actor, "pk", None) else None,
        )
        record(
            "invitation.create",
            actor=actor,
            request=request,
            obj=row,
            after={
                "email": email,
                "provider": provider,
                "grants": cleaned,
                "days": days if expires_at is None else None,
                "expires_at": row.expires_at.isoformat(),
            },
        )
    send(row, token, provider_name=known[provider])
    return row, token


def send(row: Invitation, token: str, *, provider_name: str = "") -> bool:
    """Email the invitation (Django's mail); the outcome is kept on the row."""
    body = render_to_string(
        "emails/invitation.txt",
        {
            "invitation": row,
            "link": link(token),
            "provider": provider_name or row.provider,
            "inviter": row.created_by,
        },
    )
    mail = EmailMessage(
        subject=header_text("[ODCM] You are invited to ODCM"), body=body, to=[row.email]
    )
    try:
        mail.send()
    except (OSError, ValueError) as exc:  # smtplib's errors are OSErrors
        Invitation.objects.filter(pk=row.pk).update(send_error=str(exc)[:500])
        record("invitation.send_failed", obj=row, message=f"to {row.email}: {exc}"[:1000])
        return False
    Invitation.objects.filter(pk=row.pk).update(sent_at=timezone.now(), send_error="")
    return True


def resend(row: Invitation, *, actor: Any, request: HttpRequest | None = None) -> bool:
    """A new link (the old one stops working) and a new email, for a pending invitation."""
    if row.state != Invitation.State.PENDING:
        raise InvitationError(f"This invitation is {row.state}: make a new one.")
    token = secrets.token_urlsafe(32)
    Invitation.objects.filter(pk=row.pk).update(digest=_digest(token))
    record("invitation.resend", actor=actor, request=request, obj=row)
    return send(row, token, provider_name=providers(request).get(row.provider, ""))


def revoke(row: Invitation, *, actor: Any, request: HttpRequest | None = None) -> bool:
    changed = Invitation.objects.filter(
        pk=row.pk, revoked_at__isnull=True, accepted_at__isnull=True
    ).update(revoked_at=timezone.now())
    if changed:
        record("invitation.revoke", actor=actor, request=request, obj=row)
    return bool(changed)


def _refusal(row: Invitation | None) -> str | None:
    if row is None:
        return "This invitation link is not valid. Ask for a new invitation."
    state = row.state
    if state == Invitation.State.ACCEPTED:
        return "This invitation has already been used."
    if state == Invitation.State.REVOKED:
        return "This invitation was withdrawn. Ask for a new invitation."
    if state == Invitation.State.EXPIRED:
        return "This invitation has expired. Ask for a new invitation."
    return None


def open_link(request: HttpRequest, token: str) -> Invitation:
    """The invitation behind a link, remembered in this browser's session; or why not."""
    row = Invitation.objects.filter(digest=_digest(token)).first()
    problem = _refusal(row)
    if problem:
        raise InvitationError(problem, code="invitation_unusable", kind=ErrorKind.CONFLICT)
    assert row is not None
    request.session[SESSION_KEY] = str(row.pk)
    return row


def pending_for(request: HttpRequest, provider: str) -> Invitation | None:
    """The usable invitation this session opened, if it is for ``provider``."""
    pk = request.session.get(SESSION_KEY) if hasattr(request, "session") else None
    row = Invitation.objects.filter(pk=pk).first() if pk else None
    if row is None or _refusal(row) or row.provider != provider:
        return None
    return row


def remember_sign_in(request: HttpRequest, user: Any, **kwargs: Any) -> None:
    """allauth's user_logged_in: which provider this session signed in through ("" for a
    password), so an invitation can insist on its own."""
    sociallogin = kwargs.get("sociallogin")
    request.session[SIGNED_IN_VIA] = sociallogin.account.provider if sociallogin else ""


def _emails(user: User) -> set[str]:
    found = {user.email.casefold()} if user.email else set()
    from allauth.account.models import EmailAddress

    found.update(
        e.casefold()
        for e in EmailAddress.objects.filter(user=user, verified=True).values_list(
            "email", flat=True
        )
    )
    return found


def accept(request: HttpRequest, token: str) -> Invitation:
    """Accept the invitation for the signed-in person: signed in through its provider, in
    this session, with the invited address. Gives its grants to them alone; once."""
    user = request.user
    assert isinstance(user, User)  # the view requires a signed-in person
    row = Invitation.objects.filter(digest=_digest(token)).first()
    problem = _refusal(row)
    if problem:
        raise InvitationError(problem, code="invitation_unusable", kind=ErrorKind.CONFLICT)
    assert row is not None
    names = providers(request)
    via = request.session.get(SIGNED_IN_VIA)
    if via != row.provider:
        wanted = names.get(row.provider, row.provider)
        raise InvitationError(
            f"This invitation is for signing in with {wanted}; you signed in "
            f"{'with ' + names.get(via, via) if via else 'with a password'}. Sign out and "
            f"sign in with {wanted}.",
            code="wrong_provider",
            kind=ErrorKind.PERMISSION,
        )
    if row.email.casefold() not in _emails(user):
        raise InvitationError(
            f"This invitation is for {row.email}; the account you signed in with has another "
            "address.",
            code="wrong_email",
            kind=ErrorKind.PERMISSION,
        )
    given = []
    with transaction.atomic():
        now = timezone.now()
        claimed = Invitation.objects.filter(
            pk=row.pk, accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now
        ).update(accepted_at=now, accepted_by=user)
        if claimed != 1:
            raise InvitationError("This invitation has already been used.", code="used")
        for item in row.grants:
            if item.get("tag") or item.get("region"):
                if _accept_rule(user, item):
                    given.append(item)
                continue
            target: dict[str, Any] = {}
            if item.get("space"):
                target["space"] = space_model().objects.filter(pk=item["space"]).first()
            else:
                target["instance"] = instance_model().objects.filter(pk=item["instance"]).first()
            if next(iter(target.values())) is None:
                continue  # the space or instance is gone since the invitation was made
            try:
                with transaction.atomic():
                    grant(user, item["role"], scope=item.get("scope"), actor=user, **target)
            except GrantError:
                continue  # already held: nothing to add
            given.append(item)
        record(
            "invitation.accept",
            actor=user,
            request=request,
            obj=row,
            after={"user": user.username, "grants": given},
        )
    request.session.pop(SESSION_KEY, None)
    row.refresh_from_db()
    return row


def _accept_rule(user: User, item: dict[str, Any]) -> bool:
    """An invitation's grant by tag or region: a rule for the person (their grant on the
    instances that carry it, now and later). False if they hold that rule already."""
    selector = "tag" if item.get("tag") else "region"
    try:
        with transaction.atomic():
            grant_rules.create_rule(
                user, item["role"], selector, item[selector], scope=item.get("scope"), actor=user
            )
    except GrantError:
        return False
    return True
