"""Who may see and act on rollouts: whoever may see the subject sees its rollouts (else 404);
whoever manages the subject acts on them; members of the approval group approve."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Q, QuerySet

from identity.access import deployable_spaces
from rollouts import registry
from rollouts.models import DeploymentRun, Rollout, RolloutPolicy, RunDeployment
from spaces.models import Space


def _subjects(user: Any) -> Q:
    found = Q(pk__in=[])
    for name in registry.names():
        found |= Q(kind=name, subject_id__in=registry.kind(name).visible_subjects(user))
    return found


def visible_rollouts(user: Any) -> QuerySet[Rollout]:
    return Rollout.objects.filter(_subjects(user))


def visible_policies(user: Any) -> QuerySet[RolloutPolicy]:
    return RolloutPolicy.objects.filter(_subjects(user))


def subject_visible(user: Any, kind: str, subject_id: uuid.UUID) -> bool:
    if kind not in registry.names():
        return False
    return registry.kind(kind).visible_subjects(user).filter(pk=subject_id).exists()


def may_manage(user: Any, kind: str, subject_id: uuid.UUID) -> bool:
    return kind in registry.names() and registry.kind(kind).may_manage(user, subject_id)


def visible_runs(user: Any) -> QuerySet[DeploymentRun]:
    """Runs with at least one space the user may see."""
    spaces = Space.objects.visible_to(user).values("pk")
    ids = RunDeployment.objects.filter(space__in=spaces).values("run_id")
    return DeploymentRun.objects.filter(pk__in=ids)


def may_cancel_run(user: Any, run: DeploymentRun) -> bool:
    """Whoever started it, or whoever may deploy to every space of it."""
    if run.created_by_id is not None and run.created_by_id == getattr(user, "pk", None):
        return True
    by_project: dict[str, set[Any]] = {}
    for space_id, project in run.deployments.values_list("space_id", "project"):
        by_project.setdefault(project or run.project, set()).add(space_id)
    if not by_project:
        return False
    return all(
        len(
            deployable_spaces(
                user, spaces, environment=run.environment, project=name, tenants=run.tenants
            )
        )
        == len(spaces)
        for name, spaces in by_project.items()
    )
