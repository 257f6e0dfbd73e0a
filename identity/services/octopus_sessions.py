"""Ending a person's Octopus sessions when they lose access (a revoked grant, leaving a group
with grants, deactivation), where the Octopus API allows it.

Octopus keeps a person's teams from their last sign-in until their session ends, so a revoke
only bites at their next sign-in. Octopus 2022.1 and later offer ``RevokeSessions`` on a user
(``PUT`` the user's ``RevokeSessions`` link: ``octopus.client.revoke_user_sessions``); ODCM
calls it for every Octopus user matching the person (by username, else email) on each
instance concerned. Older instances have no such link: the outcome says so and the revoke
still bites at the next sign-in. Every outcome is audited (``user.octopus_sessions``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from audit.services import record
from identity.models import ExternalGroup, Grant, Group, User, UserExternalGroup, instance_model
from octopus.errors import OctopusError
from odcm import work
from odcm.clients import client_for

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    instance: str
    ended: int  # Octopus users whose sessions were ended
    unsupported: bool = False
    error: str = ""


def group_people(group_ids: Iterable[Any]) -> set[int]:
    """Ids of the active people in these groups: direct members and those whose stored
    external groups match the groups'."""
    ids = list(group_ids)
    direct = User.objects.filter(is_active=True, odcm_groups__in=ids)
    keys = ExternalGroup.objects.filter(group__in=ids).values("key")
    via = UserExternalGroup.objects.filter(key__in=keys, user__is_active=True)
    # One statement: a revoke asks this of its group.
    return set(
        direct.order_by()
        .values_list("pk", flat=True)
        .union(via.order_by().values_list("user_id", flat=True))
    )


def enqueue_for_grant(grant: Grant) -> None:
    """After commit: end the sessions, on the grant's instance, of everyone it covered."""
    people = {grant.user_id} if grant.user_id else group_people([grant.group_id])
    instance = grant.instance_id or grant.space.instance_id  # type: ignore[union-attr]
    enqueue(people, [instance])


def enqueue_for_group_leavers(group: Group, user_ids: Iterable[int]) -> None:
    """After commit: people who left ``group`` lose its grants' instances' sessions."""
    instances: set[Any] = set()
    for space_instance, instance in Grant.objects.filter(
        group=group, revoked_at__isnull=True
    ).values_list("space__instance_id", "instance_id"):
        instances.add(instance or space_instance)
    if instances:
        enqueue(user_ids, instances)


def enqueue(user_ids: Iterable[Any], instance_ids: Iterable[Any] | None = None) -> None:
    """Queue ``identity.tasks.end_octopus_sessions`` after commit (None: every instance)."""
    people = sorted({int(u) for u in user_ids if u is not None})
    if not people:
        return
    instances = None if instance_ids is None else sorted({str(i) for i in instance_ids if i})
    work.enqueue("identity.tasks.end_octopus_sessions", people, instances)


def _octopus_users(client: Any, user: User) -> list[dict[str, Any]]:
    name, email = user.username.casefold(), (user.email or "").casefold()
    matches = []
    for found in client.get_all("/api/users"):
        if str(found.get("Username", "")).casefold() == name or (
            email and str(found.get("EmailAddress", "")).casefold() == email
        ):
            matches.append(found)
    return matches


def end_sessions(user_id: int, instance_ids: list[str] | None = None) -> list[Outcome]:
    """End the person's sessions on these instances (None: all). Audited per instance."""
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        return []
    instances = instance_model().objects.order_by("name")
    if instance_ids is not None:
        instances = instances.filter(pk__in=instance_ids)
    outcomes = []
    for inst in instances:
        ended, unsupported, error = 0, False, ""
        try:
            with client_for(inst) as client:
                for found in _octopus_users(client, user):
                    # The user resource carries the link (a list entry may not): read it.
                    resource = client.get(f"/api/users/{found['Id']}")
                    if client.revoke_user_sessions(resource):
                        ended += 1
                    else:
                        unsupported = True
        except OctopusError as exc:
            error = str(exc)[:500]
        outcome = Outcome(inst.name, ended, unsupported, error)
        outcomes.append(outcome)
        if error:
            message = f"could not end {user.username}'s Octopus sessions on {inst.name}: {error}"
        elif unsupported:
            message = (
                f"{inst.name} cannot end {user.username}'s sessions (no RevokeSessions: Octopus "
                "before 2022.1); the revoke bites at their next sign-in"
            )
        else:
            message = f"{user.username}: sessions of {ended} Octopus user(s) ended on {inst.name}"
        if ended or unsupported or error:
            record("user.octopus_sessions", obj=user, message=message)
        log.info("%s", message)
    return outcomes
