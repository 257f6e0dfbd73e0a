"""Shared by odcm_plan and odcm_apply: read the file, find the acting user."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import CommandError

from identity.models import User


def read_file(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise CommandError(f"Cannot read {path}: {exc.strerror}.") from exc


def actor(username: str | None) -> Any:
    if not username:
        return None
    user = User.objects.filter(username=username, is_active=True).first()
    if user is None:
        raise CommandError(f"No active user named {username!r}.")
    return user
