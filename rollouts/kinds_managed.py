"""Managed spaces' blueprints, template projects and instance baselines as rollout target
kinds (managed sits beside sharing, below rollouts, so their kinds live here) and the gate
that holds back every wave after the first (``managed.gates``).

A blueprint's target is a :class:`BlueprintTarget` (one per assigned space); a template
project's is an automatic :class:`Downstream` that has been pushed once (pinned and on-demand
downstreams are not pushed, so they are not staged either); an instance baseline's is a
:class:`BaselineTarget`, a whole instance (its target names the instance, and one of its
spaces stands for it; an instance ODCM knows no space of yet is not staged)."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.urls import reverse

from identity.access import is_admin
from managed import access, gates
from managed.models import (
    BaselineTarget,
    Blueprint,
    BlueprintTarget,
    Downstream,
    InstanceBaseline,
    TemplateProject,
)
from managed.services import baseline_broker, broker, templates
from rollouts.registry import Outcome, Target
from rollouts.services import engine
from spaces.models import Space

BLUEPRINT = gates.BLUEPRINT
TEMPLATE_PROJECT = gates.TEMPLATE_PROJECT
BASELINE = gates.BASELINE


def _emails(users: QuerySet[Any]) -> list[str]:
    return sorted({u.email for u in users.filter(is_active=True).exclude(email="")})


def _applied_outcomes(model: Any, keys: list[uuid.UUID], revision: int) -> dict[uuid.UUID, Outcome]:
    """Outcomes of a broker's targets whose status says applied, failed or drifted (a blueprint's
    space, a baseline's instance) at ``revision``; a target no longer there is gone."""
    found: dict[uuid.UUID, Outcome] = dict.fromkeys(keys, Outcome.GONE)
    S = model.Status
    rows = model.objects.filter(pk__in=keys).values_list(
        "pk", "status", "applied_revision", "target_revision"
    )
    for pk, status, applied, target in rows:
        if target == revision and status == S.FAILED:
            found[pk] = Outcome.FAILED
        elif applied == revision and status == S.DRIFTED:
            found[pk] = Outcome.DRIFTED
        elif applied == revision and status == S.APPLIED:
            found[pk] = Outcome.SUCCEEDED
        else:
            found[pk] = Outcome.PENDING
    return found


class BlueprintKind:
    """Blueprints: a target is the blueprint's row for one assigned space."""

    name = BLUEPRINT

    def label(self, subject_id: uuid.UUID) -> str:
        found = Blueprint.objects.filter(pk=subject_id).values_list("name", flat=True).first()
        return found or "(deleted blueprint)"

    def url(self, subject_id: uuid.UUID) -> str:
        return reverse("managed:blueprint", args=[subject_id])

    def latest_revision(self, subject_id: uuid.UUID) -> int:
        found = Blueprint.objects.filter(pk=subject_id).values_list("latest_revision", flat=True)
        return found.first() or 0

    def targets(self, subject_id: uuid.UUID) -> list[Target]:
        rows = BlueprintTarget.objects.filter(blueprint_id=subject_id).values_list(
            "pk", "space_id", "applied_revision"
        )
        return [Target(key, space, held or 0) for key, space, held in rows]

    def deliver(self, subject_id: uuid.UUID, keys: list[uuid.UUID], revision: int) -> None:
        blueprint = Blueprint.objects.filter(pk=subject_id).first()
        if blueprint is not None and keys:
            broker.queue_apply(blueprint, target_ids=list(keys), revision=revision)

    def outcomes(
        self, subject_id: uuid.UUID, keys: list[uuid.UUID], revision: int
    ) -> dict[uuid.UUID, Outcome]:
        return _applied_outcomes(BlueprintTarget, keys, revision)

    def owners(self, subject_id: uuid.UUID) -> list[str]:
        blueprint = Blueprint.objects.select_related("management_space__instance").filter(
            pk=subject_id
        )
        found = blueprint.first()
        if found is None or found.management_space is None:
            return []
        return _emails(found.management_space.instance.owners.all())

    def visible_subjects(self, user: Any) -> Any:
        return access.visible_blueprints(user).values("pk")

    def may_manage(self, user: Any, subject_id: uuid.UUID) -> bool:
        found = Blueprint.objects.select_related("management_space").filter(pk=subject_id)
        blueprint = found.first()
        return blueprint is not None and access.can_edit(user, blueprint)


