"""The broker of instance baselines: one :class:`BaselineTarget` per instance is the unit of
work, queued, claimed, planned, applied, retried and checked for drift by
:class:`managed.services.target_broker.TargetBroker` (as blueprints are); this module says
how one instance is read, planned and written (:mod:`managed.services.baseline_side`)."""

from __future__ import annotations

import copy
from typing import Any

from django.db.models import Q, QuerySet

from managed import gates
from managed.models import BaselineApply, BaselineRevision, BaselineTarget, InstanceBaseline
from managed.services import baseline_side as side
from managed.services.baselines import sync_targets
from managed.services.octopus_side import Action, counts
from managed.services.target_broker import LostLease, TargetBroker
from odcm.clients import client_for
from odcm.work import Lease

TASK = "managed.tasks.apply_baseline_target"


class BaselineBroker(TargetBroker[InstanceBaseline, BaselineTarget, BaselineRevision]):
    """Instance baselines applied to instances."""

    target_model = BaselineTarget
    apply_model = BaselineApply
    revision_model = BaselineRevision
    parent = "baseline"
    place = "instance"
    places = "instances"
    place_related = "instance"
    gate = gates.BASELINE
    task = TASK
    action = "managed.baseline"
    failure_log = "managed: baseline apply to instance %s failed: %s"

    def rules(self) -> QuerySet[InstanceBaseline]:
        return InstanceBaseline.objects.filter(
            Q(all_instances=True) | Q(instance_tags__isnull=False) | ~Q(regions=[])
        ).distinct()

    def sync_targets(self, parent: InstanceBaseline) -> list[BaselineTarget]:
        return sync_targets(parent)

    def compute_plan(
        self,
        target: BaselineTarget,
        revision: BaselineRevision,
        secrets: dict[str, str],
        prune: bool = False,
    ) -> list[Action]:
        """Read the instance and plan; no database access (threads call it)."""
        created = target.created if prune else None
        with client_for(target.instance) as client:
            view = side.read_instance(client, revision.content, created)
        return side.plan(
            revision.content, view, secrets, target.secret_digests, created=created, prune=prune
        )

    def apply(self, target: BaselineTarget, lease: Lease, number: int) -> dict[str, int]:
        revision, secrets = self.content(target, number)
        content = revision.content
        created: dict[str, Any] = copy.deepcopy(target.created)
        prune = target.prune
        with client_for(target.instance) as client:
            view = side.read_instance(client, content, created if prune else None)

            # Adopt what an earlier, interrupted attempt created but could not write down.
            for lower in (target.intended or {}).get("subscriptions", []):
                for space_id, docs in view.subscriptions.items():
                    doc = docs.get(lower)
                    if doc is not None and lower not in created.get("subscriptions", {}):
                        side.remember(created, lower, space_id, str(doc["Id"]), made=True)
            actions = side.plan(
                content, view, secrets, target.secret_digests, created=created, prune=prune
            )
            intended = {
                "subscriptions": [a.name.lower() for a in actions if a.verb == "create"],
            }
            if not self.claimed(lease).update(intended=intended, created=created):
                raise LostLease()

            def note(lower: str, space_id: str, ident: str, made: bool) -> None:
                side.remember(created, lower, space_id, ident, made=made)
                self.claimed(lease).update(created=created)

            written = side.write(client, content, view, actions, secrets, note, created)
        self.applied(target, lease, number, actions, created, written)
        return counts(actions)

    def drift_of(self, actions: list[Action]) -> list[dict[str, Any]]:
        return side.drift_of(actions)


BROKER = BaselineBroker()
queue_apply = BROKER.queue_apply
sweep = BROKER.sweep
compute_plan = BROKER.compute_plan
plan_targets = BROKER.plan_targets
apply_target = BROKER.apply_target
drift_candidates = BROKER.drift_candidates
check_drift = BROKER.check_drift
