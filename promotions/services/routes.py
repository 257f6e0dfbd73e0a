"""Routes (composite lifecycles) and the values ODCM holds for remote environments.

:func:`save_route` is what people reach (form and API): it checks everything against the
source space's Octopus and the trusts, then writes through :func:`set_route`, the plain
writer the demo and tests use."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from audit.services import record
from octopus.errors import OctopusError
from odcm.clients import client_for
from odcm.crypto import seal, unseal
from spaces.models import Space

from ..errors import PromotionError
from ..models import RemoteEnvironment, RemoteSpace, RemoteValue, Route, RouteStage, Trust


@dataclass(frozen=True)
class StageInput:
    """One stage as a person gave it: ``position`` orders the stages; exactly one of
    ``environment`` (a local environment of the source space) and ``target``."""

    position: int
    environment: str = ""
    target: RemoteSpace | None = None
    lifecycle: str = ""


@dataclass(frozen=True)
class SourceFacts:
    """What the route form offers, read from the source space's Octopus."""

    projects: dict[str, str]  # id -> name
    environments: list[str]


def source_facts(space: Space) -> SourceFacts:
    """The projects and environments of ``space``; PromotionError when Octopus cannot be read."""
    sid = space.octopus_id
    try:
        with client_for(space.instance) as client:
            projects = {
                str(p["Id"]): str(p["Name"]) for p in client.get_all(f"/api/{sid}/projects")
            }
            envs = [str(e["Name"]) for e in client.get_all(f"/api/{sid}/environments")]
    except OctopusError as exc:
        raise PromotionError(f"Reading {space.name} from Octopus failed: {exc}") from None
    return SourceFacts(
        projects=dict(sorted(projects.items(), key=lambda kv: kv[1])), environments=envs
    )


def target_choices(space: Space) -> list[RemoteSpace]:
    """Spaces a route of ``space`` may lead to: every remote space but ``space``'s own."""
    return list(RemoteSpace.objects.exclude(local_space=space).order_by("name"))


def _trust_problem(space: Space, target: RemoteSpace) -> str:
    """Why ``target`` cannot be a stage of a route of ``space`` yet ("" when it can)."""
    if target.local_space_id is not None:
        # Same ODCM: the target's own "accept releases from <source>" trust is visible here.
        accepted = Trust.objects.filter(
            space_id=target.local_space_id,
            remote__local_space=space,
            accepts=Trust.Accepts.RELEASES,
            state=Trust.State.ACTIVE,
        ).exists()
        if not accepted:
            return (
                f"{target.name} does not accept releases from {space.name}: a manager of "
                f"{target.name} must add and confirm that trust first."
            )
        return ""
    # Another ODCM holds the "accept releases" trust; this side must at least have confirmed
    # the target's fingerprint in an active trust (the one accepting its deployment results).
    if not Trust.objects.filter(space=space, remote=target, state=Trust.State.ACTIVE).exists():
        return (
            f"{target.name} is managed by another ODCM and {space.name} has no active trust "
            f'with it: add "{space.name} accepts deployment results from {target.name}" and '
            "confirm its fingerprint (the other ODCM must accept releases from this space)."
        )
    return ""


def lifecycle_names(target: RemoteSpace) -> list[str] | None:
    """The lifecycle names of a target space of this ODCM, for the route form to offer;
    None for a space of another ODCM or when its Octopus cannot be read (typed instead)."""
    space = target.local_space
    if space is None:
        return None
    try:
        with client_for(space.instance) as client:
            return sorted(str(lc["Name"]) for lc in client.lifecycles(space.octopus_id))
    except OctopusError:
        return None


def _lifecycle_problem(target: RemoteSpace, lifecycle: str) -> str:
    """A lifecycle named for a target space of this ODCM must exist there."""
    if not lifecycle or target.local_space is None:
        return ""
    space = target.local_space
    try:
        with client_for(space.instance) as client:
            names = {str(lc["Name"]) for lc in client.lifecycles(space.octopus_id)}
    except OctopusError as exc:
        return f"The lifecycles of {target.name} could not be read: {exc}"
    if lifecycle not in names:
        listed = ", ".join(sorted(names)) or "none"
        return f"{target.name} has no lifecycle named {lifecycle!r} (it has: {listed})."
    return ""


