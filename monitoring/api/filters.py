"""Filters of an instance's status history."""

from __future__ import annotations

import django_filters

from monitoring.models import StatusFlip
from odcm.api.filters import Choices, FilterSet
from spaces.models import Instance


class StatusFlipFilter(FilterSet):
    since = django_filters.DateTimeFilter(field_name="at", lookup_expr="gte")
    until = django_filters.DateTimeFilter(field_name="at", lookup_expr="lte")
    to_status = Choices(choices=Instance.Status.choices)

    class Meta:
        model = StatusFlip
        fields: list[str] = []
