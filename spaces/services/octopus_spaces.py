"""Spaces in Octopus: enlist or un-enlist one, create a blank one, delete one."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.http import HttpRequest

from audit.services import record
from identity import services as identity_services
from octopus import OctopusClient, OctopusError
from spaces import signals
from spaces.models import Instance, Space, StandardEnvironment
from spaces.services.errors import RegistryError, connected, from_octopus
from spaces.services.instances import _create_spaces
from spaces.services.projects import drop_projects

log = logging.getLogger(__name__)


def set_enlisted(
    space: Space, enlisted: bool, *, actor: Any = None, request: HttpRequest | None = None
) -> bool:
    """Enlist or un-enlist one space in ODCM (Octopus is not touched). False: no change."""
    if space.state == Space.State.GONE:
        raise RegistryError("gone", f"{space.name} no longer exists in Octopus.")
    wanted = Space.State.ENLISTED if enlisted else Space.State.NOT_ENLISTED
    if space.state == wanted:
        return False
    with transaction.atomic():
        before = space.state
        space.state = wanted
        space.save(update_fields=["state", "updated_at"])
        record(
            "space.enlist" if enlisted else "space.unenlist",
            actor=actor,
            request=request,
            obj=space,
            before={"state": before},
            after={"state": wanted},
        )
        if enlisted:
            signals.space_enlisted.send(sender=Space, space_id=space.pk)
        else:
            drop_projects([space.pk])
    return True


def forget_space(space: Space, *, actor: Any = None, request: HttpRequest | None = None) -> None:
    """Remove a space that is gone from Octopus from ODCM: its row, grants, subscriptions and
    history. Only a gone space can be forgotten (one that exists would come back at the next
    refresh); should it reappear in Octopus, the next refresh lists it anew."""
    if space.state != Space.State.GONE:
        raise RegistryError("not_gone", f"{space.name} still exists in Octopus: un-enlist it.")
    with transaction.atomic():
        record(
            "space.forget",
            actor=actor,
            request=request,
            obj=space,
            before={"state": space.state, "octopus_id": space.octopus_id},
            message=f"Forgot {space.octopus_id}, gone from Octopus.",
        )
        space.delete()


@dataclass
class Created:
    space: Space
    warnings: list[str] = field(default_factory=list)


def _octopus_call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except OctopusError as exc:
        raise from_octopus(exc) from None


def create_space(
    instance: Instance,
    *,
    name: str,
    description: str = "",
    manager_user_ids: Iterable[str] = (),
    manager_team_ids: Iterable[str] = (),
    groups: Iterable[Any] = (),
    stamp_environments: bool = False,
    setup: str = "",
    actor: Any = None,
    request: HttpRequest | None = None,
) -> Created:
    """Create a blank space on ``instance``, optionally with the standard environments,
    enlist it and mark it as created by ODCM. ``setup`` (one of ``signals.setup_options``,
    e.g. a blueprint) replaces the standard environments: the app that offered it sets the
    space up once it is enlisted. ``groups`` (ODCM groups) become its Space
    managers through grants. Octopus needs a manager: with no user or team given, the API
    key's own user is made one."""
    name = name.strip()
    if not name:
        raise RegistryError("invalid_name", "A name is required.")
    users, teams = list(manager_user_ids), list(manager_team_ids)
    warnings: list[str] = []
    if setup:
        stamp_environments = False  # the chosen setup says which environments there are
    with connected(instance) as client:
        if not users and not teams:
            users = [str(_octopus_call(client.get, "/api/users/me")["Id"])]
        body = {
            "Name": name,
            "Description": description,
            "IsDefault": False,
            "TaskQueueStopped": False,
            "SpaceManagersTeams": teams,
            "SpaceManagersTeamMembers": users,
        }
        doc = _octopus_call(client.post, "/api/spaces", body)
        if stamp_environments:
            warnings += _stamp(client, doc["Id"])
    with transaction.atomic():
        space = _create_spaces(instance, [doc], None)[0]
        space.created_by_odcm = True
        space.save(update_fields=["created_by_odcm"])
        record(
            "space.create",
            actor=actor,
            request=request,
            obj=space,
            after={
                "name": space.name,
                "octopus_id": space.octopus_id,
                "instance": instance.name,
                "environments": stamp_environments,
                "setup": setup,
                "manager_users": users,
                "manager_teams": teams,
            },
        )
        identity_services.grant_space_managers(space, groups, actor=actor, request=request)
        signals.space_enlisted.send(sender=Space, space_id=space.pk)
    if setup:
        # After the commit: the space is enlisted whatever the setup does.
        warnings += signals.set_up(space, setup, actor=actor)
    return Created(space, warnings)


