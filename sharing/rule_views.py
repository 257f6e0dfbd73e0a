"""Subscription rules on the item page: made from the subscribe form's "Every space on
instances tagged …" / "… in region …", listed with the spaces they reach, removed."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.defaultfilters import pluralize
from django.views.decorators.http import require_POST

from identity.access import is_admin
from sharing.models import SharedItem, SubscriptionRule
from sharing.services import subscription_rules
from sharing.services.subscriptions import SubscriptionError


def add_rule(
    request: HttpRequest, item: SharedItem, selector: str, value: str, *, mode: str
) -> None:
    try:
        rule, done = subscription_rules.create_rule(
            item, selector, value, mode=mode, actor=request.user
        )
    except SubscriptionError as exc:
        messages.error(request, str(exc))
        return
    count = subscription_rules.space_count(rule)
    names = ", ".join(done.subscribed)
    messages.success(
        request,
        f"Follows {rule.label} ({count} space{pluralize(count)} now); "
        f"{len(done.subscribed)} subscribed{': ' + names if names else ''}.",
    )
    for refusal in done.refused:
        messages.error(request, refusal)


def rules_shown(user: Any, item: SharedItem, can_edit: bool) -> list[tuple[SubscriptionRule, int]]:
    """The item's rules with how many spaces each reaches now: all for its publisher's
    managers, a subscriber-side manager's own otherwise."""
    rules = item.rules.select_related("created_by", "item")
    if not can_edit:
        rules = rules.filter(created_by=user)
    return [(rule, subscription_rules.space_count(rule)) for rule in rules]


@login_required
@require_POST
def delete_rule(request: HttpRequest, pk: Any) -> HttpResponse:
    rule = get_object_or_404(SubscriptionRule.objects.select_related("item"), pk=pk)
    # Its maker (who manages the spaces it subscribed) or an administrator; others see a 404.
    if not (rule.created_by_id == request.user.pk or is_admin(request.user)):
        raise Http404
    removed = subscription_rules.delete_rule(rule, actor=request.user)
    messages.success(
        request,
        f"Rule removed; {len(removed)} space{pluralize(len(removed))} unsubscribed "
        "(subscriptions chosen one by one stay).",
    )
    return redirect("sharing:item", rule.item_id)
