"""The instances console's filters (django-filter): search, status, version, region, tag,
off its pin, failing alert deliveries. A bad value is a form error naming the field."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import Q, QuerySet

from monitoring.services import console
from spaces.models import Instance, Tag


class InstanceConsoleFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    status = django_filters.MultipleChoiceFilter(choices=Instance.Status.choices)
    version = django_filters.CharFilter(field_name="version", label="Version")
    region = django_filters.CharFilter(field_name="region", label="Region")
    tag = django_filters.ModelChoiceFilter(
        field_name="tags", to_field_name="name", queryset=Tag.objects.all(), label="Tag"
    )
    off_pin = django_filters.BooleanFilter(method="filter_off_pin", label="Off its version pin")
    delivery = django_filters.ChoiceFilter(
        choices=[("failing", "Failing alert deliveries")],
        method="filter_delivery",
        label="Alert deliveries",
    )

    class Meta:
        model = Instance
        fields: list[str] = []

    def search(self, qs: QuerySet[Instance], name: str, value: str) -> QuerySet[Instance]:
        text = value.replace("\x00", "").strip()[:200]
        if not text:
            return qs
        return qs.filter(
            Q(name__icontains=text)
            | Q(base_url__icontains=text)
            | Q(region__icontains=text)
            | Q(description__icontains=text)
            | Q(tags__name__iexact=text)
        ).distinct()

    def filter_off_pin(self, qs: QuerySet[Instance], name: str, value: Any) -> QuerySet[Instance]:
        if value is None:
            return qs
        return (
            qs.filter(console.off_pin_instances())
            if value
            else qs.exclude(console.off_pin_instances())
        )

    def filter_delivery(self, qs: QuerySet[Instance], name: str, value: str) -> QuerySet[Instance]:
        return qs.filter(console.failing_delivery_instances()) if value else qs
