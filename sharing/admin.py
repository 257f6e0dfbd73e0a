"""Read-only views of the broker's rows for operators (changes go through the services)."""

from __future__ import annotations

from django.contrib import admin

from odcm.adminsite import ReadOnlyAdmin as ReadOnly
from sharing.models import Delivery, SharedItem, Subscription, Trust


@admin.register(Trust)
class TrustAdmin(ReadOnly):
    list_display = ["publisher", "subscriber", "state", "via_tag", "accepted_at"]
    list_filter = ["state"]


@admin.register(SharedItem)
class SharedItemAdmin(ReadOnly):
    list_display = ["name", "kind", "publisher", "policy", "latest_revision"]
    list_filter = ["kind", "policy"]
    exclude = ["draft"]


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnly):
    list_display = ["item", "space", "mode", "status", "delivered_revision", "error_class"]
    list_filter = ["status", "error_class", "mode"]
    list_select_related = ["item", "space"]


@admin.register(Delivery)
class DeliveryAdmin(ReadOnly):
    list_display = ["subscription", "revision", "trigger", "outcome", "requests", "started_at"]
    list_filter = ["outcome", "trigger"]
    list_select_related = ["subscription__item", "subscription__space"]
