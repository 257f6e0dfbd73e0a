"""Service accounts and invitations in the declared fleet: their export, their written form
(what a plan compares) and the checks a plan makes before anything is applied.

Neither kind carries a secret into a document: a service account is declared by its name,
owner group, description and whether it is active (its tokens are credentials, not
configuration, and are never exported: make them on the account's page or through the API);
an invitation by its email, provider, expiry, message and grants (the link's key is only in
the email identity sends).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone
from django.utils.text import slugify

from fleetconfig.document import Document, Issue
from fleetconfig.grants import normal_scope
from identity.models import Group, Invitation, ServiceAccount, User
from identity.services import invitations as identity_invitations
from identity.services.service_accounts import PREFIX
from spaces.models import Instance, Space

Target = Callable[[dict[str, Any], tuple[Any, ...]], None]


def iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime | None:
    """An ISO 8601 time with its zone, or None."""
    try:
        value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo is not None else None


# -- service accounts --------------------------------------------------------------------


def service_account_username(name: str) -> str:
    """The username identity gives a service account named ``name``: ``svc-<slug>``."""
    return PREFIX + slugify(name)[:100]


def _account_name(account: ServiceAccount) -> str:
    # The name it was made with, when that still gives its username; else the username's slug.
    slug = account.user.username.removeprefix(PREFIX)
    first = account.user.first_name
    return first if first and slugify(first)[:100] == slug else slug


def export_service_accounts(refs: Any) -> list[dict[str, Any]]:
    out = []
    rows = ServiceAccount.objects.select_related("user", "owner").order_by("user__username")
    for account in rows:
        entry: dict[str, Any] = {"name": _account_name(account), "owner": account.owner.name}
        if account.description:
            entry["description"] = account.description
        entry["active"] = account.user.is_active
        out.append(entry)
    return out


def service_account_parts(
    decl: dict[str, Any],
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(key, ident, fields) of a declared service account; the key is its username."""
    username = service_account_username(decl["name"])
    fields = {
        "owner": decl["owner"],
        "description": decl.get("description", ""),
        "active": decl.get("active", True),
    }
    return username, {"name": decl["name"], "username": username}, fields


def declared_usernames(data: dict[str, Any]) -> set[str]:
    return {service_account_username(a["name"]) for a in data.get("service_accounts") or []}


# -- invitations -------------------------------------------------------------------------


def invitation_key(email: str) -> str:
    return email.strip().casefold()


def _pending() -> Any:
    return Invitation.objects.filter(
        accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
    )


def pending_for(email: str) -> Any:
    return _pending().filter(email__iexact=email.strip())


def export_invitations(refs: Any) -> list[dict[str, Any]]:
    """Pending invitations, the newest per address (accepted, withdrawn and expired ones are
    history, not configuration)."""
    rows = list(_pending().order_by("-created_at"))
    space_ids = {g["space"] for r in rows for g in r.grants if g.get("space")}
    instance_ids = {g["instance"] for r in rows for g in r.grants if g.get("instance")}
    spaces = {
        str(s.pk): s for s in Space.objects.filter(pk__in=space_ids).select_related("instance")
    }
    instances = {str(i.pk): i for i in Instance.objects.filter(pk__in=instance_ids)}
    seen: set[str] = set()
    out = []
    for row in rows:
        if invitation_key(row.email) in seen:
            continue
        seen.add(invitation_key(row.email))
        grants = []
        for g in row.grants:
            if g.get("tag") or g.get("region"):
                where = {k: g[k] for k in ("tag", "region") if g.get(k)}
            elif g.get("space"):
                space = spaces.get(str(g["space"]))
                if space is None:
                    continue  # gone since the invitation was made: accepting skips it too
                where = {"instance": space.instance.name, "space": space.name}
            else:
                inst = instances.get(str(g.get("instance")))
                if inst is None:
                    continue
                where = {"instance": inst.name}
            grants.append(_grant({"role": g["role"], **where, "scope": g.get("scope")}))
        entry: dict[str, Any] = {
            "email": row.email,
            "provider": row.provider,
            "expires_at": iso(row.expires_at),
        }
        if row.message:
            entry["message"] = row.message
        entry["grants"] = sorted(grants, key=_grant_order)
        out.append(entry)
    return sorted(out, key=lambda e: invitation_key(e["email"]))


def _grant(g: dict[str, Any]) -> dict[str, Any]:
    if g.get("tag") or g.get("region"):  # a rule for the person once they accept
        kind = "tag" if g.get("tag") else "region"
        entry: dict[str, Any] = {"role": g["role"], kind: g[kind]}
    else:
        entry = {"role": g["role"], "instance": g["instance"]}
    if g.get("space"):
        entry["space"] = g["space"]
    if normal_scope(g.get("scope")):
        entry["scope"] = normal_scope(g.get("scope"))
    return entry


