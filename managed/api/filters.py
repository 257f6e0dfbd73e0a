"""Filters of /api/v1/managed/blueprints and /targets."""

from __future__ import annotations

import django_filters

from managed.models import BaselineTarget, Blueprint, BlueprintTarget, InstanceBaseline
from odcm.api.filters import Choices, FilterSet, Ordering, UUIDs


class BlueprintFilter(FilterSet):
    search = django_filters.CharFilter(field_name="name", lookup_expr="icontains")
    ordering = Ordering("name", "latest_revision", "created_at", "updated_at")

    class Meta:
        model = Blueprint
        fields: list[str] = []


class TargetFilter(FilterSet):
    blueprint = UUIDs(help_text="Blueprint id(s)")
    space = UUIDs(help_text="Space id(s)")
    status = Choices(choices=BlueprintTarget.Status.choices)
    ordering = Ordering("space__name", "status", "applied_at", "created_at")

    class Meta:
        model = BlueprintTarget
        fields: list[str] = []


class BaselineFilter(FilterSet):
    search = django_filters.CharFilter(field_name="name", lookup_expr="icontains")
    ordering = Ordering("name", "latest_revision", "created_at", "updated_at")

    class Meta:
        model = InstanceBaseline
        fields: list[str] = []


class BaselineTargetFilter(FilterSet):
    baseline = UUIDs(help_text="Baseline id(s)")
    instance = UUIDs(help_text="Instance id(s)")
    status = Choices(choices=BaselineTarget.Status.choices)
    ordering = Ordering("instance__name", "status", "applied_at", "created_at")

    class Meta:
        model = BaselineTarget
        fields: list[str] = []
