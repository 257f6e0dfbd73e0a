"""Monitoring: what each sweep learnt about instances, the changes it saw, alerts and rollups.

The registry's ``Instance`` carries the current status, version and "since"; everything else
monitoring needs (failure counters, pins, maintenance windows, flips, alerts, deployment
rollups) lives here.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from odcm.crypto import EncryptedField
from odcm.work import Leased
from spaces.models import Instance, Space

Status = Instance.Status


class InstanceMonitor(models.Model):
    """Per-instance monitoring state that is not shown as the instance's own fields."""

    instance = models.OneToOneField(
        Instance, primary_key=True, on_delete=models.CASCADE, related_name="monitor"
    )
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    health_description = models.CharField(max_length=500, blank=True)
    # A team that must not be upgraded pins its version: any other version is flagged.
    pinned_version = models.CharField(max_length=50, blank=True)
    # A down alert went out; the next flip to online sends a recovery alert.
    down_alerted = models.BooleanField(default=False)
    # When the outage that was alerted began: a recovery says how long it lasted.
    down_since = models.DateTimeField(null=True, blank=True)
    next_reminder_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"monitor of {self.instance_id}"

    @property
    def version_mismatch(self) -> bool:
        return bool(self.pinned_version) and self.instance.version != self.pinned_version


class MaintenanceWindow(models.Model):
    """An admin-set period in which an instance shows "maintenance" and raises no alerts."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    instance = models.ForeignKey(
        Instance, on_delete=models.CASCADE, related_name="maintenance_windows"
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-starts_at"]
        indexes = [models.Index(fields=["ends_at", "starts_at"], name="mwindow_span_idx")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")), name="mwindow_ends_after"
            )
        ]

    def __str__(self) -> str:
        return f"maintenance of {self.instance_id} {self.starts_at:%Y-%m-%d %H:%M}"


class StatusFlip(models.Model):
    """One change of an instance's status: the source of timelines and alerts."""

    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="flips")
    from_status = models.CharField(max_length=20, choices=Status.choices)
    to_status = models.CharField(max_length=20, choices=Status.choices)
    at = models.DateTimeField()
    reason = models.CharField(max_length=500, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["instance", "at"], name="flip_instance_at_idx")]

    def __str__(self) -> str:
        return f"{self.instance_id}: {self.from_status} -> {self.to_status}"


class VersionChange(models.Model):
    """The Octopus version an instance reports changed between two sweeps."""

    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="version_changes")
    from_version = models.CharField(max_length=50)
    to_version = models.CharField(max_length=50)
    pinned_version = models.CharField(max_length=50, blank=True)
    unexpected = models.BooleanField(default=False)
    at = models.DateTimeField()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["instance", "at"], name="vchange_instance_at_idx")]

    def __str__(self) -> str:
        return f"{self.instance_id}: {self.from_version} -> {self.to_version}"


class Alert(models.Model):
    """Something people must hear about; planned into one Notification per recipient once."""

    class Kind(models.TextChoices):
        OFFLINE = "offline", "Offline"
        UNHEALTHY = "unhealthy", "Unhealthy"
        RECOVERED = "recovered", "Recovered"
        VERSION = "version", "Unexpected version"
        REMINDER = "reminder", "Still down"
        TEST = "test", "Test alert"
        QUEUE = "queue", "Queue waiting"
        QUEUE_CLEARED = "queue_cleared", "Queue moving again"

    class State(models.TextChoices):
        NEW = "new", "New"
        PLANNED = "planned", "Notifications planned"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    flip = models.ForeignKey(StatusFlip, null=True, blank=True, on_delete=models.CASCADE)
    version_change = models.ForeignKey(
        VersionChange, null=True, blank=True, on_delete=models.CASCADE
    )
    status = models.CharField(max_length=20, choices=Status.choices)
    since = models.DateTimeField()
    last_error = models.TextField(blank=True)
    detail = models.CharField(max_length=500, blank=True)
    # A recovery: when the outage began (the message says how long it lasted).
    down_since = models.DateTimeField(null=True, blank=True)
    # A queue alert: the space whose tasks wait.
    space = models.ForeignKey(
        Space, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # A test alert: who asked for it.
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    state = models.CharField(max_length=20, choices=State.choices, default=State.NEW)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["state", "created_at"], name="alert_state_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["flip"], condition=models.Q(flip__isnull=False), name="alert_one_per_flip"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} alert for {self.instance_id}"


class Outbound(Leased):
    """One message to send once: a row before sending, its outcome after. The worker sending
    it holds its lease (``odcm.work``: ``claim_token``, ``claimed_until``). Emails
    (``Notification``) and channel posts (``ChannelDelivery``) share the claim, the lease and
    the backoff (``monitoring.services.outbox``)."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_error = models.TextField(blank=True)
    last_duration_ms = models.PositiveIntegerField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True


class Notification(Outbound):
    """One email for one alert and one recipient: a row before sending, its outcome after."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="notifications")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    email = models.EmailField()
    message_id = models.CharField(max_length=200)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["alert", "user"], name="notification_once_per_user")
        ]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="notification_due_idx"),
        ]

    def __str__(self) -> str:
        return f"notification {self.id} ({self.state})"


