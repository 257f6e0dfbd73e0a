"""Filters of /api/v1/audit/ (the page keeps its form in audit/filters.py)."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import Q, QuerySet

from audit.models import AuditEntry
from odcm.api.filters import FilterSet, Names, Ordering


class AuditEntryFilter(FilterSet):
    q = django_filters.CharFilter(method="search_in", help_text="In the object or the message")
    actor = django_filters.CharFilter(field_name="actor_label", lookup_expr="iexact")
    action = django_filters.CharFilter(lookup_expr="startswith", help_text="e.g. instance.")
    object_type = Names()
    since = django_filters.DateTimeFilter(field_name="at", lookup_expr="gte")
    until = django_filters.DateTimeFilter(field_name="at", lookup_expr="lte")
    ordering = Ordering("at", "action", "actor_label")

    class Meta:
        model = AuditEntry
        fields: list[str] = []

    def search_in(self, queryset: QuerySet[AuditEntry], name: str, value: str) -> Any:
        return queryset.filter(Q(object_label__icontains=value) | Q(message__icontains=value))
