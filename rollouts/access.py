"""Who may see and act on rollouts: whoever may see the subject sees its rollouts (else 404);
whoever manages the subject acts on them; members of the approval group approve."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Q, QuerySet

from rollouts import registry
from rollouts.models import Rollout, RolloutPolicy


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