class AlertChannel(models.Model):
    """Somewhere besides email that alerts go: a generic webhook (JSON signed with HMAC-SHA256),
    or a Slack or Microsoft Teams incoming webhook. The URL (which carries the channel's token)
    and the signing secret are encrypted at rest and never shown again."""

    class Kind(models.TextChoices):
        WEBHOOK = "webhook", "Webhook (JSON, signed)"
        SLACK = "slack", "Slack incoming webhook"
        TEAMS = "teams", "Microsoft Teams incoming webhook"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    url = EncryptedField()
    # Where the URL points, for the page (scheme and host only: the path is the secret).
    url_host = models.CharField(max_length=300, blank=True)
    secret = EncryptedField()
    enabled = models.BooleanField(default=True)
    all_instances = models.BooleanField("Every instance", default=True)
    instances = models.ManyToManyField(Instance, blank=True, related_name="alert_channels")
    on_offline = models.BooleanField("Offline", default=True)
    on_unhealthy = models.BooleanField("Unhealthy", default=True)
    on_recovered = models.BooleanField("Back online", default=True)
    on_version = models.BooleanField("Unexpected version change", default=True)
    on_reminder = models.BooleanField("Reminders while down", default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    def wants(self, kind: str) -> bool:
        return bool(getattr(self, f"on_{kind}", False))


class ChannelDelivery(Outbound):
    """One post of one alert to one channel, with its own retries and outcome."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="channel_deliveries")
    channel = models.ForeignKey(AlertChannel, on_delete=models.CASCADE, related_name="deliveries")
    last_status_code = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "channel deliveries"
        constraints = [
            models.UniqueConstraint(fields=["alert", "channel"], name="channeldelivery_once")
        ]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="channeldelivery_due_idx"),
        ]

    def __str__(self) -> str:
        return f"channel delivery {self.id} ({self.state})"


class AlertSettings(models.Model):
    """Which alerts a user wants: events, and instances (owned, all visible, or chosen).

    Administrators hear about every instance unless they turn ``as_administrator`` off, so a
    fresh installation alerts someone without any setup."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="alert_settings",
    )
    on_offline = models.BooleanField("Offline", default=True)
    on_unhealthy = models.BooleanField("Unhealthy", default=True)
    on_recovered = models.BooleanField("Back online", default=True)
    on_version = models.BooleanField("Unexpected version change", default=True)
    on_reminder = models.BooleanField("Reminders while down", default=True)
    owned_instances = models.BooleanField("Instances I own", default=True)
    all_instances = models.BooleanField("Every instance I can see", default=False)
    as_administrator = models.BooleanField(
        "Every instance, as an administrator",
        default=True,
        help_text="Administrators are alerted about every instance unless they turn this off.",
    )
    instances = models.ManyToManyField(Instance, blank=True, related_name="alert_subscribers")

    def __str__(self) -> str:
        return f"alert settings of user {self.user_id}"

    def wants(self, kind: str) -> bool:
        return bool(getattr(self, f"on_{kind}", False))


class SweepRun(Leased):
    """The last run of each periodic job. A run holds the row's lease (``odcm.work``) while it
    lasts, so two schedulers' runs never overlap."""

    name = models.CharField(max_length=30, primary_key=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    items = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return self.name


class DeploymentCursor(models.Model):
    """How far the deployment pull of one space has read (by task completion time)."""

    space = models.OneToOneField(
        Space, primary_key=True, on_delete=models.CASCADE, related_name="deployment_cursor"
    )
    watermark = models.DateTimeField(null=True, blank=True)
    last_pull_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"cursor of {self.space_id}"


class DeploymentTask(models.Model):
    """A finished Deploy task counted once (the unique key is what stops double counting)."""

    id = models.BigAutoField(primary_key=True)
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="+")
    task_id = models.CharField(max_length=50)
    day = models.DateField()
    environment_id = models.CharField(max_length=50)
    state = models.CharField(max_length=12)
    duration_seconds = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["space", "task_id"], name="deploytask_once")]
        indexes = [models.Index(fields=["day"], name="deploytask_day_idx")]  # retention

    def __str__(self) -> str:
        return self.task_id


