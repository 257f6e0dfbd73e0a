"""Groups, grants and external groups: every change audited, Octopus updated after commit."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.text import slugify

from audit.services import record
from identity.access import user_groups
from identity.models import (
    GRANT_SCOPES,
    ExternalGroup,
    Grant,
    Group,
    ManagedTeam,
    Role,
    RoleMapping,
    User,
    UserExternalGroup,
    group_key,
)
from identity.services import octopus_sessions, teams
from odcm import work
from odcm.errors import ServiceError


class GrantError(ServiceError, ValueError):
    """A grant or group change that cannot be made; the message is for the person."""


def _access_changed() -> None:
    from identity.signals import notify_access_changed

    notify_access_changed()


def clean_scope(scope: Any) -> dict[str, list[str]]:
    """A grant's scope checked and normalised: known keys only, each a list of names (trimmed,
    without duplicates, sorted); empty lists dropped. Names are not checked here: each space
    is checked when its team is pushed (what is missing there is said on the grant's state)."""
    if scope in (None, ""):
        return {}
    if not isinstance(scope, dict):
        message = "A scope maps environments, projects, project_groups or tenants to names."
        raise GrantError(message, errors={"scope": [message]})
    cleaned: dict[str, list[str]] = {}
    for key, names in scope.items():
        if key not in GRANT_SCOPES:
            message = f"Unknown scope {key!r}: use {', '.join(GRANT_SCOPES)}."
            raise GrantError(message, errors={"scope": [message]})
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            message = f"The {key} scope is a list of names."
            raise GrantError(message, errors={"scope": [message]})
        wanted = sorted({n.strip() for n in names if n.strip()})
        if any(len(n) > 200 or "\x00" in n for n in wanted):
            message = f"A name in the {key} scope is too long or holds a NUL byte."
            raise GrantError(message, errors={"scope": [message]})
        if wanted:
            cleaned[key] = wanted
    return cleaned


def _name_error(message: str) -> GrantError:
    return GrantError(message, errors={"name": [message]})


def enqueue_sync(space_ids: Iterable[Any]) -> None:
    """Push these spaces' teams to Octopus once the current transaction commits. Every call
    in one transaction (a grant on each of twenty instances) makes one push: the spaces in
    batches of whole instances (``teams.batches``), each batch one task whose spaces go out
    concurrently, rather than one task per call queued behind the worker processes."""
    work.enqueue_merged("identity.tasks.sync_spaces", space_ids, split=teams.batches)


def _summary(group: Group) -> dict[str, Any]:
    return {
        "name": group.name,
        "description": group.description,
        "members": sorted(group.members.values_list("username", flat=True)),
        "external_groups": sorted(group.external_groups.values_list("value", flat=True)),
    }


def _unique_slug(name: str, exclude: Any = None) -> str:
    base = slugify(name)[:90] or "group"
    slug, n = base, 1
    while Group.objects.filter(slug=slug).exclude(pk=exclude).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def _set_externals(group: Group, values: Iterable[str]) -> None:
    wanted: dict[str, str] = {}
    for raw in values:
        value = raw.strip()
        if value:
            wanted.setdefault(group_key(value), value)
    group.external_groups.exclude(key__in=list(wanted)).delete()
    have = set(group.external_groups.values_list("key", flat=True))
    for key, value in wanted.items():
        if key not in have:
            ExternalGroup(group=group, value=value).save()


def create_group(
    *,
    name: str,
    description: str = "",
    members: Iterable[User] = (),
    external_groups: Iterable[str] = (),
    actor: Any = None,
    request: HttpRequest | None = None,
) -> Group:
    name = name.strip()
    if not name:
        raise _name_error("A group needs a name.")
    with transaction.atomic():
        if Group.objects.filter(name__iexact=name).exists():
            raise _name_error(f"A group named {name!r} already exists.")
        group = Group.objects.create(name=name, slug=_unique_slug(name), description=description)
        group.members.set(list(members))
        _set_externals(group, external_groups)
        record("group.create", actor=actor, request=request, obj=group, after=_summary(group))
    return group


def update_group(
    group: Group,
    *,
    name: str | None = None,
    description: str | None = None,
    members: Iterable[User] | None = None,
    external_groups: Iterable[str] | None = None,
    actor: Any = None,
    request: HttpRequest | None = None,
) -> Group:
    """Change any of the group's fields; its Octopus teams follow."""
    with transaction.atomic():
        group = Group.objects.select_for_update().get(pk=group.pk)
        before = _summary(group)
        members_before = set(group.members.values_list("pk", flat=True))
        if name is not None and name.strip() != group.name:
            name = name.strip()
            if not name:
                raise _name_error("A group needs a name.")
            if Group.objects.filter(name__iexact=name).exclude(pk=group.pk).exists():
                raise _name_error(f"A group named {name!r} already exists.")
            group.name = name
        if description is not None:
            group.description = description
        group.save()
        if members is not None:
            group.members.set(list(members))
        if external_groups is not None:
            _set_externals(group, external_groups)
        after = _summary(group)
        if after != before:
            record(
                "group.update", actor=actor, request=request, obj=group, before=before, after=after
            )
            enqueue_sync(teams.bump_group(group))
            _access_changed()
            # Those who left lose the group's grants: end their Octopus sessions there too.
            left = members_before - set(group.members.values_list("pk", flat=True))
            octopus_sessions.enqueue_for_group_leavers(group, left)
    return group


def delete_group(group: Group, *, actor: Any = None, request: HttpRequest | None = None) -> None:
    """Delete a group. Its grants go with it; its Octopus teams are removed after commit.
    A group that owns service accounts is kept until they have another owner."""
    if group.service_accounts.exists():
        raise GrantError(
            f"“{group.name}” owns service accounts: give them another owner group first."
        )
    with transaction.atomic():
        managed = ManagedTeam.objects.filter(group=group)
        spaces = {str(s) for s in managed.values_list("space_id", flat=True)}
        record("group.delete", actor=actor, request=request, obj=group, before=_summary(group))
        # Its people lose its grants: their Octopus sessions end there too.
        octopus_sessions.enqueue_for_group_leavers(group, octopus_sessions.group_people([group.pk]))
        teams.lock(managed)  # in the order a worker recording a push takes them
        managed.update(group=None)
        group.delete()
        teams.ensure_rows(spaces)
        enqueue_sync(spaces)
        _access_changed()


def grant(
    group: Group | User,
    role: str,
    *,
    space: Any = None,
    instance: Any = None,
    scope: dict[str, list[str]] | None = None,
    actor: Any = None,
    request: HttpRequest | None = None,
    rule: Any = None,
) -> Grant:
    """Give ``group`` (or one person: pass a ``User``) a role on one space or on every space
    of an instance, optionally narrowed inside each space by ``scope`` (names of environments,
    projects, project groups and tenants: see ``identity.models.GRANT_SCOPES``). ``rule``: the
    ``GrantRule`` making it (it may take the grant back later)."""
    if (space is None) == (instance is None):
        raise GrantError("A grant is for one space or for one instance.")
    if role not in Role.values:
        raise GrantError(f"Unknown role {role!r}.")
    cleaned = clean_scope(scope)
    person = group if isinstance(group, User) else None
    holder_group = group if isinstance(group, Group) else None
    if person is not None and not person.is_active:
        raise GrantError(f"{person.username} is deactivated: grant them nothing.")
    holder = person.username if person is not None else group.name  # type: ignore[union-attr]
    try:
        with transaction.atomic():
            row = Grant.objects.create(
                group=holder_group,
                user=person,
                role=role,
                space=space,
                instance=instance,
                scope=cleaned,
                created_by=actor if getattr(actor, "pk", None) else None,
                rule=rule,
            )
            target = f"space {space}" if space else f"every space of instance {instance}"
            after: dict[str, Any] = {"role": role, "target": target}
            after["user" if person is not None else "group"] = holder
            if cleaned:
                after["scope"] = cleaned
            if rule is not None:
                after["rule"] = rule.label
            record("grant.create", actor=actor, request=request, obj=row, after=after)
            spaces, enlisted = teams.reach(row)
            # A team another grant already made carries this grant's scoped roles too.
            holder = teams.holder_of(row.group_id, row.user_id)
            enqueue_sync(teams.ensure_rows(spaces, enlisted=enlisted, bump=(holder, role)))
            _access_changed()
    except IntegrityError:
        raise GrantError(f"{holder} already has this role there.") from None
    return row


def grant_space_managers(
    space: Any,
    groups: Iterable[Group],
    *,
    actor: Any = None,
    request: HttpRequest | None = None,
) -> None:
    """Make each of ``groups`` Space manager of a space ODCM just created (spaces calls this
    inside its transaction; identity never imports spaces)."""
    for group in groups:
        grant(group, Role.MANAGER, space=space, actor=actor, request=request)


def revoke(row: Grant, *, actor: Any = None, request: HttpRequest | None = None) -> bool:
    """Revoke a grant. Returns False if it was already revoked."""
    with transaction.atomic():
        changed = Grant.objects.filter(pk=row.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        if not changed:
            return False
        # What the audit entry and the sessions to end read of it, in the same query.
        row.refresh_from_db(
            from_queryset=Grant.objects.select_related("group", "user", "space", "instance")
        )
        record(
            "grant.revoke",
            actor=actor,
            request=request,
            obj=row,
            before={
                "user" if row.user_id else "group": row.holder_name,
                "role": row.role,
            },
        )
        spaces, enlisted = teams.reach(row, with_targets=True)
        holder = teams.holder_of(row.group_id, row.user_id)
        enqueue_sync(teams.ensure_rows(spaces, enlisted=enlisted, bump=(holder, row.role)))
        _access_changed()
        octopus_sessions.enqueue_for_grant(row)
    return True


def set_role_mapping(
    role: str, octopus_roles: list[str], *, actor: Any = None, request: HttpRequest | None = None
) -> RoleMapping:
    """Which Octopus user roles (names or ids) ``role`` gives."""
    cleaned = [r.strip() for r in octopus_roles if r.strip()]
    if not cleaned:
        message = "Map the role to at least one Octopus user role."
        raise GrantError(message, errors={"octopus_roles": [message]})
    with transaction.atomic():
        before = teams.role_mapping().get(role, [])
        row, _ = RoleMapping.objects.update_or_create(
            role=role, defaults={"octopus_roles": cleaned}
        )
        if before != cleaned:
            record(
                "role_mapping.update",
                actor=actor,
                request=request,
                obj=row,
                before={"octopus_roles": before},
                after={"octopus_roles": cleaned},
            )
            enqueue_sync(teams.bump_role(role))
    return row


def store_external_groups(user: User, source: str, values: Iterable[str]) -> bool:
    """Replace the external groups ``user`` has through ``source`` (at sign-in).

    Returns True if the set changed; the Octopus teams of the groups gained or lost are
    then pushed again (their member lists may change).
    """
    wanted: dict[str, str] = {}
    for raw in values:
        value = str(raw).strip()
        if value:
            wanted.setdefault(group_key(value), value[:500])
    with transaction.atomic():
        rows = UserExternalGroup.objects.filter(user=user, source=source)
        have = set(rows.values_list("key", flat=True))
        if have == set(wanted):
            return False
        groups_before = set(user_groups(user).values_list("pk", flat=True))
        changed_keys = have.symmetric_difference(wanted)
        rows.exclude(key__in=list(wanted)).delete()
        UserExternalGroup.objects.bulk_create(
            [
                UserExternalGroup(user=user, source=source, key=key, value=value)
                for key, value in wanted.items()
                if key not in have
            ]
        )
        record(
            "user.external_groups",
            actor=user,
            obj=user,
            after={"source": source, "groups": sorted(wanted.values())},
        )
        affected = Group.objects.filter(external_groups__key__in=list(changed_keys)).distinct()
        spaces: set[str] = set()
        for group in affected:
            spaces.update(teams.bump_group(group))
        enqueue_sync(spaces)
        _access_changed()
        # A group lost through the directory is like leaving it: end the person's Octopus
        # sessions where its grants were (after commit), as a revoke does.
        lost = groups_before - set(user_groups(user).values_list("pk", flat=True))
        for group in Group.objects.filter(pk__in=lost):
            octopus_sessions.enqueue_for_group_leavers(group, [user.pk])
    return True
