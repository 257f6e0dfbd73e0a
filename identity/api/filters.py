"""Filters of /api/v1/groups, /grants, /grant-rules, /users and /tokens."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import Q, QuerySet

from identity.models import ApiToken, Grant, GrantRule, Group, Role, User
from odcm.api.filters import Choices, FilterSet, Flag, Ordering, UUIDs


class GroupFilter(FilterSet):
    search = django_filters.CharFilter(field_name="name", lookup_expr="icontains")
    ordering = Ordering("name", "created_at", "updated_at")

    class Meta:
        model = Group
        fields: list[str] = []


class GrantFilter(FilterSet):
    active = Flag(field_name="revoked_at", lookup_expr="isnull", help_text="Not revoked")
    group = UUIDs(help_text="Group id(s)")
    user = UUIDs(field_name="user__uuid", help_text="Person uuid(s): grants to them alone")
    role = Choices(choices=Role.choices)
    space = UUIDs(help_text="Space id(s)")
    instance = UUIDs(help_text="Instance id(s)")
    ordering = Ordering("created_at", "revoked_at", "role")

    class Meta:
        model = Grant
        fields: list[str] = []


class GrantRuleFilter(FilterSet):
    group = UUIDs(help_text="Group id(s)")
    user = UUIDs(field_name="user__uuid", help_text="Person uuid(s): rules for one person")
    role = Choices(choices=Role.choices)
    selector = Choices(choices=GrantRule.Selector.choices)
    ordering = Ordering("created_at", "role", "value")

    class Meta:
        model = GrantRule
        fields: list[str] = []


class UserFilter(FilterSet):
    search = django_filters.CharFilter(method="search_in", help_text="Username, name or email")
    is_active = Flag()
    is_superuser = Flag()
    group = UUIDs(field_name="odcm_groups", distinct=True, help_text="ODCM group id(s)")
    ordering = Ordering("username", "email", "last_login", "date_joined")

    class Meta:
        model = User
        fields: list[str] = []

    def search_in(self, queryset: QuerySet[User], name: str, value: str) -> Any:
        return queryset.filter(
            Q(username__icontains=value)
            | Q(email__icontains=value)
            | Q(first_name__icontains=value)
            | Q(last_name__icontains=value)
        )


class TokenFilter(FilterSet):
    read_only = Flag()
    revoked = Flag(field_name="revoked_at", lookup_expr="isnull", exclude=True)
    ordering = Ordering("name", "created_at", "last_used_at", "expires_at")

    class Meta:
        model = ApiToken
        fields: list[str] = []