class _Counts(models.Model):
    succeeded = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    canceled = models.PositiveIntegerField(default=0)
    timed_out = models.PositiveIntegerField(default=0)
    total_duration_seconds = models.BigIntegerField(default=0)

    class Meta:
        abstract = True


class DeploymentDay(_Counts):
    """Finished deployments per space, day (of queueing, UTC) and environment."""

    id = models.BigAutoField(primary_key=True)
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    environment_id = models.CharField(max_length=50)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["space", "day", "environment_id"], name="deployday_unique"
            )
        ]
        # Retention folds old days into months by date range.
        indexes = [models.Index(fields=["day"], name="deployday_day_idx")]

    def __str__(self) -> str:
        return f"{self.space_id} {self.day} {self.environment_id}"


class SpaceDay(_Counts):
    """The same figures summed over environments: what the dashboard reads.

    ``run_*`` are the space's running totals through this day (every row of the space with
    ``day <=`` this one; ``run_failed`` includes timed-out deployments, as the dashboard
    counts them; ``run_days`` counts the rows themselves), so any window's sum (or row count)
    is two index probes per space: the running total at the window's last row minus the one
    just before its first. On PostgreSQL a trigger keeps them true after every write to this
    table, whoever makes it (the pull, retention's compaction, a bulk load, a test): see
    migrations 0009 and 0010 and docs/architecture.md.
    """

    id = models.BigAutoField(primary_key=True)
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    run_succeeded = models.BigIntegerField(default=0, db_default=0, editable=False)
    run_failed = models.BigIntegerField(default=0, db_default=0, editable=False)
    run_canceled = models.BigIntegerField(default=0, db_default=0, editable=False)
    run_days = models.BigIntegerField(default=0, db_default=0, editable=False)

    class Meta:
        # Both indexes cover the figures, so the dashboard's reads are index-only scans: by day
        # over many spaces (the chart), and by space (a probe for the running totals).
        constraints = [
            models.UniqueConstraint(
                fields=["space", "day"],
                include=[
                    "succeeded",
                    "failed",
                    "timed_out",
                    "canceled",
                    "run_succeeded",
                    "run_failed",
                    "run_canceled",
                    "run_days",
                ],
                name="spaceday_unique",
            )
        ]
        indexes = [
            models.Index(
                fields=["day", "space"],
                include=["succeeded", "failed", "timed_out", "canceled"],
                name="spaceday_day_cover_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.space_id} {self.day}"


class SpaceTotal(_Counts):
    """Every deployment ever counted for a space: what /metrics reads, one row per space, so a
    scrape costs the same however much history the rollups hold (and survives their pruning)."""

    space = models.OneToOneField(
        Space, primary_key=True, on_delete=models.CASCADE, related_name="+"
    )

    def __str__(self) -> str:
        return f"totals of {self.space_id}"


class InstanceNode(models.Model):
    """One Octopus Server node of an instance as the last status sweep saw it (from
    ``/api/octopusservernodes``). Octopus has no separate draining flag: a node in
    maintenance mode is draining (it finishes its tasks and takes no new ones)."""

    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="nodes")
    octopus_id = models.CharField(max_length=100)
    name = models.CharField(max_length=200)
    max_tasks = models.PositiveIntegerField(default=0)
    in_maintenance = models.BooleanField(default=False)
    offline = models.BooleanField(default=False)
    last_seen = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["instance", "octopus_id"], name="instancenode_unique")
        ]

    def __str__(self) -> str:
        return f"{self.instance_id} {self.name}"


class SpaceQueue(models.Model):
    """A space's share of its instance's task queue at the last status sweep: tasks queued and
    executing, and since when the oldest queued task has waited. ``alerted`` is set while a
    queue alert is open (the recovery email clears it)."""

    space = models.OneToOneField(
        Space, primary_key=True, on_delete=models.CASCADE, related_name="queue"
    )
    queued = models.PositiveIntegerField(default=0)
    executing = models.PositiveIntegerField(default=0)
    oldest_queued_at = models.DateTimeField(null=True, blank=True)
    alerted = models.BooleanField(default=False)
    updated_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(
                fields=["oldest_queued_at"],
                condition=models.Q(oldest_queued_at__isnull=False),
                name="spacequeue_waiting_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.space_id}: {self.queued} queued, {self.executing} executing"
