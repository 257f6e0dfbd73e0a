"""Refresh after changes made in Octopus; enlist/un-enlist one space; create and delete
spaces under Octopus's rules."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from audit.models import AuditEntry
from identity import services as identity_services
from identity.models import Grant, Role, User
from octosim.testing import SimInstance
from spaces import services
from spaces.models import Instance, Space, StandardEnvironment
from spaces.services import RegistryError
from tests.spaces.octo import add_space, api, remove_space, rename_space, space_doc

pytestmark = pytest.mark.django_db


def test_refresh_shows_new_renamed_and_gone_spaces(
    sim_instance: SimInstance, enlisted: Instance, admin_user: User
) -> None:
    new = add_space(sim_instance, "Checkout")
    rename_space(sim_instance, "Spaces-2", "Renamed in Octopus")
    remove_space(sim_instance, "Spaces-3")
    result = services.refresh_instance(enlisted, actor=admin_user)
    assert result.added == ["Checkout"]
    assert len(result.renamed) == 1 and result.renamed[0].endswith("-> Renamed in Octopus")
    assert len(result.gone) == 1
    states = dict(enlisted.spaces.values_list("octopus_id", "state"))
    assert states[new["Id"]] == Space.State.ENLISTED
    assert states["Spaces-3"] == Space.State.GONE  # kept, not dropped
    assert enlisted.spaces.get(octopus_id="Spaces-2").name == "Renamed in Octopus"
    assert AuditEntry.objects.filter(action="instance.refresh").count() == 1
    # A second refresh finds nothing to do and writes nothing.
    again = services.refresh_instance(enlisted)
    assert not again.changed
    assert AuditEntry.objects.filter(action="instance.refresh").count() == 1


def test_new_spaces_are_only_listed_when_the_instance_says_so(
    sim_instance: SimInstance, enlisted: Instance
) -> None:
    services.update_instance(enlisted, enlist_new_spaces=False)
    new = add_space(sim_instance, "Later")
    services.refresh_instance(enlisted)
    assert enlisted.spaces.get(octopus_id=new["Id"]).state == Space.State.NOT_ENLISTED


def test_refresh_refuses_a_different_installation_behind_the_url(
    sim_instance: SimInstance, enlisted: Instance
) -> None:
    Instance.objects.filter(pk=enlisted.pk).update(installation_id="another-installation")
    enlisted.refresh_from_db()
    with pytest.raises(RegistryError) as caught:
        services.refresh_instance(enlisted)
    assert caught.value.code == "installation_changed"


def test_unenlisting_a_space_never_touches_octopus(
    sim_instance: SimInstance, enlisted: Instance, admin_user: User
) -> None:
    space = enlisted.spaces.get(octopus_id="Spaces-2")
    sim_instance.reset_stats()
    assert services.set_enlisted(space, False, actor=admin_user)
    assert not services.set_enlisted(space, False, actor=admin_user)
    space.refresh_from_db()
    assert space.state == Space.State.NOT_ENLISTED
    assert sim_instance.stats()["total"] == 0
    assert space_doc(sim_instance, "Spaces-2").status_code == 200
    assert services.set_enlisted(space, True, actor=admin_user)
    assert AuditEntry.objects.filter(action__in=["space.enlist", "space.unenlist"]).count() == 2


def test_create_space_with_standard_environments_and_group_managers(
    sim_instance: SimInstance, enlisted: Instance, admin_user: User
) -> None:
    StandardEnvironment.objects.all().delete()
    for position, name in enumerate(["Dev", "Staging", "Live"]):
        StandardEnvironment.objects.create(name=name, position=position)
    group = identity_services.create_group(name="Platform")
    created = services.create_space(
        enlisted, name="Team Rocket", description="Made by ODCM", stamp_environments=True,
        groups=[group], actor=admin_user,
    )  # fmt: skip
    space = created.space
    assert created.warnings == []
    assert space.created_by_odcm and space.state == Space.State.ENLISTED
    truth = sim_instance.truth()["spaces"][space.octopus_id]
    assert truth["name"] == "Team Rocket"
    assert truth["environment_names"] == ["Dev", "Staging", "Live"]
    doc = space_doc(sim_instance, space.octopus_id).json()
    assert doc["SpaceManagersTeamMembers"] == ["Users-1"]  # the key's user, as none was given
    assert Grant.objects.filter(group=group, space=space, role=Role.MANAGER).exists()
    assert AuditEntry.objects.filter(action="space.create", object_id=str(space.pk)).exists()


def test_create_space_reports_octopus_rules(sim_instance: SimInstance, enlisted: Instance) -> None:
    with pytest.raises(RegistryError) as caught:
        services.create_space(enlisted, name="Default")  # the name is taken in Octopus
    assert "already in use" in caught.value.message
    with pytest.raises(RegistryError) as caught:
        services.create_space(enlisted, name="Ghost", manager_user_ids=["Users-999"])
    assert "Users-999" in caught.value.message
    assert enlisted.spaces.count() == 3


def test_delete_space_stops_the_task_queue_then_deletes(
    sim_instance: SimInstance, enlisted: Instance, admin_user: User
) -> None:
    space = enlisted.spaces.get(octopus_id="Spaces-2")
    with pytest.raises(RegistryError) as caught:
        services.delete_space(space, confirm_name="wrong", actor=admin_user)
    assert caught.value.code == "confirm"
    services.delete_space(space, confirm_name=space.name, actor=admin_user)
    assert space_doc(sim_instance, "Spaces-2").status_code == 404
    space.refresh_from_db()
    assert space.state == Space.State.GONE and space.task_queue_stopped
    paths = sim_instance.stats()["by_path"]
    assert paths.get("PUT /api/spaces/Spaces-2") == 1
    assert paths.get("DELETE /api/spaces/Spaces-2") == 1


def test_default_and_last_space_are_refused(
    make_sim_instance: Callable[..., SimInstance], enlist: Callable[..., Instance]
) -> None:
    sim = make_sim_instance(spaces=2)
    inst = enlist(sim)
    default = inst.spaces.get(is_default=True)
    with pytest.raises(RegistryError) as caught:
        services.delete_space(default, confirm_name=default.name)
    assert caught.value.code == "default_space" and "default" in caught.value.message
    with api(sim) as client:  # make the other space default, then try the last one
        doc = client.get("/api/spaces/Spaces-2").json()
        client.put("/api/spaces/Spaces-2", json={**doc, "IsDefault": True}).raise_for_status()
    services.delete_space(default, confirm_name=default.name)
    services.refresh_instance(inst)
    last = inst.spaces.get(octopus_id="Spaces-2")
    assert last.is_default
    with api(sim) as client:
        doc = client.get("/api/spaces/Spaces-2").json()
        client.put("/api/spaces/Spaces-2", json={**doc, "IsDefault": False}).raise_for_status()
    with pytest.raises(RegistryError) as caught:
        services.delete_space(last, confirm_name=last.name)
    assert caught.value.code == "last_space"
    assert space_doc(sim, "Spaces-2").json()["TaskQueueStopped"] is False


def test_rotating_the_key_tests_it_first(
    sim_instance: SimInstance, enlisted: Instance, admin_user: User
) -> None:
    from odcm.crypto import unseal

    for bad, code in (("API-NOTAVALIDKEY000000000", "wrong_api_key"),
                      (sim_instance.read_only_api_key, "insufficient_permission")):  # fmt: skip
        with pytest.raises(RegistryError) as caught:
            services.rotate_api_key(enlisted, bad, actor=admin_user)
        assert caught.value.code == code
        enlisted.refresh_from_db()
        assert unseal(enlisted, "api_key") == sim_instance.api_key
    services.rotate_api_key(enlisted, sim_instance.api_key, actor=admin_user)
    assert AuditEntry.objects.filter(action="instance.rotate_key").count() == 1


def test_refresh_task_runs_the_service(sim_instance: SimInstance, enlisted: Instance) -> None:
    from spaces.tasks import refresh_instance

    add_space(sim_instance, "From the task")
    assert refresh_instance.run(str(enlisted.pk)) == "1 added"
    assert refresh_instance.run("00000000-0000-0000-0000-000000000000") == "gone"
    sim_instance.set_faults(offline="refuse")
    assert refresh_instance.run(str(enlisted.pk)) == "failed: unreachable"
