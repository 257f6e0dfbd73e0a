"""The one place that decides what a user may see and manage.

Every page, API endpoint, report and the switcher get their spaces and instances from
``Space.objects.visible_to(user)`` / ``Instance.objects.visible_to(user)``, which apply the
filters built here (``space_filter`` / ``instance_filter``); anything else is a 404.

A grant may be narrowed inside its spaces (``Grant.scope``: environments, projects, project
groups, tenants by name). Seeing a space ignores the narrowing (ODCM has no per-environment
pages to hide); deciding whether ODCM may start a deployment or answer an intervention for
someone does not: ``deployable_spaces`` only counts grants whose scope covers it.

Rules: ODCM administrators see and manage everything. An instance's owners see and manage
that instance and its spaces. Otherwise grants given to the user alone, and those of the
user's groups (direct memberships, or external groups stored at their last sign-in), carry:
Viewer, Deployer or Space manager on a space, or on every space of an instance. Seeing a
space also shows its instance (read-only).

Every function here runs a fixed number of queries, whatever the number of rows.

identity sits below spaces and never imports it: it reaches the registry's rows through its
own foreign keys (``identity.models.space_model`` / ``instance_model``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any
from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse

from identity.models import (
    GRANT_SCOPES,
    ROLE_RANK,
    ExternalGroup,
    Grant,
    GrantTarget,
    Group,
    Role,
    User,
    UserExternalGroup,
    instance_model,
    space_model,
)

# Matches nothing: what an anonymous or inactive user may see.
_NOTHING = Q(pk__in=[])


def _active(user: Any) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active)


def is_admin(user: Any) -> bool:
    return _active(user) and bool(user.is_superuser)


def user_groups(user: Any) -> QuerySet[Group]:
    """The ODCM groups ``user`` belongs to: directly, or through a stored external group."""
    if not _active(user):
        return Group.objects.none()
    keys = UserExternalGroup.objects.filter(user=user.pk).values("key")
    direct = Group.objects.filter(members=user.pk).values("pk")
    external = Group.objects.filter(external_groups__key__in=keys).values("pk")
    return Group.objects.filter(Q(pk__in=direct) | Q(pk__in=external))


def _grants(user: Any, roles: Iterable[str] | None = None) -> QuerySet[Grant]:
    """The active grants ``user`` holds: their own, and their groups'."""
    if not _active(user):
        return Grant.objects.none()
    grants = Grant.objects.filter(revoked_at__isnull=True).filter(
        Q(group__in=user_groups(user).values("pk")) | Q(user=user.pk)
    )
    if roles is not None:
        grants = grants.filter(role__in=list(roles))
    return grants


def _owned_instances(user: Any) -> QuerySet[Any]:
    return instance_model().objects.filter(owners=user.pk)


def _grant_filter(user: Any, roles: Iterable[str] | None = None) -> Q:
    grants = _grants(user, roles)
    return (
        Q(instance__in=_owned_instances(user).values("pk"))
        | Q(pk__in=grants.filter(space__isnull=False).values("space"))
        | Q(instance__in=grants.filter(instance__isnull=False).values("instance"))
    )


def _token(user: Any) -> Any:
    """The API token ``user`` is acting through, when it is limited to instances or spaces
    (set by ``identity.api.authentication``); None for sessions and unlimited tokens."""
    token = getattr(user, "odcm_token", None)
    return token if token is not None and token.limited else None


def _token_spaces(token: Any) -> Q:
    """The spaces a limited token reaches: its spaces, and every space of its instances."""
    return Q(pk__in=token.spaces.values("pk")) | Q(instance__in=token.instances.values("pk"))


def _token_instances(token: Any) -> Q:
    return Q(pk__in=token.instances.values("pk")) | Q(pk__in=token.spaces.values("instance"))


def space_filter(user: Any, roles: Iterable[str] | None = None) -> Q:
    """The filter on spaces that ``user`` may see (with ``roles``: holds one of them there).

    Administrators get everything, anonymous and inactive users nothing; a token limited to
    some instances or spaces narrows either. Applied by ``Space.objects.visible_to`` /
    ``manageable_by`` / ``deployable_by``.
    """
    if not _active(user):
        return _NOTHING
    found = Q() if user.is_superuser else _grant_filter(user, roles)
    token = _token(user)
    return found & _token_spaces(token) if token is not None else found


def instance_filter(user: Any) -> Q:
    """The filter on instances ``user`` may see: owned, granted, or holding a granted space."""
    if not _active(user):
        return _NOTHING
    token = _token(user)
    limit = _token_instances(token) if token is not None else Q()
    if user.is_superuser:
        return limit
    grants = _grants(user)
    return limit & (
        Q(pk__in=_owned_instances(user).values("pk"))
        | Q(pk__in=grants.filter(instance__isnull=False).values("instance"))
        | Q(pk__in=grants.filter(space__isnull=False).values("space__instance"))
    )


