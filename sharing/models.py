"""The sharing broker: published items with immutable revisions, trusts, subscriptions, deliveries.

One mechanism serves every kind of shared thing (variable sets and step templates today): a
publisher space owns a :class:`SharedItem`; each save makes an immutable :class:`Revision`;
spaces trusted by the publisher hold a :class:`Subscription`; every attempt to put a revision
into a subscriber space leaves a :class:`Delivery` row. What a kind knows (how to write a
revision into Octopus and how to compare what is there) lives in ``sharing/kinds/``.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from odcm.crypto import EncryptedField
from odcm.work import Leased
from spaces.models import Space


class Trust(models.Model):
    """A publisher space may share with a subscriber space once the subscriber side accepts."""

    class State(models.TextChoices):
        PROPOSED = "proposed", "Waiting for the subscriber"
        ACCEPTED = "accepted", "Accepted"
        REVOKED = "revoked", "Revoked"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    publisher = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="trusts_given")
    subscriber = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="trusts_received")
    state = models.CharField(max_length=20, choices=State.choices, default=State.PROPOSED)
    # The instance tag that proposed this trust ("share with every space carrying tag X").
    via_tag = models.CharField(max_length=50, blank=True)
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["publisher__name", "subscriber__name"]
        constraints = [
            models.UniqueConstraint(
                fields=["publisher", "subscriber"], name="trust_unique_publisher_subscriber"
            ),
            models.CheckConstraint(
                condition=~Q(publisher=models.F("subscriber")), name="trust_not_self"
            ),
        ]

    def __str__(self) -> str:
        return f"trust {self.publisher} -> {self.subscriber} ({self.state})"


class SharedItem(models.Model):
    """Something a publisher space shares: a variable set or a step template."""

    class Kind(models.TextChoices):
        VARIABLE_SET = "variable_set", "Variable set"
        STEP_TEMPLATE = "step_template", "Step template"

    class Policy(models.TextChoices):
        PUSH = "push", "Push every revision to every subscriber"
        SUBSCRIBER_CHOOSES = "subscriber_chooses", "Each subscriber chooses"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    publisher = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="shared_items")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    policy = models.CharField(max_length=20, choices=Policy.choices, default=Policy.PUSH)
    latest_revision = models.PositiveIntegerField(default=0)
    # Paused: deliveries of this item stay queued (nothing is lost) until it is resumed.
    paused = models.BooleanField(default=False)
    # The editor's unpublished work: {"content", "needs_values", "base_revision",
    # "saved_at", "saved_by"}. Imported content waiting for sensitive values lives here too.
    draft = models.JSONField(default=dict, blank=True)
    # The draft's sensitive values (variable key -> plaintext), sealed to this row: a value
    # typed into the editor survives a reload without ever being stored or shown in clear.
    draft_secrets = EncryptedField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["publisher", "kind", "name"], name="shareditem_unique_name"
            )
        ]

    def __str__(self) -> str:
        return self.name


class Revision(models.Model):
    """One immutable numbered version of a shared item.

    ``content`` is the kind's document with every secret removed; ``secrets`` is a sealed JSON
    object (variable key -> plaintext) bound to this row, so the content can be shown, diffed
    and logged without ever exposing a sensitive value.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    item = models.ForeignKey(SharedItem, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    content = models.JSONField(default=dict)
    secrets = EncryptedField()
    comment = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["item", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["item", "number"], name="revision_unique_number")
        ]

    def __str__(self) -> str:
        return f"r{self.number}"


