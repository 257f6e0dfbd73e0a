"""The pipeline stages' allowed Octopus Server versions, handed to monitoring (which sits
below rollouts) through ``monitoring.version_rules``: for the instances of a stage that names
versions, the list replaces monitoring's single version pin. A stage without versions leaves
its instances' pins alone. An instance in several pipelines takes the first pipeline (by
name) and, in it, the first stage that covers it."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from monitoring.version_rules import Allowed
from rollouts.models import PipelineStage
from rollouts.services.pipelines import stage_instance_ids


def allowed_by_instance(instance_ids: Collection[Any] | None = None) -> dict[Any, Allowed]:
    """instance id -> the allowed versions of its stage (only instances of ``instance_ids``
    when given). One query, and one per stage that names versions."""
    wanted = None if instance_ids is None else set(instance_ids)
    found: dict[Any, Allowed] = {}
    stages = (
        PipelineStage.objects.exclude(allowed_versions=[])
        .select_related("pipeline")
        .prefetch_related("pipeline__stages")
        .order_by("pipeline__name", "position")
    )
    for stage in stages:
        # A space or instance in two stages of one pipeline belongs to the first.
        earlier = [s for s in stage.pipeline.stages.all() if s.position < stage.position]
        taken = set().union(*(stage_instance_ids(s) for s in earlier)) if earlier else set()
        source = f"pipeline {stage.pipeline.name}, stage {stage.name}"
        versions = tuple(str(v) for v in stage.allowed_versions if str(v).strip())
        for pk in stage_instance_ids(stage) - taken:
            if wanted is None or pk in wanted:
                found.setdefault(pk, Allowed(source, versions))
    return found
