"""Two beat schedulers and three workers advancing one rollout: no wave starts twice."""

from __future__ import annotations

import sys
from collections import Counter

import pytest

from audit.models import AuditEntry
from rollouts.models import Rollout
from sharing.models import Delivery
from sharing.services import items

from .conftest import FAST, all_at, three_waves, variables_v, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_two_beats_and_three_workers_start_each_wave_once(
    fleet, start_celery_worker, start_process, tmp_path
):
    # fleet's worker is the first; two more, then two beats ticking every second.
    for n in range(2):
        start_celery_worker(concurrency=1, name=f"extra-{n}", **FAST)
    for n in range(2):
        start_process(
            [
                sys.executable, "-m", "celery", "-A", "odcm", "beat", "--loglevel=INFO",
                "--schedule", str(tmp_path / f"beat-{n}"),
            ],
            name=f"beat-{n}",
            ODCM_ROLLOUTS_TICK_SECONDS="1",
        )  # fmt: skip
    item, subs = fleet["item"], fleet["subs"]
    three_waves(item, soak_seconds=2)
    items.save_revision(item, variables_v(2))
    rollout = Rollout.objects.get(subject_id=item.pk, revision=2)

    def completed() -> bool:
        rollout.refresh_from_db()
        return rollout.state == Rollout.State.COMPLETED

    wait_for(completed, timeout=120, every=0.5)
    assert all_at([s for group in subs.values() for s in group], 2)
    starts = AuditEntry.objects.filter(action="rollouts.wave.start", object_id=str(rollout.pk))
    assert sorted(e.changes["after"]["wave"] for e in starts) == [1, 2, 3]
    assert set(rollout.waves.values_list("state", flat=True)) == {"done"}
    pushed = Counter(
        Delivery.objects.filter(revision=2, subscription__item=item).values_list(
            "subscription_id", flat=True
        )
    )
    assert len(pushed) == 6 and set(pushed.values()) == {1}, pushed
