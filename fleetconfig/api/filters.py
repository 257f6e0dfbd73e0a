"""Filters of /api/v1/config/plans/."""

from __future__ import annotations

from fleetconfig.models import Plan
from odcm.api.filters import Choices, FilterSet, Ordering


class PlanFilter(FilterSet):
    status = Choices(choices=Plan.Status.choices)
    ordering = Ordering("created_at", "applied_at")

    class Meta:
        model = Plan
        fields: list[str] = []