def validate_route(
    space: Space, project_id: str, stages: Sequence[StageInput], facts: SourceFacts
) -> dict[str, list[str]]:
    """Every problem of a route, keyed by field (``project``, ``stages``,
    ``stages[N].environment``… where N counts from 1 in the order given)."""
    errors: dict[str, list[str]] = {}

    def add(key: str, message: str) -> None:
        errors.setdefault(key, []).append(message)

    if project_id not in facts.projects:
        add("project", f"{space.name} has no project {project_id!r}.")
    if not stages:
        add("stages", "Give at least one stage.")
    seen_positions: dict[int, int] = {}
    seen_envs: set[str] = set()
    seen_targets: set[Any] = set()
    for n, stage in enumerate(stages, 1):
        key = f"stages[{n}]"
        if stage.position in seen_positions:
            add(
                f"{key}.position",
                f"Stages {seen_positions[stage.position]} and {n} have the same position "
                f"{stage.position}; each stage needs its own.",
            )
        seen_positions.setdefault(stage.position, n)
        if bool(stage.environment) == (stage.target is not None):
            add(key, "Choose a local environment or a target space.")
            continue
        if stage.target is None:
            if stage.environment not in facts.environments:
                add(
                    f"{key}.environment",
                    f"{space.name} has no environment {stage.environment!r}.",
                )
            elif stage.environment in seen_envs:
                add(f"{key}.environment", f"{stage.environment} is in the route twice.")
            seen_envs.add(stage.environment)
            if stage.lifecycle:
                add(f"{key}.lifecycle", "Only a target space stage has a lifecycle.")
            continue
        target = stage.target
        if target.local_space_id == space.pk:
            add(f"{key}.target", "A route cannot lead to its own space.")
            continue
        if target.pk in seen_targets:
            add(f"{key}.target", f"{target.name} is in the route twice.")
        seen_targets.add(target.pk)
        for problem, field in (
            (_trust_problem(space, target), "target"),
            (_lifecycle_problem(target, stage.lifecycle), "lifecycle"),
        ):
            if problem:
                add(f"{key}.{field}", problem)
    ordered = sorted(stages, key=lambda s: s.position)
    if stages and not any(s.target is not None for s in stages):
        add("stages", "A route needs at least one target space.")
    seen_space = False
    for stage in ordered:
        if stage.target is not None:
            seen_space = True
        elif seen_space and stage.environment:
            add(
                "stages",
                f"The local environment {stage.environment!r} comes after a target space; "
                "local environments come first.",
            )
    return errors


def save_route(
    space: Space,
    project_id: str,
    stages: Sequence[StageInput],
    *,
    actor: Any = None,
    facts: SourceFacts | None = None,
) -> Route:
    """Create or replace the route of ``project_id`` after checking it (see
    :func:`validate_route`); raises PromotionError with field errors, writing nothing."""
    facts = facts or source_facts(space)
    errors = validate_route(space, project_id, stages, facts)
    if errors:
        first = next(iter(errors.values()))[0]
        raise PromotionError(f"The route was not saved: {first}", errors=errors)
    ordered = sorted(stages, key=lambda s: s.position)
    return set_route(
        space,
        project_id,
        facts.projects[project_id],
        [s.target if s.target is not None else s.environment for s in ordered],
        actor=actor,
        lifecycles={s.target.pk: s.lifecycle for s in ordered if s.target is not None},
    )


def delete_route(route: Route, *, actor: Any = None) -> None:
    """Remove a route and the values held for its remote environments. Bundles already
    built stay (they are history)."""
    with transaction.atomic():
        record(
            "promotions.route.delete",
            actor=actor,
            obj=route,
            before={"project": route.project_name, "stages": [str(s) for s in route.stages.all()]},
        )
        route.delete()


def set_route(
    space: Space,
    project_id: str,
    project_name: str,
    stages: Sequence[str | RemoteSpace],
    *,
    actor: Any = None,
    lifecycles: dict[Any, str] | None = None,
) -> Route:
    """Replace the route of a project: each stage a local environment name or a target
    space (``lifecycles``: target pk -> the lifecycle to use there). Local environments come
    first: a release leaves the space after them. Checks only the shape; people's input goes
    through :func:`save_route`."""
    lifecycles = lifecycles or {}
    seen_space = False
    for stage in stages:
        if isinstance(stage, RemoteSpace):
            seen_space = True
        elif seen_space:
            raise PromotionError(
                f"The local environment {stage!r} comes after a target space; local "
                "environments come first."
            )
    if not any(isinstance(s, RemoteSpace) for s in stages):
        raise PromotionError("A route needs at least one target space.")
    with transaction.atomic():
        route, _ = Route.objects.update_or_create(
            space=space, project_id=project_id, defaults={"project_name": project_name}
        )
        route.stages.all().delete()
        for position, stage in enumerate(stages):
            if isinstance(stage, RemoteSpace):
                RouteStage.objects.create(
                    route=route,
                    position=position,
                    kind=RouteStage.Kind.SPACE,
                    target=stage,
                    lifecycle=lifecycles.get(stage.pk, ""),
                )
            else:
                RouteStage.objects.create(
                    route=route,
                    position=position,
                    kind=RouteStage.Kind.ENVIRONMENT,
                    environment=stage,
                )
        record(
            "promotions.route.set",
            actor=actor,
            obj=route,
            after={
                "project": project_name,
                "stages": [str(s) for s in stages],
                "lifecycles": {str(k): v for k, v in lifecycles.items() if v},
            },
        )
    return route


