"""Configuration rules that settings.py applies: production safety and email."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

from odcm.env import EnvError, env_bool, env_int, env_str, env_url

MIN_SECRET_KEY_LENGTH = 50


class UnsafeConfiguration(ImproperlyConfigured):
    """Production settings that ODCM refuses to run with. The message is one line."""


def validate_production(
    *,
    debug: bool,
    secret_key: str,
    allowed_hosts: Sequence[str],
    encryption_keys: Sequence[str],
) -> None:
    """Refuse to start in production (``ODCM_DEBUG`` off) on unsafe configuration."""
    if debug:
        return
    if not secret_key:
        raise UnsafeConfiguration("ODCM_SECRET_KEY is not set: set it to a long random string")
    if len(secret_key) < MIN_SECRET_KEY_LENGTH or len(set(secret_key)) < 5:
        raise UnsafeConfiguration(
            f"ODCM_SECRET_KEY is too weak: use at least {MIN_SECRET_KEY_LENGTH} random characters"
        )
    if not allowed_hosts:
        raise UnsafeConfiguration("ODCM_ALLOWED_HOSTS is not set: list the host names ODCM serves")
    if not encryption_keys:
        raise UnsafeConfiguration(
            "ODCM_ENCRYPTION_KEYS is not set: generate one with `python -m odcm.keygen`"
        )
    from odcm.crypto import CryptoError, parse_keys

    try:
        parse_keys(encryption_keys)
    except CryptoError as exc:
        raise UnsafeConfiguration(str(exc)) from None


def development_encryption_key(secret_key: str) -> str:
    """In DEBUG mode with no key configured, derive one so a developer's secrets still encrypt."""
    digest = hashlib.sha256(b"odcm-dev-encryption" + secret_key.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")


def email_settings(*, debug: bool, var_dir: Path) -> dict[str, Any]:
    """Django's EMAIL_* settings from ``ODCM_EMAIL_URL`` or the separate variables.

    Nothing configured means the file backend: messages land in ``var/mail/`` where a developer
    can read them, and nothing is sent anywhere by surprise.
    """
    url = env_url("ODCM_EMAIL_URL", schemes=("smtp", "smtp+tls", "smtp+ssl", "console", "file"))
    host = env_str("ODCM_EMAIL_HOST")
    timeout = env_int("ODCM_EMAIL_TIMEOUT", 15, minimum=1)
    if url:
        parts = urlsplit(url)
        if parts.scheme == "console":
            return {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}
        if parts.scheme == "file":
            return {
                "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
                "EMAIL_FILE_PATH": parts.path or str(var_dir / "mail"),
            }
        if not parts.hostname:
            raise EnvError("ODCM_EMAIL_URL names no host")
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": parts.hostname,
            "EMAIL_PORT": parts.port or (465 if parts.scheme == "smtp+ssl" else 25),
            "EMAIL_HOST_USER": unquote(parts.username or ""),
            "EMAIL_HOST_PASSWORD": unquote(parts.password or ""),
            "EMAIL_USE_TLS": parts.scheme == "smtp+tls",
            "EMAIL_USE_SSL": parts.scheme == "smtp+ssl",
            "EMAIL_TIMEOUT": timeout,
        }
    if host:
        use_tls = env_bool("ODCM_EMAIL_USE_TLS", False)
        use_ssl = env_bool("ODCM_EMAIL_USE_SSL", False)
        if use_tls and use_ssl:
            raise EnvError("ODCM_EMAIL_USE_TLS and ODCM_EMAIL_USE_SSL are both on: pick one")
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": host,
            "EMAIL_PORT": env_int(
                "ODCM_EMAIL_PORT", 465 if use_ssl else 25, minimum=1, maximum=65535
            ),
            "EMAIL_HOST_USER": env_str("ODCM_EMAIL_USER") or "",
            "EMAIL_HOST_PASSWORD": env_str("ODCM_EMAIL_PASSWORD") or "",
            "EMAIL_USE_TLS": use_tls,
            "EMAIL_USE_SSL": use_ssl,
            "EMAIL_TIMEOUT": timeout,
        }
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(var_dir / "mail"),
    }
