"""Staged rollouts of shared items against octosim with real workers."""

from __future__ import annotations

from typing import Any

import pytest

from rollouts.models import Rollout, RolloutTarget
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


def test_an_instance_going_offline_while_its_wave_soaks_halts_the_rollout(fleet):
    from monitoring.services.status import sweep_status

    item, subs, sims = fleet["item"], fleet["subs"], fleet["sims"]
    three_waves(item, soak_seconds=600)
    items.save_revision(item, variables_v(2))
    rollout = Rollout.objects.get(subject_id=item.pk, revision=2)
    drive(rollout, lambda r: waves(r)[0] == "soaking")
    sims["canary"].set_faults(offline="refuse")

    def offline() -> bool:
        sweep_status(force=True)  # what beat runs; offline after ODCM_OFFLINE_AFTER misses
        fleet["insts"]["canary"].refresh_from_db()
        return fleet["insts"]["canary"].status == "offline"

    wait_for(offline, timeout=60, every=0.5)
    drive(rollout, lambda r: r.state == Rollout.State.HALTED)
    assert "offline" in rollout.reason
    assert waves(rollout) == ["halted", "waiting", "waiting"]
    assert revisions(subs["eu"]) == [(1, 1), (1, 1)]


def test_rollback_sends_the_previous_revision_to_the_waves_already_done(fleet):
    item, subs = fleet["item"], fleet["subs"]
    three_waves(item, soak_seconds=600)
    items.save_revision(item, variables_v(2))
    rollout = Rollout.objects.get(subject_id=item.pk, revision=2)
    drive(rollout, lambda r: waves(r)[0] == "soaking")
    assert all_at(subs["canary"], 2)
    count = actions.roll_back(rollout)
    assert count == 2
    drive(rollout, lambda r: r.state == Rollout.State.ROLLED_BACK)
    assert all_at(subs["canary"], 1)
    assert revisions(subs["eu"]) == [(1, 1), (1, 1)]
    assert set(rollout.targets.filter(wave__position=1).values_list("state", flat=True)) == {
        RolloutTarget.State.ROLLED_BACK
    }


def test_approval_by_the_named_group_lets_the_next_wave_start(
    fleet, api_client, token_for, outsider, member
):
    from identity.models import Group

    group = Group.objects.create(name="Release board", slug="release-board")
    group.members.add(member)
    item, subs = fleet["item"], fleet["subs"]
    three_waves(item, approval_group=group)
    items.save_revision(item, variables_v(2))
    rollout = Rollout.objects.get(subject_id=item.pk, revision=2)
    drive(rollout, lambda r: r.state == Rollout.State.WAITING_APPROVAL)
    assert waves(rollout) == ["done", "waiting", "waiting"]
    assert revisions(subs["eu"]) == [(1, 1), (1, 1)]
    owner = fleet["owner"]  # manages the item, but is not in the group
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(owner)}")
    url = f"/api/v1/rollouts/{rollout.pk}/approve/"
    assert api_client.post(url).status_code == 403
    group.members.add(outsider)  # in the group, but cannot see the item: 404
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(outsider)}")
    assert api_client.post(url).status_code == 404
    item.publisher.instance.owners.add(member)  # the member sees the item
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(member)}")
    answer = api_client.post(url)
    assert answer.status_code == 200, answer.json()
    assert answer.json()["waves"][1]["approved_by"] == member.username
    drive(rollout, lambda r: r.state == Rollout.State.WAITING_APPROVAL and waves(r)[1] == "done")
    assert all_at(subs["eu"], 2)
