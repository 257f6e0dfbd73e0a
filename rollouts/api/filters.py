"""Filters of /api/v1/rollouts/."""

from __future__ import annotations

from odcm.api.filters import Choices, FilterSet, Ordering, UUIDs
from rollouts.models import DeploymentRun, Rollout


class RolloutFilter(FilterSet):
    state = Choices(choices=Rollout.State.choices)
    subject = UUIDs(field_name="subject_id", help_text="Subject id(s) (a shared item)")
    ordering = Ordering("created_at", "updated_at", "state", "revision")

    class Meta:
        model = Rollout
        fields: list[str] = []


class RunFilter(FilterSet):
    state = Choices(choices=DeploymentRun.State.choices)
    ordering = Ordering("created_at", "finished_at", "state", "project")

    class Meta:
        model = DeploymentRun
        fields: list[str] = []
