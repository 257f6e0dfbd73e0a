"""Filters of /api/v1/sharing/items, /subscriptions and /trusts."""

from __future__ import annotations

import django_filters

from odcm.api.filters import Choices, FilterSet, Flag, Ordering, UUIDs
from sharing.models import Delivery, SharedItem, Subscription, Trust


class ItemFilter(FilterSet):
    kind = Choices(choices=SharedItem.Kind.choices)
    policy = Choices(choices=SharedItem.Policy.choices)
    publisher = UUIDs(help_text="Publisher space id(s)")
    paused = Flag()
    search = django_filters.CharFilter(field_name="name", lookup_expr="icontains")
    ordering = Ordering("name", "kind", "latest_revision", "created_at", "updated_at")

    class Meta:
        model = SharedItem
        fields: list[str] = []


class SubscriptionFilter(FilterSet):
    item = UUIDs(help_text="Shared item id(s)")
    space = UUIDs(help_text="Subscriber space id(s)")
    status = Choices(choices=Subscription.Status.choices)
    mode = Choices(choices=Subscription.Mode.choices)
    ordering = Ordering(
        "item__name", "space__name", "status", "created_at", "last_synced_at", "failing_since"
    )

    class Meta:
        model = Subscription
        fields: list[str] = []


class TrustFilter(FilterSet):
    state = Choices(choices=Trust.State.choices)
    publisher = UUIDs(help_text="Publisher space id(s)")
    subscriber = UUIDs(help_text="Subscriber space id(s)")
    ordering = Ordering("created_at", "accepted_at", "publisher__name", "subscriber__name")

    class Meta:
        model = Trust
        fields: list[str] = []


class DeliveryFilter(FilterSet):
    outcome = Choices(choices=Delivery.Outcome.choices)
    trigger = Choices(choices=Delivery.Trigger.choices)

    class Meta:
        model = Delivery
        fields: list[str] = []
