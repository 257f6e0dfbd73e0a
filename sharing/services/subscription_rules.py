"""Subscription rules: an item delivered to every space on instances carrying a tag, or in a
region, kept true as the fleet changes.

A rule owns the subscriptions it made (``Subscription.rule``). :func:`apply` compares them with
the spaces it reaches now: enlisted spaces on the matched instances that the rule's creator
manages and the publisher trusts (accepted), the publisher's own space excepted. A space
reached without a subscription is subscribed through the one
:func:`sharing.services.subscriptions.subscribe` (so it is delivered as any subscription is);
a rule's subscription whose space is no longer reached is unsubscribed (the copy stays in
Octopus, no longer managed, as after any unsubscribe). Subscriptions chosen explicitly are
never touched, a space subscribed explicitly is left to that subscription, and a
subscription another rule of the item still reaches is handed to it. ``apply`` is
idempotent and safe when two run at once (one subscription per item and space, taken under
``select_for_update``), so the registry's events and the periodic task may both run it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction

from audit.services import record
from odcm.ui import space_label
from sharing.models import SharedItem, Subscription, SubscriptionRule, Trust
from sharing.services.subscriptions import SubscriptionError, subscribe, unsubscribe
from spaces.models import Space


@dataclass
class Applied:
    """What one :func:`apply` changed: spaces ("Space (instance)") subscribed and removed."""

    subscribed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def _matched(rule: SubscriptionRule) -> Any:
    spaces = Space.objects.filter(state=Space.State.ENLISTED).exclude(pk=rule.item.publisher_id)
    if rule.selector == SubscriptionRule.Selector.TAG:
        return spaces.filter(instance__tags__name=rule.value).distinct()
    return spaces.filter(instance__region=rule.value)


def reached(rule: SubscriptionRule) -> list[Space]:
    """The spaces the rule subscribes now (see the module)."""
    if rule.created_by is None:  # nobody left whose management it acts for: it reaches none
        return []
    trusted = Trust.objects.filter(
        publisher=rule.item.publisher_id, state=Trust.State.ACCEPTED
    ).values("subscriber_id")
    managed = Space.objects.manageable_by(rule.created_by).values("pk")
    return list(
        _matched(rule)
        .filter(pk__in=trusted)
        .filter(pk__in=managed)
        .select_related("instance")
        .order_by("instance__name", "name")
    )


class RuleError(SubscriptionError):
    """A rule that cannot be made; the message is for people."""


def create_rule(
    item: SharedItem, selector: str, value: str, *, mode: str, actor: Any
) -> tuple[SubscriptionRule, Applied]:
    """Subscribe every space on instances tagged ``value`` (``selector`` "tag") or in region
    ``value`` ("region") that ``actor`` manages and the publisher trusts, now and later."""
    if selector not in SubscriptionRule.Selector.values:
        raise RuleError("A rule follows a tag or a region.")
    if mode not in Subscription.Mode.values:
        raise RuleError(f"Unknown mode {mode!r}.")
    value = str(value).strip()
    if not value or len(value) > 100:
        raise RuleError("Name the tag or region (at most 100 characters).")
    if item.policy == SharedItem.Policy.PUSH:
        mode = Subscription.Mode.AUTOMATIC
    try:
        with transaction.atomic():
            rule = SubscriptionRule.objects.create(
                item=item, selector=selector, value=value, mode=mode,
                created_by=actor if getattr(actor, "pk", None) else None,
            )  # fmt: skip
            record("sharing.subscription_rule.create", actor=actor, obj=rule,
                   after={"item": item.name, "target": rule.label, "mode": mode})  # fmt: skip
    except IntegrityError:
        label = SubscriptionRule(selector=selector, value=value).label
        raise RuleError(f"{item.name} already follows {label}.") from None
    return rule, apply(rule, actor=actor)


def _hand_over(rule: SubscriptionRule, sub: Subscription) -> bool:
    """Give ``sub`` to another rule of the same item that still reaches its space (the copy
    stays as it is) rather than unsubscribing it. True if one took it."""
    for other in rule.item.rules.exclude(pk=rule.pk).select_related("item", "created_by"):
        if any(space.pk == sub.space_id for space in reached(other)):
            Subscription.objects.filter(pk=sub.pk).update(rule=other)
            return True
    return False


def delete_rule(rule: SubscriptionRule, *, actor: Any = None) -> list[str]:
    """Delete the rule and unsubscribe the spaces it subscribed (not those chosen
    explicitly). Returns the spaces unsubscribed."""
    removed: list[str] = []
    with transaction.atomic():
        for sub in _owned(rule):
            if not _hand_over(rule, sub):
                unsubscribe(sub, actor=actor)
                removed.append(space_label(sub.space))
        record("sharing.subscription_rule.delete", actor=actor, obj=rule,
               before={"item": rule.item.name, "target": rule.label},
               message=f"unsubscribed {len(removed)} spaces")  # fmt: skip
        rule.delete()
    return removed


def _owned(rule: SubscriptionRule) -> list[Subscription]:
    return list(
        rule.subscriptions.exclude(status=Subscription.Status.UNMANAGED).select_related(
            "space__instance", "item"
        )
    )


def apply(rule: SubscriptionRule, *, actor: Any = None) -> Applied:
    """Make the rule's subscriptions match the spaces it reaches now (see the module)."""
    done = Applied()
    wanted = {s.pk: s for s in reached(rule)}
    owned = _owned(rule)
    active = set(
        rule.item.subscriptions.exclude(status=Subscription.Status.UNMANAGED).values_list(
            "space_id", flat=True
        )
    )
    for pk, space in wanted.items():
        if pk in active:  # the rule's already, or chosen explicitly: left as it is
            continue
        try:
            subscribe(rule.item, space, mode=rule.mode, actor=actor, rule=rule)
        except SubscriptionError as exc:
            done.refused.append(f"{space_label(space)}: {exc}")
            continue
        done.subscribed.append(space_label(space))
    for sub in owned:
        if sub.space_id not in wanted and not _hand_over(rule, sub):
            unsubscribe(sub, actor=actor)
            done.removed.append(space_label(sub.space))
    if done.subscribed or done.removed:
        record("sharing.subscription_rule.apply", actor=actor, obj=rule,
               after={"subscribed": done.subscribed, "removed": done.removed})  # fmt: skip
    return done


def apply_all() -> int:
    """Apply every rule (periodic, and after an instance's tags or region changed or a space
    was enlisted). Returns how many subscriptions changed."""
    changed = 0
    rules = SubscriptionRule.objects.select_related("item__publisher", "created_by")
    for rule in rules:
        done = apply(rule)
        changed += len(done.subscribed) + len(done.removed)
    return changed


def space_count(rule: SubscriptionRule) -> int:
    """How many spaces the rule reaches now (what the page shows)."""
    return len(reached(rule))
