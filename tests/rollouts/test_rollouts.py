"""Staged rollouts of shared items against octosim with real workers."""

from __future__ import annotations

from typing import Any

import pytest

from rollouts.models import Rollout
from rollouts.services import actions, engine
from sharing.models import Delivery
from sharing.services import items

from .conftest import all_at, revisions, three_waves, variables_v, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def drive(rollout: Rollout, until: Any, timeout: float = 60.0) -> None:
    """Advance as beat would, until ``until(rollout)`` holds."""

    def step() -> bool:
        engine.advance(rollout.pk)
        rollout.refresh_from_db()
        return bool(until(rollout))

    try:
        wait_for(step, timeout=timeout, every=0.3)
    except AssertionError:
        targets = list(rollout.targets.values_list("wave__position", "state"))
        raise AssertionError(
            f"{rollout.state}: {rollout.reason} {waves(rollout)} {targets}"
        ) from None


def waves(rollout: Rollout) -> list[str]:
    return list(rollout.waves.order_by("position").values_list("state", flat=True))


def test_failures_in_wave_two_halt_it_and_leave_wave_three_untouched_until_resumed(fleet):
    item, subs, sims = fleet["item"], fleet["subs"], fleet["sims"]
    three_waves(item)
    sims["eu"].set_faults(error_rate=1.0)
    items.save_revision(item, variables_v(2))
    rollout = Rollout.objects.get(subject_id=item.pk, revision=2)
    assert [w.name for w in rollout.waves.order_by("position")] == [
        "Canary",
        "Europe",
        "Everyone else",
    ]
    drive(rollout, lambda r: r.state == Rollout.State.HALTED)
    assert waves(rollout) == ["done", "halted", "waiting"]
    assert all_at(subs["canary"], 2)
    assert revisions(subs["rest"]) == [(1, 1), (1, 1)]  # wave 3 never queued
    assert not Delivery.objects.filter(subscription__in=subs["rest"], revision=2).exists()
    assert "failed" in rollout.reason
    mail = wait_for(lambda: fleet["smtp"].sink.by_recipient().get("owner@example.com"))
    assert "halted" in str(mail[0]["Subject"])

    sims["eu"].clear_faults()
    actions.resume(rollout)
    drive(rollout, lambda r: r.state == Rollout.State.COMPLETED)
    assert waves(rollout) == ["done", "done", "done"]
    assert all_at([s for group in subs.values() for s in group], 2)