def set_value(
    route: Route,
    remote: RemoteSpace,
    environment: str,
    name: str,
    value: str | None,
    *,
    sensitive: bool = False,
    actor: Any = None,
) -> RemoteValue:
    """A variable value for ``remote``'s ``environment`` ("Prod: Production"), held by ODCM
    for the route's project; sealed with odcm.crypto if sensitive. ``value`` None keeps the
    sensitive value held already (a form never shows it back, so an empty field means
    "unchanged")."""
    environment, name = environment.strip(), name.strip()
    errors: dict[str, list[str]] = {}
    if not route.stages.filter(kind=RouteStage.Kind.SPACE, target=remote).exists():
        errors["target"] = [f"{remote.name} is not a target space of this route."]
    if not environment:
        errors["environment"] = ["Name the environment of the target space."]
    if not name:
        errors["name"] = ["Name the variable."]
    existing = RemoteValue.objects.filter(
        environment__route=route,
        environment__remote=remote,
        environment__name=environment,
        name=name,
    ).first()
    if value is None and not (sensitive and existing is not None and existing.sensitive):
        errors["value"] = ["Give the value."]
    if errors:
        raise PromotionError(next(iter(errors.values()))[0], errors=errors)
    with transaction.atomic():
        env, _ = RemoteEnvironment.objects.get_or_create(
            route=route, remote=remote, name=environment
        )
        row, created = RemoteValue.objects.get_or_create(environment=env, name=name)
        row.sensitive = sensitive
        if sensitive:
            row.value = ""
            if value is not None:
                seal(row, "sealed_value", value)
        else:
            row.value = value or ""
            row.sealed_value = ""
        row.save()
        record(
            "promotions.remote_value.set",
            actor=actor,
            obj=route,
            after={
                "environment": str(env),
                "name": name,
                "created": created,
                "value": "(sensitive)" if sensitive else row.value,
            },
        )
    return row


def held_values(route: Route) -> list[RemoteValue]:
    """The values held for the route's remote environments (sensitive ones stay sealed)."""
    return list(
        RemoteValue.objects.filter(environment__route=route)
        .select_related("environment__remote")
        .order_by("environment__remote__name", "environment__name", "name")
    )


def delete_value(route: Route, value_id: int, *, actor: Any = None) -> None:
    """Remove one held value; an environment left without values goes too."""
    row = (
        RemoteValue.objects.filter(environment__route=route, pk=value_id)
        .select_related("environment__remote")
        .first()
    )
    if row is None:
        raise PromotionError("No such value on this route.", code="not_found")
    env = row.environment
    with transaction.atomic():
        row.delete()
        if not env.values.exists():
            env.delete()
        record(
            "promotions.remote_value.delete",
            actor=actor,
            obj=route,
            before={"environment": str(env), "name": row.name},
        )


def values_for(route: Route, remote: RemoteSpace) -> list[tuple[str, str, bool, str]]:
    """(environment, name, sensitive, value) for every value held for ``remote``. Sensitive
    values are opened here only to be encrypted to the target at once."""
    out = []
    for row in RemoteValue.objects.filter(
        environment__route=route, environment__remote=remote
    ).select_related("environment"):
        value = unseal(row, "sealed_value") if row.sensitive else row.value
        out.append((row.environment.name, row.name, row.sensitive, value))
    return out


def next_stage(route: Route, deployed: set[str]) -> RouteStage | None:
    """The first target space whose earlier local environments were all deployed
    successfully (the previous stage allows promotion), or None."""
    for stage in route.stages.all():
        if stage.kind == RouteStage.Kind.ENVIRONMENT:
            if stage.environment not in deployed:
                return None
        else:
            return stage
    return None