def _spaces(user: Any, roles: Iterable[str] | None = None) -> QuerySet[Any]:
    return space_model().objects.filter(space_filter(user, roles))


def visible_grant_targets(user: Any) -> QuerySet[GrantTarget]:
    """A grant's per-space state rows, only for spaces ``user`` can see: an instance-wide
    grant does not list the other spaces of its instance to someone who sees one of them."""
    if not _active(user):
        return GrantTarget.objects.none()
    if user.is_superuser:
        return GrantTarget.objects.all()
    return GrantTarget.objects.filter(space__in=_spaces(user).values("pk"))


def _token_allows_instance(user: Any, instance: Any) -> bool:
    token = _token(user)
    if token is None:
        return True
    return bool(instance_model().objects.filter(_token_instances(token), pk=instance.pk).exists())


def can_manage_instance(user: Any, instance: Any) -> bool:
    """Change settings, refresh, rotate its key, enlist its spaces, create spaces on it."""
    if not _token_allows_instance(user, instance):
        return False
    if is_admin(user):
        return True
    return _active(user) and instance.owners.filter(pk=user.pk).exists()


def can_manage_space(user: Any, space: Any) -> bool:
    if is_admin(user) and _token(user) is None:
        return True
    return _spaces(user, [Role.MANAGER]).filter(pk=space.pk).exists()


def can_deploy_space(user: Any, space: Any) -> bool:
    if is_admin(user) and _token(user) is None:
        return True
    return _spaces(user, [Role.DEPLOYER, Role.MANAGER]).filter(pk=space.pk).exists()


def space_roles(user: Any, spaces: Iterable[Any]) -> dict[str, str]:
    """The strongest role ``user`` holds on each of ``spaces`` (by space id as a string);
    spaces the user cannot see are absent. Two queries, whatever the number of spaces."""
    ids = [str(s) if isinstance(s, UUID | str) else str(s.pk) for s in spaces]
    if not _active(user) or not ids:
        return {}
    token = _token(user)
    rows = list(
        space_model()
        .objects.filter(pk__in=ids)
        .filter(_token_spaces(token) if token is not None else Q())
        .values_list("pk", "instance_id")
    )
    if user.is_superuser:
        return {str(pk): Role.MANAGER.value for pk, _ in rows}
    owned = set(_owned_instances(user).values_list("pk", flat=True))
    instance_ids = {inst for _, inst in rows}
    best: dict[str, str] = {}

    def offer(space_id: str, role: str) -> None:
        if space_id not in best or ROLE_RANK[Role(role)] > ROLE_RANK[Role(best[space_id])]:
            best[space_id] = role

    by_instance: dict[Any, list[str]] = {}
    for pk, inst in rows:
        by_instance.setdefault(inst, []).append(str(pk))
        if inst in owned:
            offer(str(pk), Role.MANAGER.value)
    grants = _grants(user).filter(Q(space__in=ids) | Q(instance__in=instance_ids))
    for space_id, instance_id, role in grants.values_list("space_id", "instance_id", "role"):
        targets = [str(space_id)] if space_id else by_instance.get(instance_id, [])
        for target in targets:
            offer(target, role)
    return best


def space_role(user: Any, space: Any) -> str | None:
    """The strongest role ``user`` holds on ``space`` (None: not visible)."""
    return space_roles(user, [space]).get(str(space.pk))


def who_can_access(space: Any) -> dict[str, Any]:
    """Everyone who can see ``space`` and why: grants (with their groups' users), owners,
    administrators. A fixed number of queries."""
    grants = list(
        Grant.objects.filter(revoked_at__isnull=True)
        .filter(Q(space=space.pk) | Q(instance=space.instance_id))
        .select_related("group", "user")
        .order_by("group__name", "user__username", "role")
    )
    group_ids = {g.group_id for g in grants if g.group_id is not None}
    users: dict[Any, set[str]] = {gid: set() for gid in group_ids}
    for gid, username in User.objects.filter(is_active=True, odcm_groups__in=group_ids).values_list(
        "odcm_groups", "username"
    ):
        users[gid].add(username)
    external: dict[str, set[Any]] = {}
    for key, gid in ExternalGroup.objects.filter(group__in=group_ids).values_list(
        "key", "group_id"
    ):
        external.setdefault(key, set()).add(gid)
    for key, username in UserExternalGroup.objects.filter(
        key__in=list(external), user__is_active=True
    ).values_list("key", "user__username"):
        for gid in external.get(key, ()):
            users[gid].add(username)
    return {
        "grants": [
            {
                "grant": g,
                "group": g.group,
                "person": g.user,
                "role": g.role,
                "scope": "space" if g.space_id else "instance",
                "narrowed": g.scope_label,
                "users": (
                    sorted(users.get(g.group_id, ()))
                    if g.group_id is not None
                    else ([g.user.username] if g.user.is_active else [])  # type: ignore[union-attr]
                ),
            }
            for g in grants
        ],
        "owners": sorted(
            User.objects.filter(owned_instances=space.instance_id, is_active=True).values_list(
                "username", flat=True
            )
        ),
        "admins": sorted(
            User.objects.filter(is_superuser=True, is_active=True).values_list(
                "username", flat=True
            )
        ),
    }


