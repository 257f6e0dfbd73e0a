"""Managed spaces: blueprints that say what a space must contain, applied through a broker.

A :class:`Blueprint` is a named description kept as immutable numbered
:class:`BlueprintRevision` rows (content by name, secrets sealed on the row). Each space it is
assigned to holds one :class:`BlueprintTarget`: the unit of work a worker claims (an
``odcm.work`` lease), with the space's plan, status, error and what this blueprint created
there (the only things "prune" may delete). Every attempt leaves a :class:`BlueprintApply` row.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models

from odcm.crypto import EncryptedField
from odcm.work import Leased
from spaces.models import Space, Tag


class ManagedParent(models.Model):
    """What a blueprint and an instance baseline share: a name, numbered revisions and the
    region rule (``on_drift``, whose labels differ, and the tag rule are on each)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    regions = models.JSONField(default=list, blank=True)
    latest_revision = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    on_drift: str  # report | reapply

    class Meta:
        abstract = True
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ManagedRevision(models.Model):
    """What a blueprint's and a baseline's numbered revisions share (the parent's foreign
    key, named after the parent, is on each concrete model)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    number = models.PositiveIntegerField()
    content = models.JSONField(default=dict)
    secrets = EncryptedField()
    comment = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True


class ManagedTarget(Leased):
    """What a blueprint's space target and a baseline's instance target share: the unit of
    work a worker claims, its plan, status, drift and what the apply created there. The
    parent, the place (space or instance) and ``via`` are on each concrete model."""

    class Status(models.TextChoices):
        PENDING = "pending", "Not applied"
        QUEUED = "queued", "Queued"
        APPLYING = "applying", "Applying"
        APPLIED = "applied", "Applied"
        FAILED = "failed", "Failed"
        DRIFTED = "drifted", "Drifted"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    # The revision an apply should reach, and the one last applied in full.
    target_revision = models.PositiveIntegerField(null=True, blank=True)
    applied_revision = models.PositiveIntegerField(null=True, blank=True)
    prune = models.BooleanField(default=False)  # the queued apply also deletes what it created
    # What the apply created there, by kind (prune deletes only these). ``intended`` lists
    # creations about to be attempted, so a worker killed between a POST and its
    # bookkeeping adopts the item on the next attempt.
    created = models.JSONField(default=dict, blank=True)
    intended = models.JSONField(default=dict, blank=True)
    # {"<kind>/<name>": digest} of the secrets last written (Octopus never returns them).
    secret_digests = models.JSONField(default=dict, blank=True)
    plan = models.JSONField(default=dict, blank=True)  # the last plan
    planned_at = models.DateTimeField(null=True, blank=True)
    planned_revision = models.PositiveIntegerField(null=True, blank=True)
    drift = models.JSONField(default=list, blank=True)  # changes found by the last check
    checked_at = models.DateTimeField(null=True, blank=True)
    failures = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True

    def plan_summary(self) -> dict[str, Any]:
        counts: dict[str, Any] = (self.plan or {}).get("counts", {})
        return counts


class ManagedApply(models.Model):
    """What an apply attempt records, for a blueprint's space or a baseline's instance
    (the ``target`` foreign key is on each concrete model)."""

    class Outcome(models.TextChoices):
        RUNNING = "running", "Running"
        APPLIED = "applied", "Applied"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    revision = models.PositiveIntegerField()
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.RUNNING)
    created = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0)
    deleted = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


class Blueprint(ManagedParent):
    """What a managed space must contain (environments, lifecycles, feeds, …), by name."""

    class OnDrift(models.TextChoices):
        REPORT = "report", "Report drift"
        REAPPLY = "reapply", "Re-apply the blueprint"

    # The space the platform team manages it from (optional: administrators manage all).
    management_space = models.ForeignKey(
        Space, null=True, blank=True, on_delete=models.SET_NULL, related_name="blueprints_managed"
    )
    on_drift = models.CharField(max_length=10, choices=OnDrift.choices, default=OnDrift.REPORT)
    # Assignment rules besides explicit targets: every space of instances with these tags or
    # in these regions (applied by services.blueprints.sync_targets).
    instance_tags = models.ManyToManyField(Tag, blank=True, related_name="+")


class BlueprintRevision(ManagedRevision):
    """One immutable version: ``content`` holds no secret; ``secrets`` is sealed JSON
    (``"feeds/<name>"`` or ``"git_credentials/<name>"`` -> password)."""

    blueprint = models.ForeignKey(Blueprint, on_delete=models.CASCADE, related_name="revisions")

    class Meta:
        ordering = ["blueprint", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["blueprint", "number"], name="blueprint_revision_unique_number"
            )
        ]

    def __str__(self) -> str:
        return f"{self.blueprint} r{self.number}"


class BlueprintTarget(ManagedTarget):
    """A blueprint assigned to one space: its plan, its status and what it created there
    (``created`` is {kind: {lower name: Octopus id}})."""

    class Via(models.TextChoices):
        EXPLICIT = "explicit", "Chosen"
        TAG = "tag", "Instance tag"
        REGION = "region", "Region"

    blueprint = models.ForeignKey(Blueprint, on_delete=models.CASCADE, related_name="targets")
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="blueprint_targets")
    via = models.CharField(max_length=10, choices=Via.choices, default=Via.EXPLICIT)

    class Meta:
        ordering = ["blueprint", "space__name"]
        constraints = [
            models.UniqueConstraint(
                fields=["blueprint", "space"], name="blueprint_target_unique_space"
            )
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="blueprint_target_due"),
        ]

    def __str__(self) -> str:
        return f"{self.blueprint} -> {self.space}"


class BlueprintApply(ManagedApply):
    """One attempt to bring a space to a blueprint revision (before and after)."""

    target = models.ForeignKey(BlueprintTarget, on_delete=models.CASCADE, related_name="applies")

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["target", "-started_at"], name="blueprint_apply_recent")]

    def __str__(self) -> str:
        return f"apply r{self.revision} {self.outcome}"


class TemplateProject(models.Model):
    """A project in a management space that is serialized and pushed to other spaces."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="template_projects")
    name = models.CharField(max_length=200)  # the project's name in the management space
    octopus_project_id = models.CharField(max_length=50)
    latest_revision = models.PositiveIntegerField(default=0)
    # Sensitive values entered on the template's page: sealed JSON, variable name -> value.
    secret_values = EncryptedField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["space", "octopus_project_id"], name="template_project_unique_project"
            )
        ]

    def __str__(self) -> str:
        return self.name


