"""Applying service accounts and invitations through identity's services (audited there).

A service account is made after its owner group and then joins the groups the file lists it
in (a group made earlier in the same apply could not hold it yet). An invitation is matched by
address: a change withdraws the pending one and sends a new one (a new email and link: an
invitation is not edited in place); pruning withdraws it. The link's key identity returns is
dropped here: it is in the invitee's email only, never in a plan, an outcome or a log.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from fleetconfig.accounts import parse_time, pending_for
from fleetconfig.apply_base import ApplyError, Source, changed, instance, remember, space
from fleetconfig.plan import Change
from identity import services as identity
from identity.models import Group, ServiceAccount, User
from identity.services import invitations as identity_invitations
from identity.services import service_accounts as identity_accounts


def members(names: list[str], source: Source) -> list[User]:
    """A group's declared members that exist. A service account the file declares and that
    is not made yet is left out here: it joins when it is made (``service_account``)."""
    found = list(User.objects.filter(username__in=names))
    missing = set(names) - {u.username for u in found} - set(source.service_accounts)
    if missing:
        raise ApplyError(f"No user named {', '.join(sorted(missing))}.")
    return found


def _owner(name: str) -> Group:
    group = Group.objects.filter(name=name).first()
    if group is None:
        raise ApplyError(f"No group named {name!r} to own the service account.")
    return group


def service_account(change: Change, source: Source, actor: Any) -> None:
    account = (
        ServiceAccount.objects.select_related("user", "owner")
        .filter(user__username=change.key)
        .first()
    )
    if change.action == "delete":
        if account is not None:
            identity_accounts.delete_service_account(account, actor=actor)
        remember(change, forget=True)
        return
    decl = source.service_accounts[change.key]
    active = bool(decl.get("active", True))
    with transaction.atomic():
        if change.action == "create":
            account = identity_accounts.create_service_account(
                name=decl["name"],
                owner=_owner(decl["owner"]),
                description=decl.get("description", ""),
                actor=actor,
            )
            if not active:
                identity_accounts.update_service_account(account, active=False, actor=actor)
            _join_declared_groups(account.user, source, actor)
            remember(change, created=True)
            return
        if account is None:
            raise ApplyError(f"No service account {change.key}.")
        identity_accounts.update_service_account(
            account,
            owner=_owner(decl["owner"]) if changed(change, "owner") else None,
            description=decl.get("description", "") if changed(change, "description") else None,
            active=active if changed(change, "active") else None,
            actor=actor,
        )
    remember(change)


def _join_declared_groups(user: User, source: Source, actor: Any) -> None:
    for decl in source.data.get("groups") or []:
        if user.username not in (decl.get("members") or []):
            continue
        group = Group.objects.filter(name=decl["name"]).first()
        if group is not None and not group.members.filter(pk=user.pk).exists():
            identity.update_group(group, members=[*group.members.all(), user], actor=actor)


def invitation(change: Change, source: Source, actor: Any) -> None:
    email = change.ident["email"]
    pending = list(pending_for(email))
    if change.action == "delete":
        for row in pending:
            identity_invitations.revoke(row, actor=actor)
        remember(change, forget=True)
        return
    fields = source.obj_fields(change)
    expires_at = parse_time(fields["expires_at"])
    if expires_at is None:
        raise ApplyError("The expiry is not a date and time with its zone.")
    grants = [_grant_ids(g) for g in fields["grants"]]
    with transaction.atomic():
        for row in pending:  # a change: the new invitation replaces the pending one
            identity_invitations.revoke(row, actor=actor)
        identity_invitations.create(
            email=email,
            provider=fields["provider"],
            grants=grants,
            message=fields["message"],
            expires_at=expires_at,
            actor=actor,
        )  # returns the link's key too: deliberately dropped (it is in the email only)
    remember(change, created=change.action == "create" or None)


def _grant_ids(grant: dict[str, Any]) -> dict[str, Any]:
    """A declared grant (names) as identity stores an invitation's (ids)."""
    out: dict[str, Any] = {"role": grant["role"], "scope": grant.get("scope") or {}}
    if grant.get("tag") or grant.get("region"):  # names: a rule for them once they accept
        kind = "tag" if grant.get("tag") else "region"
        out[kind] = grant[kind]
    elif grant.get("space"):
        out["space"] = str(space(grant["instance"], grant["space"]).pk)
    else:
        out["instance"] = str(instance(grant["instance"]).pk)
    return out
