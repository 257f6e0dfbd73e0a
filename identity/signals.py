"""Audit sign-ins and failed ones (never the password, never which part was wrong), index the
sessions they open and close (``identity.services.sessions``), and tell other apps when
who-may-see-what changed (:data:`access_changed`)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import Signal, receiver
from django.http import HttpRequest

from audit.services import record
from identity.services.sessions import forget, remember_client


@receiver(user_logged_in)
def audit_login(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    record("auth.login", actor=user, request=request, obj=user)
    if request is not None and hasattr(request, "session"):
        remember_client(request)


@receiver(user_logged_out)
def audit_logout(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if user is not None:
        record("auth.logout", actor=user, request=request, obj=user)
    if request is not None and hasattr(request, "session"):
        forget(request)


@receiver(user_login_failed)
def audit_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    login = str(credentials.get("username") or credentials.get("email") or "")[:150]
    record("auth.login_failed", request=request, message=f"failed sign-in as {login!r}")


# Sent after the commit of any change to who may see what (grants, groups, external groups,
# instance owners, a user's active or administrator flag). Monitoring drops cached figures.
access_changed = Signal()


class _Once:
    sent = False


class _SendAccessChanged:
    """One change's send after commit; the sends of one transaction share a ``_Once``: the
    first to run sends, the others do nothing."""

    def __init__(self, once: _Once) -> None:
        self.once = once

    def __call__(self) -> None:
        if not self.once.sent:
            self.once.sent = True
            access_changed.send(sender=None)


def notify_access_changed() -> None:
    """Send :data:`access_changed` once the current transaction commits: once per
    transaction however many changes call this (twenty grants saved together made twenty
    sends, each moving the dashboard's stamp). Each change still queues its own callback,
    so a savepoint rolled back takes only its own with it."""
    conn = transaction.get_connection()
    once = None
    if conn.in_atomic_block:
        for _sids, func, _robust in conn.run_on_commit:
            if isinstance(func, _SendAccessChanged) and not func.once.sent:
                once = func.once
                break
    transaction.on_commit(_SendAccessChanged(once or _Once()))


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def user_saved(
    sender: Any, instance: Any, created: bool, update_fields: Any = None, **kwargs: Any
) -> None:
    # Deactivating a user or changing their administrator flag changes what they may see; a
    # sign-in's last_login update does not.
    if created or (
        update_fields is not None and not {"is_active", "is_superuser"} & set(update_fields)
    ):
        return
    notify_access_changed()
