"""Service accounts: automation's own identity, owned by a group whose members (and ODCM's
administrators) manage it and its tokens. Every write is audited."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.text import slugify

from audit.services import record
from identity import access
from identity.models import ApiToken, Group, ServiceAccount, User
from identity.services.tokens import create_token
from odcm.errors import ErrorKind, ServiceError

PREFIX = "svc-"


class ServiceAccountError(ServiceError):
    """A service account could not be created or changed as asked."""


def manageable_by(user: Any) -> QuerySet[ServiceAccount]:
    """The service accounts ``user`` may see and manage: all for administrators, else those
    owned by one of their groups. Tokens never manage service accounts' own kind."""
    rows = ServiceAccount.objects.select_related("user", "owner")
    if getattr(user, "service_account", None) is not None and not access.is_admin(user):
        return rows.none()
    if access.is_admin(user):
        return rows
    return rows.filter(owner__in=access.user_groups(user).values("pk"))


def create_service_account(
    *,
    name: str,
    owner: Group,
    description: str = "",
    actor: Any,
    request: HttpRequest | None = None,
) -> ServiceAccount:
    """A new service account named ``svc-<name>``; ``actor`` must administer ODCM or belong
    to ``owner``. ``actor`` None is ODCM itself (configuration as code applied by an operator
    on the server or from a followed Git repository), as for the other services."""
    if actor is not None and not _may_manage(actor, owner):
        raise ServiceAccountError(
            "Only administrators and members of the owner group may create its service accounts.",
            kind=ErrorKind.PERMISSION,
            code="forbidden",
        )
    username = PREFIX + slugify(name)[:100]
    if username == PREFIX:
        raise ServiceAccountError("A service account needs a name.", code="invalid")
    with transaction.atomic():
        if User.objects.filter(username__iexact=username).exists():
            raise ServiceAccountError(
                f"The name {username!r} is taken.", kind=ErrorKind.CONFLICT, code="conflict"
            )
        user = User(username=username, first_name=name[:150])
        user.set_unusable_password()  # never signs in interactively
        user.save()
        account = ServiceAccount.objects.create(user=user, owner=owner, description=description)
        record(
            "service_account.create",
            actor=actor,
            request=request,
            obj=account,
            after={"username": username, "owner": owner.name},
        )
    return account


def _may_manage(actor: Any, owner: Group) -> bool:
    return access.is_admin(actor) or access.user_groups(actor).filter(pk=owner.pk).exists()


def _refuse_unless_manager(actor: Any, owner: Group) -> None:
    if actor is not None and not _may_manage(actor, owner):
        raise ServiceAccountError(
            "Only administrators and members of the owner group may change its service accounts.",
            kind=ErrorKind.PERMISSION,
            code="forbidden",
        )


def update_service_account(
    account: ServiceAccount,
    *,
    owner: Group | None = None,
    description: str | None = None,
    active: bool | None = None,
    actor: Any,
    request: HttpRequest | None = None,
) -> ServiceAccount:
    """Change what is given (None: keep). ``active`` False deactivates the account as a person
    is deactivated (its tokens are revoked, it leaves every managed team); True lets it be
    used again (with new tokens: revoked ones stay revoked). ``actor`` must manage the account
    under its current owner and, when it moves, under the new one."""
    from identity.services import people

    _refuse_unless_manager(actor, account.owner)
    if owner is not None:
        _refuse_unless_manager(actor, owner)
    with transaction.atomic():
        before = {"owner": account.owner.name, "description": account.description}
        fields = []
        if owner is not None and owner.pk != account.owner_id:
            account.owner = owner
            fields.append("owner")
        if description is not None and description != account.description:
            account.description = description
            fields.append("description")
        if fields:
            account.save(update_fields=fields)
            record(
                "service_account.update",
                actor=actor,
                request=request,
                obj=account,
                before={k: before[k] for k in fields},
                after={"owner": account.owner.name, "description": account.description},
            )
        if active is False and account.user.is_active:
            people.deactivate(account.user, actor=actor, request=request)
        elif active is True and not account.user.is_active:
            User.objects.filter(pk=account.user_id, is_active=False).update(is_active=True)
            record(
                "service_account.reactivate",
                actor=actor,
                request=request,
                obj=account,
                message=f"{account.user.username} may be used again (its old tokens stay revoked)",
            )
    account.user.refresh_from_db()
    return account


def delete_service_account(
    account: ServiceAccount, *, actor: Any, request: HttpRequest | None = None
) -> None:
    """Delete the service account and its user: deactivated first (tokens revoked, managed
    teams pushed without it after commit), then removed."""
    from identity.services import people

    _refuse_unless_manager(actor, account.owner)
    with transaction.atomic():
        user = account.user
        if user.is_active:
            people.deactivate(user, actor=actor, request=request)
        record(
            "service_account.delete",
            actor=actor,
            request=request,
            obj=account,
            before={"username": user.username, "owner": account.owner.name},
        )
        user.delete()  # the account, its tokens and memberships go with it


def create_service_token(
    account: ServiceAccount, *, actor: Any, request: HttpRequest | None = None, **options: Any
) -> tuple[ApiToken, str]:
    """A token for the service account (scoped with ``options`` as ``create_token``)."""
    if not manageable_by(actor).filter(pk=account.pk).exists():
        raise ServiceAccountError(
            "You may not manage this service account.", kind=ErrorKind.NOT_FOUND, code="not_found"
        )
    return create_token(account.user, actor=actor, request=request, **options)
