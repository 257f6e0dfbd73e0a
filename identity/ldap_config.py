"""django-auth-ldap settings from ODCM_LDAP_* variables.

Imported by odcm/settings.py only when ``ODCM_LDAP_SERVER_URI`` is set, so python-ldap and
django-auth-ldap stay optional (``make demo`` installs neither).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from odcm.env import EnvError, env_bool, env_int, env_str

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
