"""The inventory sweep stores each enlisted space's projects (for finding them by name),
read from octosim over HTTP, and follows what changes in Octopus."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from monitoring.services import inventory
from octosim.testing import SimInstance
from spaces import services
from spaces.models import Instance, Project, Space
from tests.spaces.octo import api, remove_space

pytestmark = pytest.mark.django_db


def octopus_projects(sim: SimInstance, space_id: str) -> dict[str, tuple[str, str, str, bool]]:
    """What Octopus lists for a space: id -> (name, slug, group name, disabled)."""
    with api(sim) as client:
        projects = client.get(f"/api/{space_id}/projects/all").json()
        groups = client.get(f"/api/{space_id}/projectgroups/all").json()
    names = {g["Id"]: g["Name"] for g in groups}
    return {
        p["Id"]: (p["Name"], p["Slug"], names[p["ProjectGroupId"]], p["IsDisabled"])
        for p in projects
    }  # fmt: skip


def stored(space: Space) -> dict[str, tuple[str, str, str, bool]]:
    return {
        p.octopus_id: (p.name, p.slug, p.group_name, p.is_disabled)
        for p in Project.objects.filter(space=space)
    }


def test_inventory_stores_every_project_of_each_enlisted_space_as_octopus_lists_it(
    sim_instance: SimInstance, enlist: Callable[..., Instance]
) -> None:
    instance = enlist(sim_instance)
    summary = inventory.sweep_inventory(force=True)
    assert summary == {"spaces": 3, "updated": 3, "errors": 0}
    spaces = list(Space.objects.filter(instance=instance))
    assert len(spaces) == 3
    for space in spaces:
        truth = octopus_projects(sim_instance, space.octopus_id)
        assert truth, "octosim seeds projects in every space"
        assert stored(space) == truth
        assert space.project_count == len(truth)
    # A second sweep of an unchanged space rewrites nothing: the rows keep their ids.
    before = dict(Project.objects.values_list("octopus_id", "pk"))
    inventory.sweep_inventory(force=True)
    assert dict(Project.objects.values_list("octopus_id", "pk")) == before


def test_renamed_added_and_deleted_projects_follow_at_the_next_refresh(
    sim_instance: SimInstance, enlist: Callable[..., Instance]
) -> None:
    instance = enlist(sim_instance)
    inventory.sweep_inventory(force=True)
    space = Space.objects.filter(instance=instance).order_by("octopus_id").first()
    assert space is not None
    sid = space.octopus_id
    with api(sim_instance) as client:
        projects = client.get(f"/api/{sid}/projects/all").json()
        assert len(projects) >= 2
        renamed, deleted = projects[0], projects[1]
        client.put(
            f"/api/{sid}/projects/{renamed['Id']}",
            json={**renamed, "Name": "Quarterly Ledger Renamed", "IsDisabled": True},
        ).raise_for_status()
        client.delete(f"/api/{sid}/projects/{deleted['Id']}").raise_for_status()
        added = client.post(
            f"/api/{sid}/projects",
            json={
                "Name": "Brand New Checkout",
                "ProjectGroupId": renamed["ProjectGroupId"],
                "LifecycleId": renamed["LifecycleId"],
            },
        )
        added.raise_for_status()
    inventory.sweep_inventory(force=True)
    space.refresh_from_db()
    rows = stored(space)
    assert rows == octopus_projects(sim_instance, sid)
    assert rows[renamed["Id"]][0] == "Quarterly Ledger Renamed" and rows[renamed["Id"]][3]
    assert deleted["Id"] not in rows
    assert rows[added.json()["Id"]][0] == "Brand New Checkout"
    assert space.project_count == len(rows)


def test_a_space_gone_from_octopus_or_unenlisted_keeps_no_projects(
    sim_instance: SimInstance, enlist: Callable[..., Instance], admin_user: Any
) -> None:
    instance = enlist(sim_instance)
    inventory.sweep_inventory(force=True)
    first, second, third = Space.objects.filter(instance=instance).order_by("octopus_id")
    assert all(Project.objects.filter(space=s).exists() for s in (first, second, third))
    remove_space(sim_instance, second.octopus_id)
    services.refresh_instance(instance, actor=admin_user)
    services.set_enlisted(third, False, actor=admin_user)
    assert Space.objects.get(pk=second.pk).state == Space.State.GONE
    assert not Project.objects.filter(space__in=[second, third]).exists()
    assert Project.objects.filter(space=first).exists()
    # The next sweep reads enlisted spaces only: nothing comes back for the other two.
    inventory.sweep_inventory(force=True)
    assert set(Project.objects.values_list("space_id", flat=True)) == {first.pk}


def test_a_space_that_cannot_be_read_keeps_the_projects_it_had(
    sim_instance: SimInstance, enlist: Callable[..., Instance]
) -> None:
    instance = enlist(sim_instance)
    inventory.sweep_inventory(force=True)
    before = sorted(Project.objects.filter(space__instance=instance).values_list("pk", "name"))
    assert before
    sim_instance.set_faults(error_rate=1.0)
    try:
        summary = inventory.sweep_inventory(force=True)
    finally:
        sim_instance.clear_faults()
    assert summary is not None and summary["errors"] == 3
    assert sorted(Project.objects.filter(space__instance=instance).values_list("pk", "name")) == (
        before
    )
