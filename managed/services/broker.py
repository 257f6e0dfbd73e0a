"""The broker of blueprints: one :class:`BlueprintTarget` per space is the unit of work,
queued, claimed, planned, applied, retried and checked for drift by
:class:`managed.services.target_broker.TargetBroker`; this module says how one space is read,
planned and written (:mod:`managed.services.octopus_side`, plus the teams and step
templates that live in ODCM's database).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from managed import gates
from managed.models import Blueprint, BlueprintApply, BlueprintRevision, BlueprintTarget
from managed.services import blueprint_step_templates as steps
from managed.services import blueprint_teams as teams
from managed.services import octopus_side as side
from managed.services.blueprints import sync_targets
from managed.services.target_broker import LostLease, TargetBroker, describe
from odcm.clients import client_for
from odcm.errors import ServiceError
from odcm.work import Lease


class BlueprintBroker(TargetBroker[Blueprint, BlueprintTarget, BlueprintRevision]):
    """Blueprints applied to spaces."""

    target_model = BlueprintTarget
    apply_model = BlueprintApply
    revision_model = BlueprintRevision
    parent = "blueprint"
    place = "space"
    places = "spaces"
    place_related = "space__instance"
    gate = gates.BLUEPRINT
    task = "managed.tasks.apply_target"
    action = "managed.blueprint"
    failure_log = "managed: apply to space %s failed: %s"

    def rules(self) -> QuerySet[Blueprint]:
        return Blueprint.objects.filter(Q(instance_tags__isnull=False) | ~Q(regions=[])).distinct()

    def sync_targets(self, parent: Blueprint) -> list[BlueprintTarget]:
        return sync_targets(parent)

    def compute_plan(
        self,
        target: BlueprintTarget,
        revision: BlueprintRevision,
        secrets: dict[str, str],
        prune: bool,
    ) -> list[side.Action]:
        """Read the space (one GET per kind) and plan; no database access (threads call it)."""
        with client_for(target.space.instance) as client:
            space = side.read_space(client, target.space.octopus_id)
        return side.plan(
            revision.content,
            space,
            secrets,
            target.secret_digests,
            created=target.created,
            prune=prune,
        )

    def plan_more(
        self,
        target: BlueprintTarget,
        revision: BlueprintRevision,
        actions: list[side.Action],
        prune: bool,
    ) -> list[side.Action] | str:
        # Teams and step templates live in ODCM's database: planned here, not in threads.
        actions += teams.plan_teams(
            revision.content, target.space, created=target.created, prune=prune
        )
        try:
            actions += steps.plan_step_templates(
                revision.content,
                target.space,
                target.blueprint.management_space,
                created=target.created,
                prune=prune,
            )
        except ServiceError as exc:  # a missing library template: that space's error
            return describe(exc)
        return actions

    def apply(self, target: BlueprintTarget, lease: Lease, number: int) -> dict[str, int]:
        revision, secrets = self.content(target, number)
        created: dict[str, dict[str, str]] = {k: dict(v) for k, v in target.created.items()}
        publisher = target.blueprint.management_space
        # Step templates first: a name the library lacks fails the space before anything is
        # written.
        steps.adopt(
            revision.content,
            target.space,
            publisher,
            (target.intended or {}).get(steps.KIND, []),
            created,
        )
        step_actions = steps.plan_step_templates(
            revision.content, target.space, publisher, created=created, prune=target.prune
        )
        with client_for(target.space.instance) as client:
            space = side.read_space(client, target.space.octopus_id)
            # Adopt what an earlier, interrupted attempt created but could not write down.
            for kind, names in (target.intended or {}).items():
                for lower in names:
                    doc = space.docs.get(kind, {}).get(lower)
                    if doc is not None and lower not in created.get(kind, {}):
                        created.setdefault(kind, {})[lower] = str(doc["Id"])
            actions = side.plan(
                revision.content,
                space,
                secrets,
                target.secret_digests,
                created=created,
                prune=target.prune,
            )
            intended: dict[str, list[str]] = {}
            for action in actions + step_actions:
                if action.verb == "create":
                    intended.setdefault(action.kind, []).append(action.name.lower())
            if not self.claimed(lease).update(intended=intended, created=created):
                raise LostLease()

            def note(kind: str, lower: str, ident: str | None) -> None:
                if ident is None:
                    created.get(kind, {}).pop(lower, None)
                else:
                    created.setdefault(kind, {})[lower] = ident
                self.claimed(lease).update(created=created)

            written = side.write(
                client, target.space.octopus_id, revision.content, space, actions, secrets, note
            )
        team_actions = teams.plan_teams(
            revision.content, target.space, created=created, prune=target.prune
        )
        teams.apply_teams(revision.content, target.space, team_actions, created)
        self.claimed(lease).update(created=created)  # the grants made, before anything else
        steps.apply_step_templates(revision.content, target.space, publisher, step_actions, created)
        self.claimed(lease).update(created=created)
        actions += team_actions + step_actions
        self.applied(target, lease, number, actions, created, written)
        return side.counts(actions)

    def drift_actions(
        self, target: BlueprintTarget, revision: BlueprintRevision, secrets: dict[str, str]
    ) -> list[side.Action]:
        actions = self.compute_plan(target, revision, secrets, prune=False)
        actions += teams.plan_teams(revision.content, target.space)
        actions += steps.plan_step_templates(
            revision.content, target.space, target.blueprint.management_space, inspect=True
        )
        return actions

    def drift_of(self, actions: list[side.Action]) -> list[dict[str, Any]]:
        # Passwords cannot be read back, so a change of a password alone is no drift.
        return [
            a.as_json()
            for a in actions
            if a.verb == "create" or (a.verb == "change" and set(a.fields) - {"password"})
        ]


BROKER = BlueprintBroker()
queue_apply = BROKER.queue_apply
sweep = BROKER.sweep
compute_plan = BROKER.compute_plan
plan_targets = BROKER.plan_targets
apply_target = BROKER.apply_target
drift_candidates = BROKER.drift_candidates
check_drift = BROKER.check_drift
