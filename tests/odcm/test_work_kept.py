"""Leases kept alive while a run lasts (odcm.work.kept), short once nobody keeps them.

Found by tests/chaos: a worker killed during a periodic run (or whose database restarted)
left the job's lease for the task's whole time limit: 30 minutes without deployment pulls,
4.5 without status sweeps, 5 without team pushes for the spaces it held.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from identity.models import TeamSync
from identity.services import teams
from monitoring.models import SweepRun
from monitoring.services import status
from odcm import work
from spaces.models import Instance, Space

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("job", ["status", "inventory", "deployments"])
def test_a_run_whose_worker_died_frees_its_job_within_a_minute(job: str) -> None:
    lease = status.claim_run(job, interval=10)
    assert lease is not None
    # The worker dies here: nobody releases or renews the lease.
    run = SweepRun.objects.get(name=job)
    assert run.claimed_until is not None
    assert run.claimed_until <= timezone.now() + timedelta(seconds=61)


def test_a_team_push_holds_its_spaces_for_15_seconds_unless_renewed() -> None:
    inst = Instance.objects.create(name="lease", slug="lease", base_url="https://lease.example")
    space = Space.objects.create(instance=inst, octopus_id="Spaces-1", name="One", slug="one")

    with teams._space_locks([str(space.pk)]) as claimed:
        # The worker dies here: what it holds comes free within 15 s, not a minute.
        assert claimed == [str(space.pk)]
        held = TeamSync.objects.get(space=space).claimed_until
        assert held is not None
        assert held <= timezone.now() + timedelta(seconds=15)


def test_a_kept_lease_is_renewed_while_the_block_runs_and_released_after() -> None:
    SweepRun.objects.create(name="kept")
    rows = SweepRun.objects.all()
    lease = work.claim(rows, "kept", seconds=2)
    assert lease is not None
    first_end = lease.until

    with work.kept(rows, [lease], seconds=2):
        deadline = time.monotonic() + 30
        while SweepRun.objects.get(name="kept").claimed_until <= first_end:  # type: ignore[operator]
            assert time.monotonic() < deadline, "the lease was never renewed"
            time.sleep(0.1)
    assert work.release(rows, lease)
    after = SweepRun.objects.get(name="kept")
    assert (after.claim_token, after.claimed_until) == (None, None)


def test_a_kept_lease_taken_over_by_another_worker_is_not_renewed() -> None:
    SweepRun.objects.create(name="lost")
    rows = SweepRun.objects.all()
    lease = work.claim(rows, "lost", seconds=1)
    assert lease is not None
    # Another worker took the row over (our lease had run out).
    SweepRun.objects.filter(name="lost").update(claimed_until=timezone.now() - timedelta(seconds=1))
    theirs = work.claim(rows, "lost", seconds=300)
    assert theirs is not None

    with work.kept(rows, [lease], seconds=0.4):
        time.sleep(0.5)  # at least one renewal went by: it must not touch the other's lease
    row = SweepRun.objects.get(name="lost")
    assert (row.claim_token, row.claimed_until) == (theirs.token, theirs.until)