def what_can_access(user: Any) -> list[tuple[Any, str]]:
    """Every space ``user`` can see, with the strongest role they hold there."""
    spaces = list(_spaces(user).select_related("instance").order_by("instance__name", "name"))
    roles = space_roles(user, spaces)
    return [(s, roles.get(str(s.pk), Role.VIEWER.value)) for s in spaces]


def access_report(user: Any) -> list[dict[str, Any]]:
    """ "What can this person access": every space they can see, their strongest role there,
    and how each grant reaching it narrows it (``via``: the group's name or "directly",
    the role, the scope; an empty scope is the whole space). Owners and administrators
    have the whole space. A fixed number of queries."""
    spaces = list(_spaces(user).select_related("instance").order_by("instance__name", "name"))
    roles = space_roles(user, spaces)
    ids = [s.pk for s in spaces]
    grants = list(
        _grants(user)
        .filter(Q(space__in=ids) | Q(instance__in={s.instance_id for s in spaces}))
        .select_related("group")
        .order_by("role")
    )
    report = []
    for space in spaces:
        reaching = [
            {
                "via": g.group.name if g.group is not None else "directly",
                "role": g.role,
                "target": "space" if g.space_id else "instance",
                "scope": g.scope,
                "scope_label": g.scope_label,
            }
            for g in grants
            if g.space_id == space.pk or g.instance_id == space.instance_id
        ]
        report.append(
            {
                "space": space,
                "role": roles.get(str(space.pk), Role.VIEWER.value),
                "grants": reaching,
                "whole_space": not reaching or any(not r["scope"] for r in reaching),
            }
        )
    return report


def scope_allows(
    scope: dict[str, list[str]] | None,
    *,
    environment: str | None = None,
    project: str | None = None,
    project_group: str | None = None,
    tenant: str | None = None,
) -> bool:
    """Whether a grant narrowed by ``scope`` covers a deployment of ``project`` (in
    ``project_group``) to ``environment`` for ``tenant`` (None: untenanted). Names compare
    case-insensitively. Every kind the scope names must match (Octopus ANDs the kinds of one
    scoped role); a kind the caller does not know is not covered, so the answer never widens.
    An untenanted deployment is outside a grant narrowed to tenants."""
    if not scope:
        return True
    given = {
        "environments": environment,
        "projects": project,
        "project_groups": project_group,
        "tenants": tenant,
    }
    for key in GRANT_SCOPES:
        names = scope.get(key) or []
        if not names:
            continue
        value = given[key]
        if value is None or value.strip().casefold() not in {n.casefold() for n in names}:
            return False
    return True


def deployable_spaces(
    user: Any,
    space_ids: Iterable[Any],
    *,
    environment: str,
    project: str,
    tenants: Iterable[str] = (),
    project_group: str | None = None,
) -> set[str]:
    """Of ``space_ids``, those where ODCM may deploy ``project`` to ``environment`` (for each
    of ``tenants``, or untenanted) on behalf of ``user``: administrators (not through a
    limited token) and instance owners anywhere they may deploy; others through a Deployer or
    Space manager grant whose scope covers it (``scope_allows``). Three queries."""
    ids = [str(s) for s in space_ids]
    if not _active(user) or not ids:
        return set()
    roles = [Role.DEPLOYER, Role.MANAGER]
    rows = list(_spaces(user, roles).filter(pk__in=ids).values_list("pk", "instance_id"))
    if is_admin(user):
        return {str(pk) for pk, _ in rows}
    owned = set(_owned_instances(user).values_list("pk", flat=True))
    grants = list(
        _grants(user, roles)
        .filter(Q(space__in=[pk for pk, _ in rows]) | Q(instance__in={i for _, i in rows}))
        .values_list("space_id", "instance_id", "scope")
    )
    wanted: list[str | None] = [t.strip() for t in tenants if t.strip()]
    wanted = wanted or [None]
    allowed: set[str] = set()
    for pk, instance_id in rows:
        if instance_id in owned:
            allowed.add(str(pk))
            continue
        scopes = [sc for s_id, i_id, sc in grants if s_id == pk or i_id == instance_id]
        if all(
            any(
                scope_allows(
                    sc,
                    environment=environment,
                    project=project,
                    project_group=project_group,
                    tenant=tenant,
                )
                for sc in scopes
            )
            for tenant in wanted
        ):
            allowed.add(str(pk))
    return allowed


View = Callable[..., HttpResponse]


def admin_only(view: View) -> View:
    """Administrators only; to anyone else these pages do not exist."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not is_admin(request.user):
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper
