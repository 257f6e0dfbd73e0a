"""Configuration rules that settings.py applies: production safety, email, and sign-in
(OpenID Connect providers, LDAP). Nothing here imports an app: settings load before them."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
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


# allauth's provider that identity.oidc hardens.
OIDC_PROVIDER = "openid_connect"


def oidc_settings() -> dict[str, Any]:
    """SOCIALACCOUNT_PROVIDERS from ``ODCM_OIDC_PROVIDERS``, e.g.::

    [{"id": "entra", "name": "Microsoft Entra ID",
      "server_url": "https://login.microsoftonline.com/<tenant>/v2.0",
      "client_id": "...", "client_secret": "...", "groups_claim": "groups"}]
    """
    raw = env_str("ODCM_OIDC_PROVIDERS")
    apps = []
    if raw:
        try:
            entries = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise EnvError(f"ODCM_OIDC_PROVIDERS is not valid JSON: {exc.msg}") from None
        if not isinstance(entries, list):
            raise EnvError("ODCM_OIDC_PROVIDERS must be a JSON list of providers")
        for n, entry in enumerate(entries):
            missing = [k for k in ("id", "server_url", "client_id") if not entry.get(k)]
            if missing:
                raise EnvError(f"ODCM_OIDC_PROVIDERS[{n}] lacks {', '.join(missing)}")
            app_settings = {
                "server_url": entry["server_url"],
                "groups_claim": entry.get("groups_claim") or "",
            }
            if entry.get("token_auth_method"):
                app_settings["token_auth_method"] = entry["token_auth_method"]
            apps.append(
                {
                    "provider_id": entry["id"],
                    "name": entry.get("name") or entry["id"],
                    "client_id": entry["client_id"],
                    "secret": entry.get("client_secret", ""),
                    "settings": app_settings,
                }
            )
    return {
        OIDC_PROVIDER: {
            "APPS": apps,
            "OAUTH_PKCE_ENABLED": True,
            # allauth's documented extension point: ODCM's subclass of its provider.
            "provider_class": "identity.oidc_provider.ODCMOpenIDConnectProvider",
        }
    }


# LDAP / Active Directory: read only when ``ODCM_LDAP_SERVER_URI`` is set, so python-ldap and
# django-auth-ldap stay optional (``make demo`` installs neither).
GROUP_TYPES = {
    "groupofnames": ("GroupOfNamesType", "(objectClass=groupOfNames)"),
    "nested_groupofnames": ("NestedGroupOfNamesType", "(objectClass=groupOfNames)"),
    "groupofuniquenames": ("GroupOfUniqueNamesType", "(objectClass=groupOfUniqueNames)"),
    "nested_groupofuniquenames": (
        "NestedGroupOfUniqueNamesType",
        "(objectClass=groupOfUniqueNames)",
    ),
    "posix": ("PosixGroupType", "(objectClass=posixGroup)"),
    "active_directory": ("ActiveDirectoryGroupType", "(objectClass=group)"),
    "nested_active_directory": ("NestedActiveDirectoryGroupType", "(objectClass=group)"),
}


def ldap_settings(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The AUTH_LDAP_* settings, and the backend to add to AUTHENTICATION_BACKENDS."""
    import ldap
    from django_auth_ldap import config

    uri = env_str("ODCM_LDAP_SERVER_URI", environ=environ)
    if not uri:
        return {}
    user_base = env_str("ODCM_LDAP_USER_SEARCH_BASE", environ=environ)
    if not user_base:
        raise EnvError("ODCM_LDAP_USER_SEARCH_BASE is required with ODCM_LDAP_SERVER_URI")
    user_filter = env_str("ODCM_LDAP_USER_FILTER", "(uid=%(user)s)", environ=environ)
    timeout = env_int("ODCM_LDAP_TIMEOUT", 10, minimum=1, environ=environ)
    options: dict[Any, Any] = {
        ldap.OPT_REFERRALS: 0,  # Active Directory: referrals need their own bind
        ldap.OPT_NETWORK_TIMEOUT: timeout,
        ldap.OPT_TIMEOUT: timeout,
    }
    ca_file = env_str("ODCM_LDAP_CA_FILE", environ=environ)
    if ca_file:
        options[ldap.OPT_X_TLS_CACERTFILE] = ca_file
        options[ldap.OPT_X_TLS_REQUIRE_CERT] = ldap.OPT_X_TLS_DEMAND
        options[ldap.OPT_X_TLS_NEWCTX] = 0  # must come last: applies the TLS options above
    out: dict[str, Any] = {
        "AUTH_LDAP_SERVER_URI": uri,
        "AUTH_LDAP_BIND_DN": env_str("ODCM_LDAP_BIND_DN", "", environ=environ),
        "AUTH_LDAP_BIND_PASSWORD": env_str("ODCM_LDAP_BIND_PASSWORD", "", environ=environ),
        "AUTH_LDAP_START_TLS": env_bool("ODCM_LDAP_START_TLS", False, environ=environ),
        "AUTH_LDAP_CONNECTION_OPTIONS": options,
        "AUTH_LDAP_USER_SEARCH": config.LDAPSearch(user_base, ldap.SCOPE_SUBTREE, user_filter),
        "AUTH_LDAP_USER_ATTR_MAP": {
            "first_name": env_str("ODCM_LDAP_ATTR_FIRST_NAME", "givenName", environ=environ),
            "last_name": env_str("ODCM_LDAP_ATTR_LAST_NAME", "sn", environ=environ),
            "email": env_str("ODCM_LDAP_ATTR_EMAIL", "mail", environ=environ),
        },
        "AUTH_LDAP_ALWAYS_UPDATE_USER": True,
        "AUTH_LDAP_CACHE_TIMEOUT": 0,  # groups are read at every sign-in
    }
    group_base = env_str("ODCM_LDAP_GROUP_SEARCH_BASE", environ=environ)
    if group_base:
        kind = (env_str("ODCM_LDAP_GROUP_TYPE", "groupOfNames", environ=environ) or "").lower()
        if kind not in GROUP_TYPES:
            raise EnvError(
                f"ODCM_LDAP_GROUP_TYPE={kind!r}: use one of {', '.join(sorted(GROUP_TYPES))}"
            )
        class_name, object_filter = GROUP_TYPES[kind]
        group_filter = env_str("ODCM_LDAP_GROUP_FILTER", object_filter, environ=environ)
        out["AUTH_LDAP_GROUP_SEARCH"] = config.LDAPSearch(
            group_base, ldap.SCOPE_SUBTREE, group_filter
        )
        out["AUTH_LDAP_GROUP_TYPE"] = getattr(config, class_name)()
    return out
