"""Subscriptions: spaces receiving shared items, their modes, pins and what needs syncing."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Count, Q, QuerySet

from audit.services import record
from odcm.errors import ServiceError
from sharing.gates import allowed
from sharing.models import Delivery, SharedItem, Subscription
from sharing.services.queueing import queue, release_copies
from sharing.services.trusts import is_trusted
from spaces.models import Space

ACTIVE = ~Q(status=Subscription.Status.UNMANAGED)


class SubscriptionError(ServiceError, ValueError):
    """A subscription change that cannot be made; the message is for people."""


def _automatic(item: SharedItem) -> Q:
    if item.policy == SharedItem.Policy.PUSH:
        return Q()
    return Q(mode=Subscription.Mode.AUTOMATIC)


def subscribe(
    item: SharedItem,
    space: Space,
    *,
    mode: str = Subscription.Mode.AUTOMATIC,
    pinned_revision: int | None = None,
    actor: Any = None,
    rule: Any = None,
) -> Subscription:
    """Subscribe ``space`` (trusted by the publisher) to ``item``. ``rule``: the
    ``SubscriptionRule`` subscribing it (it may unsubscribe it later); without one the
    subscription is explicit, and a rule's subscription chosen again becomes explicit.

    A push item is automatic for every subscriber: subscribing accepts that. The first
    delivery is queued at once for automatic subscriptions; on-demand ones show an update.
    """
    if space.pk == item.publisher_id:
        raise SubscriptionError("The publisher space already holds the original.")
    if not is_trusted(item.publisher, space):
        raise SubscriptionError(
            f"{item.publisher.name} has no accepted trust with {space.name}: the publisher "
            "proposes a trust and the subscriber's managers accept it first."
        )
    if item.policy == SharedItem.Policy.PUSH:
        mode = Subscription.Mode.AUTOMATIC
        if pinned_revision is not None:
            raise SubscriptionError("The publisher pushes every revision: it cannot be pinned.")
    if pinned_revision is not None and not 0 < pinned_revision <= item.latest_revision:
        raise SubscriptionError(f"There is no revision {pinned_revision} to pin.")
    with transaction.atomic():
        sub, created = Subscription.objects.select_for_update().get_or_create(
            item=item,
            space=space,
            defaults={
                "mode": mode,
                "pinned_revision": pinned_revision,
                "created_by": actor,
                "rule": rule,
            },
        )
        if not created:
            sub.mode, sub.pinned_revision, sub.rule = mode, pinned_revision, rule
            if sub.status == Subscription.Status.UNMANAGED:
                sub.status = Subscription.Status.PENDING
            sub.save(update_fields=["mode", "pinned_revision", "status", "rule", "updated_at"])
        after = sub.summary()
        if rule is not None:
            after["rule"] = rule.label
        record("sharing.subscription.create", actor=actor, obj=sub, after=after)
        _after_change(sub, Delivery.Trigger.SUBSCRIBE)
    return sub


def _after_change(sub: Subscription, trigger: str) -> None:
    """Queue the subscription if it should receive a revision automatically now."""
    item = sub.item
    item.refresh_from_db(fields=["latest_revision", "policy"])
    wanted = sub.pinned_revision or item.latest_revision
    if not wanted or sub.status == Subscription.Status.UNMANAGED:
        return
    if sub.delivered_revision == wanted and sub.status == Subscription.Status.IN_SYNC:
        return
    if sub.effective_mode == Subscription.Mode.AUTOMATIC:
        queue([sub.pk], wanted, trigger)
    elif sub.status in (Subscription.Status.PENDING, Subscription.Status.IN_SYNC):
        Subscription.objects.filter(pk=sub.pk).update(status=Subscription.Status.UPDATE_AVAILABLE)


def change(
    sub: Subscription,
    *,
    mode: str | None = None,
    pinned_revision: int | None | str = "keep",
    actor: Any = None,
) -> Subscription:
    """Change the mode (not for push items) or the pinned revision (``None`` unpins)."""
    before = sub.summary()
    if mode is not None:
        if sub.item.policy == SharedItem.Policy.PUSH and mode != Subscription.Mode.AUTOMATIC:
            raise SubscriptionError("The publisher pushes this item to every subscriber.")
        sub.mode = mode
    if pinned_revision != "keep":
        if pinned_revision is not None and sub.item.policy == SharedItem.Policy.PUSH:
            raise SubscriptionError("The publisher pushes every revision: it cannot be pinned.")
        if pinned_revision is not None and not (
            isinstance(pinned_revision, int) and 0 < pinned_revision <= sub.item.latest_revision
        ):
            raise SubscriptionError(f"There is no revision {pinned_revision} to pin.")
        sub.pinned_revision = pinned_revision if isinstance(pinned_revision, int) else None
    with transaction.atomic():
        sub.save(update_fields=["mode", "pinned_revision", "updated_at"])
        record(
            "sharing.subscription.change", actor=actor, obj=sub, before=before, after=sub.summary()
        )
        _after_change(sub, Delivery.Trigger.SUBSCRIBE)
    return sub


def unsubscribe(sub: Subscription, *, actor: Any = None) -> None:
    """Stop managing the copy; it stays in Octopus, marked as no longer managed."""
    with transaction.atomic():
        Subscription.objects.filter(pk=sub.pk).update(
            status=Subscription.Status.UNMANAGED, queued_at=None, next_retry_at=None
        )
        record("sharing.subscription.delete", actor=actor, obj=sub)
        release_copies([sub.pk])


def sync_now(sub: Subscription, *, revision: int | None = None, actor: Any = None) -> None:
    """Deliver now (on-demand sync, or a retry the user asked for)."""
    if sub.status == Subscription.Status.UNMANAGED:
        raise SubscriptionError("This subscription is no longer managed.")
    wanted = revision or sub.pinned_revision or sub.item.latest_revision
    if not wanted or wanted > sub.item.latest_revision:
        raise SubscriptionError("There is no such revision to deliver.")
    with transaction.atomic():
        record("sharing.subscription.sync", actor=actor, obj=sub, after={"revision": wanted})
        queue([sub.pk], wanted, Delivery.Trigger.SYNC_NOW, force=True)


def push_now(item: SharedItem, *, actor: Any = None) -> int:
    """Queue the latest revision for every automatic, unpinned subscriber. Returns how many."""
    if not item.latest_revision:
        return 0
    with transaction.atomic():
        ids = list(
            item.subscriptions.filter(
                ACTIVE, _automatic(item), pinned_revision__isnull=True
            ).values_list("pk", flat=True)
        )
        record("sharing.item.push", actor=actor, obj=item, message=f"{len(ids)} subscriptions")
        queue(ids, item.latest_revision, Delivery.Trigger.PUSH, force=True)
    return len(ids)


def on_new_revision(item: SharedItem, number: int) -> None:
    """Fan a new revision out: queue automatic subscribers, tell on-demand ones."""
    subs = item.subscriptions.filter(ACTIVE)
    automatic = subs.filter(_automatic(item), pinned_revision__isnull=True)
    ids = list(automatic.values_list("pk", flat=True))
    # A registered gate (a staged rollout) may hold some back: they keep their revision.
    queue(allowed(item, number, ids), number, Delivery.Trigger.PUBLISH)
    subs.exclude(pk__in=automatic.values("pk")).filter(
        pinned_revision__isnull=True,
        status__in=[Subscription.Status.IN_SYNC, Subscription.Status.PENDING],
    ).update(status=Subscription.Status.UPDATE_AVAILABLE)


def problem_counts(subscriptions: QuerySet[Subscription]) -> dict[str, int]:
    """How many subscriptions are failed and drifted (one query)."""
    counts = subscriptions.aggregate(
        failed=Count("pk", filter=Q(status=Subscription.Status.FAILED)),
        drifted=Count("pk", filter=Q(status=Subscription.Status.DRIFTED)),
    )
    return {"failed": counts["failed"] or 0, "drifted": counts["drifted"] or 0}