class TemplateRevision(models.Model):
    """An immutable serialized version of a template project (no sensitive value in it)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    template = models.ForeignKey(
        TemplateProject, on_delete=models.CASCADE, related_name="revisions"
    )
    number = models.PositiveIntegerField()
    document = models.JSONField(default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["template", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["template", "number"], name="template_revision_unique_number"
            )
        ]

    def __str__(self) -> str:
        return f"{self.template} r{self.number}"


class Downstream(Leased):
    """A template project pushed to one space: overrides, merge base, conflicts, status."""

    class Mode(models.TextChoices):
        AUTOMATIC = "automatic", "Automatic"
        ON_DEMAND = "on_demand", "On demand"
        PINNED = "pinned", "Pinned"

    class Status(models.TextChoices):
        PENDING = "pending", "Not pushed"
        UPDATE_AVAILABLE = "update_available", "Update available"
        QUEUED = "queued", "Queued"
        PUSHING = "pushing", "Pushing"
        IN_SYNC = "in_sync", "In sync"
        CONFLICT = "conflict", "Conflict"
        MISSING_DEPENDENCY = "missing_dependency", "Missing dependency"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    template = models.ForeignKey(
        TemplateProject, on_delete=models.CASCADE, related_name="downstreams"
    )
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="downstream_projects")
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.AUTOMATIC)
    pinned_revision = models.PositiveIntegerField(null=True, blank=True)
    # Overrides held by ODCM: {"name", "variables": {name: value}, "disabled_steps": [...],
    # "step_properties": {step: {property: value}}}; sensitive values sealed apart.
    overrides = models.JSONField(default=dict, blank=True)
    secret_values = EncryptedField()
    octopus_project_id = models.CharField(max_length=50, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    target_revision = models.PositiveIntegerField(null=True, blank=True)
    applied_revision = models.PositiveIntegerField(null=True, blank=True)
    base = models.JSONField(default=dict, blank=True)  # units last applied (the merge base)
    conflicts = models.JSONField(default=list, blank=True)
    resolutions = models.JSONField(default=dict, blank=True)  # unit key -> upstream|downstream
    missing = models.JSONField(default=list, blank=True)
    # keyed digest of the sensitive values last written (Octopus never returns them)
    secrets_digest = models.CharField(max_length=64, blank=True)
    needs_values = models.JSONField(default=list, blank=True)
    failures = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    pushed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["template", "space__name"]
        constraints = [
            models.UniqueConstraint(fields=["template", "space"], name="downstream_unique_space")
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="downstream_due")]

    def __str__(self) -> str:
        return f"{self.template} -> {self.space}"


class Split(Leased):
    """Projects copied out of a crowded space into another one (same or another instance).

    The plan lists the projects and what they depend on (matched by name: "exists in
    target" or "will be copied"); a worker claims the row, copies dependencies then
    projects, verifies by comparing the serialized source and target projects, and only then
    (if asked) disables or deletes the source projects. Everything is matched by name, and
    what it is about to create is written down first (``intended``), so a retry or a killed
    worker never creates anything twice."""

    class Status(models.TextChoices):
        PLANNED = "planned", "Planned"
        BLOCKED = "blocked", "Cannot run"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Copying"
        VERIFIED = "verified", "Copied and verified"
        MISMATCH = "mismatch", "Copied, verification found differences"
        FAILED = "failed", "Failed"

    class SourceAction(models.TextChoices):
        KEEP = "keep", "Leave the source projects alone"
        DISABLE = "disable", "Disable the source projects once verified"
        DELETE = "delete", "Delete the source projects once verified"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    source = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="splits_out")
    target = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="splits_in")
    projects = models.JSONField(default=list)  # names in the source space
    source_action = models.CharField(
        max_length=10, choices=SourceAction.choices, default=SourceAction.KEEP
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PLANNED)
    plan = models.JSONField(default=dict, blank=True)  # services.split.plan's answer
    # {kind: [lower names]} this split created in the target, and is about to create.
    created = models.JSONField(default=dict, blank=True)
    intended = models.JSONField(default=dict, blank=True)
    verification = models.JSONField(default=dict, blank=True)  # {project: [unit differences]}
    needs_values = models.JSONField(default=list, blank=True)  # sensitive values to enter
    source_done = models.CharField(max_length=10, blank=True)  # disabled | deleted
    failures = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="split_due")]

    def __str__(self) -> str:
        return f"split {self.source} -> {self.target}"


class Customer(Leased):
    """A customer with a facade space: one-step projects that start tenanted deployments of
    the management space's projects, for this customer's tenant."""

    class Status(models.TextChoices):
        PENDING = "pending", "Not set up"
        QUEUED = "queued", "Queued"
        SYNCING = "syncing", "Setting up"
        IN_STEP = "in_step", "In step"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    group = models.ForeignKey(
        "identity.Group", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    management_space = models.ForeignKey(
        Space, on_delete=models.CASCADE, related_name="facade_customers"
    )
    blueprint = models.ForeignKey(
        Blueprint, null=True, blank=True, on_delete=models.SET_NULL, related_name="customers"
    )
    facade_space = models.ForeignKey(
        Space, null=True, blank=True, on_delete=models.SET_NULL, related_name="facade_of"
    )
    tenant_id = models.CharField(max_length=50, blank=True)  # in the management space

    class KeySource(models.TextChoices):
        ODCM = "odcm", "ODCM's service account"
        MANUAL = "manual", "Entered by a person"

    # The key the facade steps call the management instance with (sealed, never shown).
    api_key = EncryptedField()
    api_key_digest = models.CharField(max_length=64, blank=True)  # last one written
    # Where the key comes from: ODCM makes a service-account user in the management
    # instance (a team in the management space, "Deployment creator" scoped to the tenant)
    # and a key for it, or a person enters one (instances where ODCM's key lacks the rights).
    key_source = models.CharField(max_length=10, choices=KeySource.choices, default="odcm")
    service_user_id = models.CharField(max_length=50, blank=True)  # Users-N
    service_team_id = models.CharField(max_length=50, blank=True)  # Teams-N
    # ApiKeys-N of ``api_key``; once it is delivered, the user's other keys are deleted.
    api_key_id = models.CharField(max_length=50, blank=True)
    rotate_requested_at = models.DateTimeField(null=True, blank=True)
    # {management project id: facade project id}; ``intended`` before a facade is created.
    facades = models.JSONField(default=dict, blank=True)
    intended = models.JSONField(default=dict, blank=True)
    orphans = models.JSONField(default=list, blank=True)  # facades whose project is gone
    notes = models.JSONField(default=list, blank=True)  # what stops a facade from working
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    failures = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["management_space", "name"], name="customer_unique_name"
            )
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="customer_due")]

    def __str__(self) -> str:
        return self.name


class InstanceBaseline(ManagedParent):
    """The same settings on many instances (SMTP, sign-in providers, event subscriptions,
    maintenance, retention), kept as numbered :class:`BaselineRevision` rows. An instance
    follows at most one baseline (two would undo each other's writes)."""

    class OnDrift(models.TextChoices):
        REPORT = "report", "Report drift"
        REAPPLY = "reapply", "Re-apply the baseline"

    on_drift = models.CharField(max_length=10, choices=OnDrift.choices, default=OnDrift.REPORT)
    # Assignment rules besides explicit targets (services.baselines.sync_targets).
    all_instances = models.BooleanField(default=False)
    instance_tags = models.ManyToManyField(Tag, blank=True, related_name="+")


class BaselineRevision(ManagedRevision):
    """One immutable version: ``content`` holds no secret; ``secrets`` is sealed JSON
    (``"smtp/password"``, ``"okta/client_secret"``, ``"subscriptions/<name>/header"``)."""

    baseline = models.ForeignKey(
        InstanceBaseline, on_delete=models.CASCADE, related_name="revisions"
    )

    class Meta:
        ordering = ["baseline", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["baseline", "number"], name="baseline_revision_unique_number"
            )
        ]

    def __str__(self) -> str:
        return f"{self.baseline} r{self.number}"


class BaselineTarget(ManagedTarget):
    """A baseline assigned to one instance: its plan, status and drift (one per instance).
    ``created`` is {"subscriptions": {lower name: Octopus id}, "subscription_spaces": {lower
    name: space id}}: the only subscriptions prune may delete."""

    class Via(models.TextChoices):
        EXPLICIT = "explicit", "Chosen"
        ALL = "all", "All instances"
        TAG = "tag", "Instance tag"
        REGION = "region", "Region"

    baseline = models.ForeignKey(InstanceBaseline, on_delete=models.CASCADE, related_name="targets")
    instance = models.ForeignKey(
        "spaces.Instance", on_delete=models.CASCADE, related_name="baseline_targets"
    )
    via = models.CharField(max_length=10, choices=Via.choices, default=Via.EXPLICIT)

    class Meta:
        ordering = ["baseline", "instance__name"]
        constraints = [
            models.UniqueConstraint(fields=["instance"], name="baseline_target_one_per_instance")
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="baseline_target_due"),
        ]

    def __str__(self) -> str:
        return f"{self.baseline} -> {self.instance}"


class BaselineApply(ManagedApply):
    """One attempt to bring an instance to a baseline revision (before and after)."""

    target = models.ForeignKey(BaselineTarget, on_delete=models.CASCADE, related_name="applies")

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["target", "-started_at"], name="baseline_apply_recent")]

    def __str__(self) -> str:
        return f"baseline apply r{self.revision} {self.outcome}"