def _grant_order(g: dict[str, Any]) -> tuple[str, str, str, str]:
    where = "tag" if g.get("tag") else "region" if g.get("region") else "instance"
    return (g["role"], where, g.get(where, ""), g.get("space", ""))


def invitation_parts(decl: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(key, ident, fields) of a declared invitation; matched by its address (any case)."""
    when = parse_time(decl["expires_at"])
    fields = {
        "provider": decl["provider"],
        "expires_at": iso(when) if when is not None else str(decl["expires_at"]),
        "message": str(decl.get("message", "")).strip()[:2000],
        "grants": sorted((_grant(g) for g in decl.get("grants") or []), key=_grant_order),
    }
    email = decl["email"].strip()
    return invitation_key(email), {"email": email}, fields


def accepted(keys: set[str]) -> set[str]:
    """Of these addresses (keys), those with an accepted invitation and none pending: a
    declared invitation of theirs is left alone (it did its work)."""
    if not keys:
        return set()
    done = {
        invitation_key(e)
        for e in Invitation.objects.filter(accepted_at__isnull=False).values_list(
            "email", flat=True
        )
    }
    waiting = {invitation_key(e) for e in _pending().values_list("email", flat=True)}
    return (keys & done) - waiting


# -- checks ------------------------------------------------------------------------------


def check(doc: Document, need_target: Target) -> list[Issue]:
    """Every service account and invitation problem a plan can see, with its line."""
    return _check_service_accounts(doc) + _check_invitations(doc, need_target)


def _check_service_accounts(doc: Document) -> list[Issue]:
    data, issues = doc.data, []
    declared_groups = {g["name"] for g in data.get("groups") or []}
    groups = set(Group.objects.values_list("name", flat=True)) | declared_groups
    taken = dict(
        User.objects.filter(username__startswith=PREFIX).values_list("username", "service_account")
    )
    seen: set[str] = set()
    for i, decl in enumerate(data.get("service_accounts") or []):
        username = service_account_username(decl["name"])
        if username == PREFIX:
            issues.append(
                doc.issue(
                    ("service_accounts", i, "name"),
                    "A service account's name needs letters or digits.",
                )
            )
            continue
        if username in seen:
            issues.append(
                doc.issue(("service_accounts", i, "name"), f"Declared twice (as {username}).")
            )
        seen.add(username)
        if username in taken and taken[username] is None:
            issues.append(
                doc.issue(
                    ("service_accounts", i, "name"),
                    f"The username {username!r} is a person's, not a service account's.",
                )
            )
        if decl["owner"] not in groups:
            issues.append(
                doc.issue(
                    ("service_accounts", i, "owner"),
                    f"No group named {decl['owner']!r} (the owner is an ODCM group).",
                )
            )
    return issues


def _check_invitations(doc: Document, need_target: Target) -> list[Issue]:
    data, issues = doc.data, []
    rows = data.get("invitations") or []
    done = accepted({invitation_key(r["email"]) for r in rows})
    known: dict[str, str] | None = None
    now = timezone.now()
    seen: set[str] = set()
    for i, decl in enumerate(rows):
        path = ("invitations", i)
        try:
            validate_email(decl["email"].strip())
        except ValidationError:
            issues.append(doc.issue((*path, "email"), "Not an email address."))
            continue
        key = invitation_key(decl["email"])
        if key in seen:
            issues.append(doc.issue((*path, "email"), "Declared twice."))
        seen.add(key)
        if key in done:
            continue  # accepted: left alone, whatever the file says now
        if known is None:
            known = identity_invitations.providers()
        if decl["provider"] not in known:
            names = ", ".join(sorted(known)) or "none is configured"
            issues.append(
                doc.issue(
                    (*path, "provider"),
                    f"Unknown sign-in provider {decl['provider']!r} (known: {names}).",
                )
            )
        when = parse_time(decl["expires_at"])
        if when is None:
            issues.append(
                doc.issue(
                    (*path, "expires_at"),
                    "Must be a date and time with its zone (for example 2026-12-01T08:00:00Z).",
                )
            )
        elif when <= now:
            issues.append(
                doc.issue(
                    (*path, "expires_at"),
                    "The expiry is in the past: give a later one, or remove the invitation.",
                )
            )
        elif when > now + timedelta(days=identity_invitations.MAX_DAYS):
            issues.append(
                doc.issue(
                    (*path, "expires_at"),
                    f"An invitation expires within {identity_invitations.MAX_DAYS} days.",
                )
            )
        for j, grant in enumerate(decl.get("grants") or []):
            need_target(grant, (*path, "grants", j))
    return issues