class Subscription(Leased):
    """A subscriber space receiving a shared item, and where its copy stands. The worker
    delivering it holds its lease (``claim_token`` until ``claimed_until``, ``odcm.work``)."""

    class Mode(models.TextChoices):
        AUTOMATIC = "automatic", "Automatic"
        ON_DEMAND = "on_demand", "On demand"

    class Status(models.TextChoices):
        PENDING = "pending", "Nothing delivered yet"
        QUEUED = "queued", "Queued"
        SYNCING = "syncing", "Syncing"
        IN_SYNC = "in_sync", "In sync"
        UPDATE_AVAILABLE = "update_available", "Update available"
        FAILED = "failed", "Failed"
        DRIFTED = "drifted", "Drifted"
        UNMANAGED = "unmanaged", "No longer managed"

    class ErrorClass(models.TextChoices):
        NONE = "", "None"
        UNREACHABLE = "unreachable", "Unreachable"
        AUTH = "auth", "Authentication"
        PERMISSION = "permission", "Permission"
        VALIDATION = "validation", "Validation"
        CONFLICT = "conflict", "Conflict"
        MISSING_ENVIRONMENT = "missing_environment", "Missing environment"
        MISSING_REFERENCE = "missing_reference", "Missing account, certificate or worker pool"
        SERVER = "server", "Server error"
        INTERNAL = "internal", "Internal error"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    item = models.ForeignKey(SharedItem, on_delete=models.CASCADE, related_name="subscriptions")
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="subscriptions")
    mode = models.CharField(max_length=20, choices=Mode.choices, default=Mode.AUTOMATIC)
    pinned_revision = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    # The revision that should be in Octopus next (0: none yet) and the one that is.
    target_revision = models.PositiveIntegerField(default=0)
    delivered_revision = models.PositiveIntegerField(null=True, blank=True)
    # Where the copy lives in the subscriber space, and the variable-set Version ODCM wrote.
    octopus_id = models.CharField(max_length=100, blank=True)
    octopus_child_id = models.CharField(max_length=100, blank=True)
    octopus_version = models.IntegerField(null=True, blank=True)
    # A fingerprint (keyed HMAC) of the secrets last written, to skip no-op writes.
    secrets_digest = models.CharField(max_length=64, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    error_class = models.CharField(max_length=30, choices=ErrorClass.choices, blank=True)
    error_message = models.TextField(blank=True)
    failing_since = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    next_retry_at = models.DateTimeField(null=True, blank=True)
    alert_sent_at = models.DateTimeField(null=True, blank=True)
    drift = models.JSONField(default=list, blank=True)
    drift_checked_at = models.DateTimeField(null=True, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The rule that subscribed this space (and may unsubscribe it); empty: chosen explicitly.
    rule = models.ForeignKey(
        "SubscriptionRule",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="subscriptions",
    )

    class Meta:
        ordering = ["item__name", "space__name"]
        constraints = [
            models.UniqueConstraint(fields=["item", "space"], name="subscription_unique_space")
        ]
        indexes = [
            models.Index(fields=["status", "next_retry_at"], name="subscription_retry_idx"),
        ]

    def __str__(self) -> str:
        # Names, not ids: this is what the audit log shows.
        return f"subscription of {self.space} to {self.item}"

    @property
    def octopus_url(self) -> str:
        """The copy in Octopus's web UI (its own URL shapes; octosim serves them too), or ""
        before the first delivery."""
        if not self.octopus_id:
            return ""
        page = "variables" if self.item.kind == SharedItem.Kind.VARIABLE_SET else "steptemplates"
        base = self.space.instance.base_url.rstrip("/")
        return f"{base}/app#/{self.space.octopus_id}/library/{page}/{self.octopus_id}"

    @property
    def effective_mode(self) -> str:
        """Push items are automatic for everyone, whatever the subscription says."""
        if self.item.policy == SharedItem.Policy.PUSH:
            return self.Mode.AUTOMATIC
        return self.mode

    @property
    def update_available(self) -> bool:
        latest = self.pinned_revision or self.item.latest_revision
        return bool(latest) and (self.delivered_revision or 0) < latest

    def summary(self) -> dict[str, Any]:
        return {
            "item": str(self.item_id),
            "space": str(self.space_id),
            "mode": self.mode,
            "pinned_revision": self.pinned_revision,
        }


class SubscriptionRule(models.Model):
    """Every space on instances carrying a tag, or in a region, subscribed to an item, now and
    later: among the spaces its creator manages that the publisher trusts.

    ``sharing.services.subscription_rules.apply`` keeps one subscription (``Subscription.rule``)
    per space matched: a space enlisted, or an instance tagged, later gains it; one no longer
    matched is unsubscribed. Subscriptions chosen explicitly are never touched by a rule.
    """

    class Selector(models.TextChoices):
        TAG = "tag", "Tag"
        REGION = "region", "Region"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    item = models.ForeignKey(SharedItem, on_delete=models.CASCADE, related_name="rules")
    selector = models.CharField(max_length=10, choices=Selector.choices)
    value = models.CharField(max_length=100)
    mode = models.CharField(
        max_length=20, choices=Subscription.Mode.choices, default=Subscription.Mode.AUTOMATIC
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["item__name", "selector", "value"]
        constraints = [
            models.UniqueConstraint(
                fields=["item", "selector", "value"], name="subscription_rule_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.item} to {self.label}"

    @property
    def label(self) -> str:
        """ "every space on instances tagged prod" / "… in region emea"."""
        if self.selector == self.Selector.TAG:
            return f"every space on instances tagged {self.value}"
        return f"every space on instances in region {self.value}"


class Delivery(models.Model):
    """One attempt to put a revision into a subscriber space (or to check it)."""

    class Outcome(models.TextChoices):
        RUNNING = "running", "Running"
        WRITTEN = "written", "Written"
        UNCHANGED = "unchanged", "Already up to date"
        FAILED = "failed", "Failed"
        ABANDONED = "abandoned", "Abandoned (worker lost)"

    class Trigger(models.TextChoices):
        PUBLISH = "publish", "New revision"
        SYNC_NOW = "sync_now", "Sync now"
        PUSH = "push", "Push now"
        RETRY = "retry", "Retry"
        DRIFT = "drift", "Drift re-apply"
        SUBSCRIBE = "subscribe", "New subscription"
        SWEEP = "sweep", "Re-queued"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    revision = models.PositiveIntegerField()
    trigger = models.CharField(max_length=20, choices=Trigger.choices, default=Trigger.PUBLISH)
    outcome = models.CharField(max_length=20, choices=Outcome.choices, default=Outcome.RUNNING)
    error_class = models.CharField(max_length=30, blank=True)
    message = models.TextField(blank=True)
    requests = models.PositiveIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["subscription", "-started_at"], name="delivery_sub_started_idx"),
            models.Index(fields=["started_at"], name="delivery_started_idx"),  # retention
        ]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"delivery of r{self.revision} ({self.outcome})"


class BrokerSwitch(models.Model):
    """The global "pause deliveries" switch: one row, id 1. Paused work stays queued."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    paused = models.BooleanField(default=False)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return "deliveries paused" if self.paused else "deliveries running"
