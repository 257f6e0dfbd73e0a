"""Grants pushed into the teams of many spaces at once (odcm.fanout), against octosim."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction
from django.test import override_settings

from audit.models import AuditEntry
from identity import services
from identity.models import GrantTarget, Role, SyncState
from identity.services import teams
from tests.conftest import make_user
from tests.identity.conftest import enlist_sim, managed_teams


def writes(stats: dict[str, Any]) -> int:
    return sum(n for key, n in stats["by_path"].items() if not key.startswith("GET "))


@pytest.mark.django_db
@override_settings(ODCM_OCTOPUS_PER_INSTANCE_CONCURRENCY=2)
def test_a_push_to_many_spaces_overlaps_requests_within_the_per_instance_limit(
    make_sim_instance, make_group
):
    sims = [make_sim_instance(spaces=6), make_sim_instance(spaces=6)]
    insts = [enlist_sim(sim) for sim in sims]
    group = make_group("Everyone", [make_user("erin")])
    for inst in insts:
        services.grant(group, Role.VIEWER, instance=inst)
    for sim in sims:
        sim.set_faults(latency_ms=150)
        sim.reset_stats()

    left = teams.sync_spaces([sp.pk for inst in insts for sp in inst.spaces.all()])

    assert left == []
    for sim, inst in zip(sims, insts, strict=True):
        # Six spaces at once, yet never more than two requests at a time on one instance;
        # and two did overlap (the push is concurrent, not one space after another).
        assert sim.stats()["peak_in_flight"] == 2
        for sp in inst.spaces.all():
            (team,) = managed_teams(inst, sp.octopus_id)
            assert team["MemberUserIds"] == ["Users-7"]
    assert not GrantTarget.objects.exclude(state=SyncState.APPLIED).exists()


@pytest.mark.django_db
def test_pushing_the_same_spaces_again_writes_nothing(make_sim_instance, make_group):
    sim = make_sim_instance(spaces=4)
    inst = enlist_sim(sim)
    services.grant(make_group("Auditors", [make_user("erin")]), Role.VIEWER, instance=inst)
    spaces = [sp.pk for sp in inst.spaces.all()]
    teams.sync_spaces(spaces)
    sim.reset_stats()

    teams.sync_spaces(spaces)  # a duplicate message, or the periodic reconcile

    assert writes(sim.stats()) == 0
    for sp in inst.spaces.all():
        assert len(managed_teams(inst, sp.octopus_id)) == 1


@pytest.mark.django_db
@override_settings(ODCM_OCTOPUS_PER_INSTANCE_CONCURRENCY=2)
def test_grants_saved_together_are_pushed_as_one_fan_out_within_the_per_instance_limit(
    make_sim_instance, make_group, eager_celery, django_capture_on_commit_callbacks, caplog
):
    import identity.tasks  # noqa: F401 - registers the tasks in this process

    sims = [make_sim_instance(spaces=4) for _ in range(3)]
    insts = [enlist_sim(sim) for sim in sims]
    group = make_group("Everyone", [make_user("erin")])
    for sim in sims:
        sim.set_faults(latency_ms=100)
    caplog.set_level("INFO", logger="identity.services.teams")

    # Three grants in one transaction (a bench, a script, a rule): one push of their twelve
    # spaces, every instance at once, not three tasks queued one behind the other.
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        for inst in insts:
            services.grant(group, Role.VIEWER, instance=inst)

    pushes = [r.getMessage() for r in caplog.records if r.getMessage().startswith("team sync:")]
    assert len(pushes) == 1, pushes
    assert pushes[0].startswith("team sync: 12 spaces, 12 teams, 0 failed")
    for sim, inst in zip(sims, insts, strict=True):
        assert sim.stats()["peak_in_flight"] == 2
        for sp in inst.spaces.all():
            (team,) = managed_teams(inst, sp.octopus_id)
            assert team["MemberUserIds"] == ["Users-7"]
    assert not GrantTarget.objects.exclude(state=SyncState.APPLIED).exists()
    assert AuditEntry.objects.filter(action="octopus_team.apply").count() == 12