class TemplateProjectKind:
    """Template projects: a target is an automatic downstream copy already pushed once."""

    name = TEMPLATE_PROJECT

    def label(self, subject_id: uuid.UUID) -> str:
        found = TemplateProject.objects.filter(pk=subject_id).values_list("name", flat=True)
        return found.first() or "(deleted template project)"

    def url(self, subject_id: uuid.UUID) -> str:
        return reverse("managed:template", args=[subject_id])

    def latest_revision(self, subject_id: uuid.UUID) -> int:
        found = TemplateProject.objects.filter(pk=subject_id).values_list(
            "latest_revision", flat=True
        )
        return found.first() or 0

    def targets(self, subject_id: uuid.UUID) -> list[Target]:
        rows = (
            Downstream.objects.filter(template_id=subject_id, mode=Downstream.Mode.AUTOMATIC)
            .exclude(status=Downstream.Status.PENDING)
            .values_list("pk", "space_id", "applied_revision")
        )
        return [Target(key, space, held or 0) for key, space, held in rows]

    def deliver(self, subject_id: uuid.UUID, keys: list[uuid.UUID], revision: int) -> None:
        template = TemplateProject.objects.filter(pk=subject_id).first()
        if template is not None and keys:
            templates.queue_push(template, downstream_ids=list(keys), revision=revision)

    def outcomes(
        self, subject_id: uuid.UUID, keys: list[uuid.UUID], revision: int
    ) -> dict[uuid.UUID, Outcome]:
        found: dict[uuid.UUID, Outcome] = dict.fromkeys(keys, Outcome.GONE)
        D = Downstream.Status
        bad = (D.FAILED, D.CONFLICT, D.MISSING_DEPENDENCY)
        rows = Downstream.objects.filter(pk__in=keys).values_list(
            "pk", "status", "applied_revision", "target_revision"
        )
        for pk, status, applied, target in rows:
            if target == revision and status in bad:
                found[pk] = Outcome.FAILED
            elif applied == revision and status == D.IN_SYNC:
                found[pk] = Outcome.SUCCEEDED
            else:
                found[pk] = Outcome.PENDING
        return found

    def owners(self, subject_id: uuid.UUID) -> list[str]:
        found = (
            TemplateProject.objects.select_related("space__instance").filter(pk=subject_id).first()
        )
        return [] if found is None else _emails(found.space.instance.owners.all())

    def visible_subjects(self, user: Any) -> Any:
        return access.visible_templates(user).values("pk")

    def may_manage(self, user: Any, subject_id: uuid.UUID) -> bool:
        template = TemplateProject.objects.select_related("space").filter(pk=subject_id).first()
        return template is not None and access.can_edit_template(user, template)


class BaselineKind:
    """Instance baselines: a target is the baseline's row for one instance. Administrators
    alone see and manage them, as on the baseline pages."""

    name = BASELINE

    def label(self, subject_id: uuid.UUID) -> str:
        found = InstanceBaseline.objects.filter(pk=subject_id).values_list("name", flat=True)
        return found.first() or "(deleted baseline)"

    def url(self, subject_id: uuid.UUID) -> str:
        return reverse("managed:baseline", args=[subject_id])

    def latest_revision(self, subject_id: uuid.UUID) -> int:
        found = InstanceBaseline.objects.filter(pk=subject_id).values_list(
            "latest_revision", flat=True
        )
        return found.first() or 0

    def targets(self, subject_id: uuid.UUID) -> list[Target]:
        rows = list(
            BaselineTarget.objects.filter(baseline_id=subject_id).values_list(
                "pk", "instance_id", "applied_revision"
            )
        )
        stands_for: dict[uuid.UUID, uuid.UUID] = {}
        spaces = Space.objects.filter(instance__in={instance for _, instance, _ in rows})
        ordered = spaces.order_by("is_default", "-name", "-pk").values_list("pk", "instance_id")
        for space, instance in ordered:
            stands_for[instance] = space  # the default space wins, else the first by name
        return [
            Target(key, stands_for[instance], held or 0, instance_id=instance)
            for key, instance, held in rows
            if instance in stands_for
        ]

    def deliver(self, subject_id: uuid.UUID, keys: list[uuid.UUID], revision: int) -> None:
        baseline = InstanceBaseline.objects.filter(pk=subject_id).first()
        if baseline is not None and keys:
            baseline_broker.queue_apply(baseline, target_ids=list(keys), revision=revision)

    def outcomes(
        self, subject_id: uuid.UUID, keys: list[uuid.UUID], revision: int
    ) -> dict[uuid.UUID, Outcome]:
        return _applied_outcomes(BaselineTarget, keys, revision)

    def owners(self, subject_id: uuid.UUID) -> list[str]:
        if not InstanceBaseline.objects.filter(pk=subject_id).exists():
            return []
        return _emails(get_user_model().objects.filter(is_superuser=True))

    def visible_subjects(self, user: Any) -> Any:
        rows = InstanceBaseline.objects.all() if is_admin(user) else InstanceBaseline.objects.none()
        return rows.values("pk")

    def may_manage(self, user: Any, subject_id: uuid.UUID) -> bool:
        return is_admin(user) and InstanceBaseline.objects.filter(pk=subject_id).exists()


def gate(kind: str, subject_id: uuid.UUID, number: int, ids: list[Any]) -> list[Any] | None:
    """managed's delivery gate: a subject with an enabled policy (or in a pipeline) starts a
    rollout and lets only wave 1 through; others are not ours to decide."""
    keys = [uuid.UUID(str(pk)) for pk in ids]
    return engine.on_new_revision(kind, subject_id, number, keys)
