"""``{% load sharing %}{% sharing_badge %}``: failed and drifted subscriptions the user sees."""

from __future__ import annotations

from typing import Any

from django import template

from sharing.access import visible_subscriptions
from sharing.services.subscriptions import problem_counts

register = template.Library()


@register.inclusion_tag("sharing/_badge.html", takes_context=True)
def sharing_badge(context: dict[str, Any]) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"counts": None}
    return {"counts": problem_counts(visible_subscriptions(user))}
