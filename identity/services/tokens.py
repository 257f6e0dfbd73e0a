"""Personal API tokens: create, revoke and check. The plaintext exists only in the caller."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from audit.services import record
from identity.models import ApiToken, User
from odcm.api.permissions import TOKEN_AREAS
from odcm.errors import ErrorKind, ServiceError

TOKEN_SHAPE = re.compile(r"^odcm_([A-Za-z0-9]{8})_([A-Za-z0-9_-]{43})$")
ALPHABET = string.ascii_letters + string.digits
# last_used_at is a hint for people, not an audit trail: write it at most once a minute.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class TokenError(ServiceError):
    """A presented token is unusable. The message is safe to show to its holder."""

    default_code = "invalid_token"
    default_kind = ErrorKind.AUTH


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def _check_areas(areas: Iterable[str]) -> list[str]:
    wanted = sorted(set(areas))
    unknown = [a for a in wanted if a not in TOKEN_AREAS]
    if unknown:
        raise TokenError(
            f"Unknown area {unknown[0]!r}: choose from {', '.join(sorted(TOKEN_AREAS))}.",
            code="invalid",
            kind=ErrorKind.VALIDATION,
        )
    return wanted


def create_token(
    user: User,
    *,
    name: str,
    expires_days: int | None = None,
    read_only: bool = False,
    areas: Iterable[str] = (),
    instances: Iterable[Any] = (),
    spaces: Iterable[Any] = (),
    actor: Any = None,
    request: HttpRequest | None = None,
) -> tuple[ApiToken, str]:
    """Create a token for ``user`` and return it with its plaintext (to be shown once).

    Every token expires: ``expires_days`` (default and maximum ``ODCM_TOKEN_MAX_DAYS``). A
    token may be limited to API ``areas`` (``odcm.api.permissions.TOKEN_AREAS``) and to some
    ``instances`` and ``spaces`` (rows the caller has already checked ``user`` may see).
    """
    max_days = int(settings.ODCM_TOKEN_MAX_DAYS)
    if expires_days is None:
        expires_days = max_days
    if expires_days < 1:
        raise ValueError("a token must live at least one day")
    if expires_days > max_days:
        raise TokenError(
            f"A token may live at most {max_days} days (ODCM_TOKEN_MAX_DAYS).",
            code="invalid",
            kind=ErrorKind.VALIDATION,
        )
    instance_rows, space_rows = list(instances), list(spaces)
    area_list = _check_areas(areas)
    with transaction.atomic():
        while True:
            prefix = "".join(secrets.choice(ALPHABET) for _ in range(8))
            if not ApiToken.objects.filter(prefix=prefix).exists():
                break
        plaintext = f"odcm_{prefix}_{secrets.token_urlsafe(32)}"
        token = ApiToken.objects.create(
            user=user,
            name=name,
            prefix=prefix,
            digest=_digest(plaintext),
            read_only=read_only,
            areas=area_list,
            limited=bool(instance_rows or space_rows),
            expires_at=timezone.now() + timedelta(days=expires_days),
        )
        token.instances.set(instance_rows)
        token.spaces.set(space_rows)
        record(
            "api_token.create",
            actor=actor or user,
            request=request,
            obj=token,
            after={
                "name": name,
                "user": user.username,
                "read_only": read_only,
                "areas": area_list,
                "instances": sorted(str(i) for i in instance_rows),
                "spaces": sorted(str(sp) for sp in space_rows),
                "expires_at": token.expires_at.isoformat() if token.expires_at else None,
            },
        )
    return token, plaintext


def revoke_token(token: ApiToken, *, actor: Any = None, request: HttpRequest | None = None) -> bool:
    """Revoke ``token``. Returns False if it was already revoked (nothing is written then)."""
    with transaction.atomic():
        changed = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        if changed:
            record("api_token.revoke", actor=actor, request=request, obj=token)
    token.refresh_from_db()
    return bool(changed)


def check_token(presented: str, *, address: str | None = None) -> ApiToken:
    """The active token matching ``presented``, or TokenError saying why not. Records when
    (and from which ``address``) it was last used."""
    match = TOKEN_SHAPE.match(presented)
    if match is None:
        raise TokenError("Invalid token.")
    token = ApiToken.objects.select_related("user").filter(prefix=match.group(1)).first()
    if token is None or not hmac.compare_digest(token.digest, _digest(presented)):
        raise TokenError("Invalid token.")
    if token.revoked_at is not None:
        raise TokenError("This token has been revoked.")
    if token.is_expired:
        raise TokenError("This token has expired.")
    if not token.user.is_active:
        raise TokenError("Invalid token.")
    now = timezone.now()
    if (
        token.last_used_at is None
        or now - token.last_used_at > LAST_USED_RESOLUTION
        or (address and address != token.last_used_ip)
    ):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now, last_used_ip=address)
    return token