def _stamp(client: OctopusClient, space_id: str) -> list[str]:
    warnings = []
    for env in StandardEnvironment.objects.all():
        try:
            client.post(
                f"/api/{space_id}/environments", {"Name": env.name, "Description": env.description}
            )
        except OctopusError as exc:
            warnings.append(f"Environment {env.name} was not created: {exc.message}")
    return warnings


def delete_space(
    space: Space, *, confirm_name: str, actor: Any = None, request: HttpRequest | None = None
) -> None:
    """Delete ``space`` in Octopus: stop its task queue, then delete it. The default space
    and the last space are refused. The row stays in ODCM, marked gone."""
    if confirm_name.strip() != space.name:
        raise RegistryError("confirm", "Type the space's name exactly to confirm the deletion.")
    with connected(space.instance) as client:
        path = f"/api/spaces/{space.octopus_id}"
        doc = _octopus_call(client.get, path)
        if doc.get("IsDefault"):
            raise RegistryError(
                "default_space",
                f"{space.name} is the default space of {space.instance.name}; Octopus cannot "
                "delete it. Make another space the default first.",
            )
        if _octopus_call(client.count, "/api/spaces") <= 1:
            raise RegistryError(
                "last_space",
                f"{space.name} is the last space on {space.instance.name}; Octopus needs at "
                "least one.",
            )
        was_stopped = bool(doc.get("TaskQueueStopped"))
        if not was_stopped:
            _octopus_call(client.put, path, {**doc, "TaskQueueStopped": True})
        try:
            client.delete(path)
        except OctopusError as exc:
            if not was_stopped:  # put the queue back as it was
                try:
                    client.put(path, {**doc, "TaskQueueStopped": False})
                except OctopusError:
                    log.warning("could not restart the task queue of %s", space.octopus_id)
            raise from_octopus(exc) from None
    with transaction.atomic():
        before = space.state
        space.state = Space.State.GONE
        space.task_queue_stopped = True
        space.save(update_fields=["state", "task_queue_stopped", "updated_at"])
        drop_projects([space.pk])
        record(
            "space.delete",
            actor=actor,
            request=request,
            obj=space,
            before={"state": before},
            after={"state": space.state},
            message=f"Deleted {space.octopus_id} in Octopus after stopping its task queue.",
        )


def octopus_people(instance: Instance) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The instance's users and system teams as (id, label) choices for the managers."""
    with connected(instance) as client:
        users = _octopus_call(client.get_all, "/api/users")
        teams = _octopus_call(client.get_all, "/api/teams")
    return (
        [(u["Id"], f"{u.get('DisplayName') or u['Username']} ({u['Username']})") for u in users],
        [(t["Id"], t["Name"]) for t in teams if not t.get("SpaceId")],
    )


def set_standard_environments(
    names: list[str], *, actor: Any = None, request: HttpRequest | None = None
) -> None:
    """Replace the standard set of environments (kept in ``names`` order)."""
    with transaction.atomic():
        before = list(StandardEnvironment.objects.values_list("name", flat=True))
        StandardEnvironment.objects.exclude(name__in=names).delete()
        for position, name in enumerate(names):
            StandardEnvironment.objects.update_or_create(name=name, defaults={"position": position})
        record(
            "spaces.standard_environments",
            actor=actor,
            request=request,
            before={"names": before},
            after={"names": names},
        )
