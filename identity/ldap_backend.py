"""LDAP / Active Directory sign-in: django-auth-ldap, with the user's groups stored as external
groups at every sign-in. Only imported when ODCM_LDAP_SERVER_URI is set."""

from __future__ import annotations

from typing import Any

from django_auth_ldap.backend import LDAPBackend as BaseLDAPBackend

from identity.services import store_external_groups

SOURCE = "ldap"


class LDAPBackend(BaseLDAPBackend):
    def authenticate_ldap_user(self, ldap_user: Any, password: str) -> Any:
        user = super().authenticate_ldap_user(ldap_user, password)
        if user is not None:
            groups = ldap_user.group_dns if self.settings.GROUP_TYPE is not None else set()
            store_external_groups(user, SOURCE, sorted(groups))
        return user
