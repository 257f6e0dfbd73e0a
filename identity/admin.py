"""Accounts in the Django admin. Users stay editable here (it is where accounts are created);
every change is audited and deactivating someone clears their cached figures. Tokens,
groups and grants change only through ODCM's pages and API."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from identity.models import ApiToken, User
from odcm.adminsite import ReadOnlyAdmin

admin.site.register(User, UserAdmin)


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    list_display = ["name", "user", "prefix", "read_only", "created_at", "expires_at", "revoked_at"]
    exclude = ["digest"]
