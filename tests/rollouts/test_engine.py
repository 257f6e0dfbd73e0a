"""The engine's rules on rows alone (the deliveries it queues are only queued here; where each
subscription stands is written the way a worker's delivery writes it)."""

from __future__ import annotations

import pytest

from rollouts.models import Rollout, RolloutTarget
from rollouts.services import actions, engine
from sharing.models import Subscription
from sharing.services import items

from .conftest import variables_v
from .test_api import item  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db


def _deliver(sub_ids: list, revision: int, *, fail: bool = False) -> None:
    if fail:
        Subscription.objects.filter(pk__in=sub_ids).update(
            status="failed", target_revision=revision
        )
    else:
        Subscription.objects.filter(pk__in=sub_ids).update(
            status="in_sync", delivered_revision=revision, target_revision=revision
        )


def test_a_failure_within_the_limit_is_left_out_and_the_next_wave_starts(item):  # noqa: F811
    actions.save_policy(
        "shared_item",
        item.pk,
        [{"selector": "percent", "percent": 50}],
        max_failures=1,
        soak_seconds=0,
    )
    items.save_revision(item, variables_v(2))
    rollout = Rollout.objects.get()
    first = list(rollout.targets.filter(wave__position=1).values_list("key", flat=True))
    assert len(first) == 2
    _deliver(first[:1], 2)
    _deliver(first[1:], 2, fail=True)
    assert engine.advance(rollout.pk) == "soaking"
    assert rollout.targets.get(key=first[1]).state == RolloutTarget.State.SKIPPED
    assert engine.advance(rollout.pk) == "started"
    assert list(rollout.waves.values_list("state", flat=True)) == ["done", "delivering"]
    second = rollout.targets.filter(wave__position=2).values_list("key", flat=True)
    assert set(
        Subscription.objects.filter(pk__in=second).values_list("target_revision", flat=True)
    ) == {2}


def test_two_failures_over_a_limit_of_one_halt_and_the_next_wave_keeps_its_revision(item):  # noqa: F811
    actions.save_policy(
        "shared_item", item.pk, [{"selector": "percent", "percent": 50}], max_failures=1
    )
    items.save_revision(item, variables_v(2))
    rollout = Rollout.objects.get()
    first = list(rollout.targets.filter(wave__position=1).values_list("key", flat=True))
    _deliver(first, 2, fail=True)
    assert engine.advance(rollout.pk) == "halted"
    second = rollout.targets.filter(wave__position=2).values_list("key", flat=True)
    assert set(
        Subscription.objects.filter(pk__in=second).values_list("target_revision", flat=True)
    ) == {1}
    assert engine.advance(rollout.pk) == "busy"  # halted: not advanced until resumed
