"""Who may see and change shared items and subscriptions (on top of identity.access).

Publisher managers edit items; subscriber managers manage their subscriptions; a user sees an
item if they can see its publisher space or a space the publisher trusts. Everything else is a
404.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from identity.access import can_manage_space
from sharing.models import SharedItem, Subscription, Trust
from spaces.models import Space


def visible_items(user: Any) -> QuerySet[SharedItem]:
    spaces = Space.objects.visible_to(user)
    return SharedItem.objects.filter(
        Q(publisher__in=spaces)
        | Q(
            publisher__trusts_given__subscriber__in=spaces,
            publisher__trusts_given__state=Trust.State.ACCEPTED,
        )
    ).distinct()


def visible_subscriptions(user: Any) -> QuerySet[Subscription]:
    spaces = Space.objects.visible_to(user)
    return Subscription.objects.filter(
        Q(space__in=spaces) | Q(item__publisher__in=spaces)
    ).distinct()


def visible_trusts(user: Any) -> QuerySet[Trust]:
    spaces = Space.objects.visible_to(user)
    return Trust.objects.filter(Q(publisher__in=spaces) | Q(subscriber__in=spaces)).distinct()


def can_edit_item(user: Any, item: SharedItem) -> bool:
    return can_manage_space(user, item.publisher)


def can_manage_subscriber(user: Any, space: Space) -> bool:
    return can_manage_space(user, space)


def managed_spaces(user: Any) -> list[Space]:
    """Spaces the user manages (candidates for publishing or subscribing)."""
    # One query, whatever the number of spaces (identity decides who manages what).
    # Spaces gone from Octopus (or not enlisted) can neither publish nor receive.
    return list(
        Space.objects.manageable_by(user)
        .filter(state=Space.State.ENLISTED)
        .select_related("instance")
        .order_by("instance__name", "name")
    )
