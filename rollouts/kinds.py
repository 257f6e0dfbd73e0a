"""The sharing broker's items as a rollout target kind (sharing sits below rollouts, so its
kind lives here), and the gate that holds back every wave after the first."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet
from django.urls import reverse

from rollouts.registry import Outcome, Target
from rollouts.services import engine
from sharing import access
from sharing.models import Delivery, SharedItem, Subscription
from sharing.services.queueing import queue

SHARED_ITEM = "shared_item"


class SharedItemKind:
    """Shared variable sets and step templates: a target is an automatic subscription."""

    name = SHARED_ITEM

    def label(self, subject_id: uuid.UUID) -> str:
        item = SharedItem.objects.filter(pk=subject_id).values_list("name", flat=True).first()
        return item or "(deleted item)"

    def url(self, subject_id: uuid.UUID) -> str:
        return reverse("sharing:item", args=[subject_id])

    def latest_revision(self, subject_id: uuid.UUID) -> int:
        found = SharedItem.objects.filter(pk=subject_id).values_list("latest_revision", flat=True)
        return found.first() or 0

    def _subscriptions(self, subject_id: uuid.UUID) -> QuerySet[Subscription]:
        subs = Subscription.objects.filter(item_id=subject_id, pinned_revision__isnull=True)
        subs = subs.exclude(status=Subscription.Status.UNMANAGED)
        item = SharedItem.objects.filter(pk=subject_id).only("policy").first()
        if item is not None and item.policy != SharedItem.Policy.PUSH:
            subs = subs.filter(mode=Subscription.Mode.AUTOMATIC)
        return subs

    def targets(self, subject_id: uuid.UUID) -> list[Target]:
        rows = self._subscriptions(subject_id).values_list("pk", "space_id", "delivered_revision")
        return [Target(key, space, held or 0) for key, space, held in rows]

    def deliver(self, subject_id: uuid.UUID, keys: list[uuid.UUID], revision: int) -> None:
        # force: a rollback moves the target revision backwards on purpose.
        queue(keys, revision, Delivery.Trigger.PUSH, force=True)

    def outcomes(
        self, subject_id: uuid.UUID, keys: list[uuid.UUID], revision: int
    ) -> dict[uuid.UUID, Outcome]:
        found: dict[uuid.UUID, Outcome] = dict.fromkeys(keys, Outcome.GONE)
        rows = Subscription.objects.filter(pk__in=keys).values_list(
            "pk", "status", "delivered_revision", "target_revision"
        )
        S = Subscription.Status
        for pk, status, delivered, target in rows:
            if status == S.UNMANAGED:
                continue
            if target == revision and status == S.FAILED:
                found[pk] = Outcome.FAILED
            elif delivered == revision and status == S.DRIFTED:
                found[pk] = Outcome.DRIFTED
            elif delivered == revision and status in (S.IN_SYNC, S.UPDATE_AVAILABLE):
                found[pk] = Outcome.SUCCEEDED
            else:
                found[pk] = Outcome.PENDING
        return found

    def owners(self, subject_id: uuid.UUID) -> list[str]:
        item = SharedItem.objects.select_related("publisher__instance").filter(pk=subject_id)
        found = item.first()
        if found is None:
            return []
        owners = found.publisher.instance.owners.filter(is_active=True).exclude(email="")
        return sorted({u.email for u in owners})

    def visible_subjects(self, user: Any) -> Any:
        return access.visible_items(user).values("pk")

    def may_manage(self, user: Any, subject_id: uuid.UUID) -> bool:
        item = SharedItem.objects.select_related("publisher").filter(pk=subject_id).first()
        return item is not None and access.can_edit_item(user, item)


def gate(item: SharedItem, number: int, ids: list[uuid.UUID]) -> list[uuid.UUID] | None:
    """sharing's delivery gate: an item with an enabled policy starts a rollout and lets
    only wave 1 through; others are not ours to decide."""
    return engine.on_new_revision(SHARED_ITEM, item.pk, number, ids)
