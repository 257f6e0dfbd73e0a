"""Promotion pipelines against octosim with a real worker delivering: a revision enters dev
only, and reaches each next stage only after it soaked cleanly in the one before."""

from __future__ import annotations

from typing import Any

import pytest

from rollouts.models import PipelineStage, StagePromotion
from rollouts.services import pipelines
from sharing.services import items

from .conftest import all_at, revisions, variables_v, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
SEL = PipelineStage.Selector


def _stage_state(pipeline: Any, position: int, revision: int) -> str:
    """Step the pipeline (what the beat does) and tell where ``revision`` is in the stage."""
    pipelines.tick()
    row = StagePromotion.objects.filter(
        stage__pipeline=pipeline, stage__position=position, revision=revision
    ).first()
    return row.state if row else ""


def test_a_revision_reaches_a_stage_only_after_the_one_before_soaked(
    fleet: dict[str, Any],
) -> None:
    item, subs, owner = fleet["item"], fleet["subs"], fleet["owner"]
    pipeline = pipelines.save_pipeline(
        "Release train",
        [
            {"name": "dev", "selector": SEL.TAG, "value": "canary", "soak_seconds": 1},
            {"name": "test", "selector": SEL.REGION, "value": "eu", "soak_seconds": 2},
            {"name": "prod", "selector": SEL.INSTANCES, "instances": [fleet["insts"]["rest"].pk]},
        ],
    )
    pipelines.attach(pipeline, "shared_item", item.pk)

    items.save_revision(item, variables_v(2))
    # Only dev receives it; test and prod keep revision 1, not even queued.
    assert revisions(subs["eu"]) == [(1, 1), (1, 1)]
    assert revisions(subs["rest"]) == [(1, 1), (1, 1)]
    with pytest.raises(pipelines.PipelineError) as refused:
        pipelines.promote(pipeline, "shared_item", item.pk, 2, 3, actor=owner)
    assert refused.value.code == "not_soaked"
    assert "test" in refused.value.message
    # dev has not soaked yet either (still delivering or soaking).
    with pytest.raises(pipelines.PipelineError):
        pipelines.promote(pipeline, "shared_item", item.pk, 2, 2, actor=owner)

    wait_for(lambda: all_at(subs["canary"], 2))
    wait_for(lambda: _stage_state(pipeline, 1, 2) == StagePromotion.State.DONE, timeout=60)
    pipelines.promote(pipeline, "shared_item", item.pk, 2, 2, actor=owner)
    # Stage 3 is still refused: stage 2 has the revision but has not soaked it.
    with pytest.raises(pipelines.PipelineError) as refused:
        pipelines.promote(pipeline, "shared_item", item.pk, 2, 3, actor=owner)
    assert refused.value.code == "not_soaked"
    assert revisions(subs["rest"]) == [(1, 1), (1, 1)]
    # Promoting twice into the same stage is refused too.
    with pytest.raises(pipelines.PipelineError) as again:
        pipelines.promote(pipeline, "shared_item", item.pk, 2, 2, actor=owner)
    assert again.value.code == "already_promoted"

    wait_for(lambda: all_at(subs["eu"], 2))
    wait_for(lambda: _stage_state(pipeline, 2, 2) == StagePromotion.State.DONE, timeout=60)
    pipelines.promote(pipeline, "shared_item", item.pk, 2, 3, actor=owner)
    wait_for(lambda: all_at(subs["rest"], 2))

    board = pipelines.board(pipeline, pipeline.subjects.all())
    assert [s["revision"] for s in board[0]["stages"]] == [2, 2, 2]


def test_a_failure_in_a_stage_keeps_the_revision_out_of_the_next(fleet: dict[str, Any]) -> None:
    item, subs, owner, sims = fleet["item"], fleet["subs"], fleet["owner"], fleet["sims"]
    pipeline = pipelines.save_pipeline(
        "Two stages",
        [
            {"name": "dev", "selector": SEL.TAG, "value": "canary", "soak_seconds": 1},
            {"name": "prod", "selector": SEL.REGION, "value": "eu", "soak_seconds": 1},
        ],
    )
    pipelines.attach(pipeline, "shared_item", item.pk)
    sims["canary"].set_faults(error_rate=1.0)
    items.save_revision(item, variables_v(2))
    wait_for(lambda: _stage_state(pipeline, 1, 2) == StagePromotion.State.FAILED, timeout=60)
    with pytest.raises(pipelines.PipelineError) as refused:
        pipelines.promote(pipeline, "shared_item", item.pk, 2, 2, actor=owner)
    assert "failed" in refused.value.message
    assert revisions(subs["eu"]) == [(1, 1), (1, 1)]
