"""Filters of /api/v1/instances, /spaces and /favourites."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import Q, QuerySet

from odcm.api.filters import Choices, FilterSet, Names, Ordering, UUIDs
from spaces.models import Favourite, Instance, Project, Space
from spaces.services import search_filter


class InstanceFilter(FilterSet):
    status = Choices(choices=Instance.Status.choices, help_text="offline, or offline,unhealthy…")
    region = Names()
    version = Names()
    tag = Names(field_name="tags__name", distinct=True)
    search = django_filters.CharFilter(method="search_in", help_text="Name, region or tag")
    ordering = Ordering("name", "status", "region", "version", "status_since", "last_seen_at")

    class Meta:
        model = Instance
        fields: list[str] = []

    def search_in(self, queryset: QuerySet[Instance], name: str, value: str) -> Any:
        found = Instance.objects.filter(
            Q(name__icontains=value) | Q(region__icontains=value) | Q(tags__name__icontains=value)
        )
        return queryset.filter(pk__in=found.values("pk"))


class SpaceFilter(FilterSet):
    instance = UUIDs(help_text="Instance id(s)")
    state = Choices(choices=Space.State.choices)
    tag = Names(field_name="instance__tags__name", distinct=True, help_text="Instance tag")
    search = django_filters.CharFilter(
        method="search_in", help_text="Space, instance, region or tag"
    )
    project = django_filters.CharFilter(
        method="with_project",
        max_length=100,
        help_text="Spaces with a project whose name contains this (case-insensitive), as the "
        "inventory sweep last read it",
    )
    ordering = Ordering(
        "name", "instance__name", "state", "project_count", "target_count", "created_at"
    )

    class Meta:
        model = Space
        fields: list[str] = []

    def search_in(self, queryset: QuerySet[Space], name: str, value: str) -> Any:
        return queryset.filter(pk__in=Space.objects.filter(search_filter(value)).values("pk"))

    def with_project(self, queryset: QuerySet[Space], name: str, value: str) -> Any:
        found = Project.objects.filter(name__icontains=value.strip()).values("space_id")
        return queryset.filter(pk__in=found)


class FavouriteFilter(FilterSet):
    instance = UUIDs(field_name="space__instance", help_text="Instance id(s)")
    ordering = Ordering("space__name", "created_at")

    class Meta:
        model = Favourite
        fields: list[str] = []
