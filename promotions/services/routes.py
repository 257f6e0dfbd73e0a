"""Routes (composite lifecycles) and the values ODCM holds for remote environments."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import transaction

from audit.services import record
from odcm.crypto import seal, unseal
from spaces.models import Space

from ..errors import PromotionError
from ..models import RemoteEnvironment, RemoteSpace, RemoteValue, Route, RouteStage


def set_route(
    space: Space,
    project_id: str,
    project_name: str,
    stages: Sequence[str | RemoteSpace],
    *,
    actor: Any = None,
) -> Route:
    """Replace the route of a project: each stage a local environment name or a target
    space. Local environments come first: a release leaves the space after them."""
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
                    route=route, position=position, kind=RouteStage.Kind.SPACE, target=stage
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
            after={"stages": [str(s) for s in stages]},
        )
    return route


def set_value(
    route: Route,
    remote: RemoteSpace,
    environment: str,
    name: str,
    value: str,
    *,
    sensitive: bool = False,
    actor: Any = None,
) -> RemoteValue:
    """A variable value for ``remote``'s ``environment``, held by ODCM; sealed if sensitive."""
    with transaction.atomic():
        env, _ = RemoteEnvironment.objects.get_or_create(
            route=route, remote=remote, name=environment
        )
        row, _ = RemoteValue.objects.get_or_create(environment=env, name=name)
        row.sensitive = sensitive
        if sensitive:
            row.value = ""
            seal(row, "sealed_value", value)
        else:
            row.value = value
            row.sealed_value = ""
        row.save()
        record(
            "promotions.remote_value.set",
            actor=actor,
            obj=route,
            after={
                "environment": str(env),
                "name": name,
                "value": "(sensitive)" if sensitive else value,
            },
        )
    return row


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
