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
    to ``owner``."""
    if not (access.is_admin(actor) or access.user_groups(actor).filter(pk=owner.pk).exists()):
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


def create_service_token(
    account: ServiceAccount, *, actor: Any, request: HttpRequest | None = None, **options: Any
) -> tuple[ApiToken, str]:
    """A token for the service account (scoped with ``options`` as ``create_token``)."""
    if not manageable_by(actor).filter(pk=account.pk).exists():
        raise ServiceAccountError(
            "You may not manage this service account.", kind=ErrorKind.NOT_FOUND, code="not_found"
        )
    return create_token(account.user, actor=actor, request=request, **options)
