"""Staged rollouts: a policy of ordered waves for a deliverable, and each revision's rollout.

A :class:`RolloutPolicy` belongs to one *subject* of one *target kind* (today a shared item
of the sharing broker; ``rollouts/registry.py`` lets other apps add kinds). Its
:class:`PolicyWave` rows say which targets go in which wave. When the subject gets a new
revision, a :class:`Rollout` snapshots the waves (:class:`RolloutWave`) and the targets in
each (:class:`RolloutTarget`), delivers wave 1, and advances wave by wave. The rollout row is
leased (``odcm.work``) by the worker advancing it; a wave starts through a conditional UPDATE
on its state, so it never starts twice.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from odcm.work import Leased


class RolloutPolicy(models.Model):
    """How revisions of one subject roll out: ordered waves, a failure limit, soak, approval."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=50)
    subject_id = models.UUIDField()
    # Halt when more targets of a wave failed than this many …
    max_failures = models.PositiveIntegerField(default=0)
    # … or than this fraction of the wave (0: only the count applies).
    max_failure_ratio = models.FloatField(default=0.0)
    soak_seconds = models.PositiveIntegerField(default=300)
    # Members of this group approve each wave after the first (none: no approval).
    approval_group = models.ForeignKey(
        "identity.Group", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "subject_id"], name="rolloutpolicy_unique"),
            models.CheckConstraint(
                condition=Q(max_failure_ratio__gte=0) & Q(max_failure_ratio__lte=1),
                name="rolloutpolicy_ratio_range",
            ),
        ]
        verbose_name_plural = "rollout policies"

    def __str__(self) -> str:
        return f"rollout policy of {self.kind} {self.subject_id}"


class PolicyWave(models.Model):
    """One wave of a policy: explicit spaces, an instance tag, a region, or a percentage of
    the targets no earlier wave took. Targets no wave takes form a final wave."""

    class Selector(models.TextChoices):
        SPACES = "spaces", "Explicit spaces"
        TAG = "tag", "Instance tag"
        REGION = "region", "Region"
        PERCENT = "percent", "Percentage of the remaining targets"

    policy = models.ForeignKey(RolloutPolicy, on_delete=models.CASCADE, related_name="waves")
    position = models.PositiveIntegerField()
    name = models.CharField(max_length=100, blank=True)
    selector = models.CharField(max_length=20, choices=Selector.choices)
    spaces = models.ManyToManyField("spaces.Space", blank=True, related_name="+")
    value = models.CharField(max_length=100, blank=True)  # the tag or region
    percent = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["policy", "position"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "position"], name="policywave_unique"),
        ]

    def __str__(self) -> str:
        return self.name or f"wave {self.position}"


class Rollout(Leased):
    """One revision of a subject going out wave by wave."""

    class State(models.TextChoices):
        RUNNING = "running", "Running"
        WAITING_APPROVAL = "waiting_approval", "Waiting for approval"
        PAUSED = "paused", "Paused"
        HALTED = "halted", "Halted"
        COMPLETED = "completed", "Completed"
        ABORTED = "aborted", "Aborted"
        SUPERSEDED = "superseded", "Superseded by a newer revision"
        ROLLING_BACK = "rolling_back", "Rolling back"
        ROLLED_BACK = "rolled_back", "Rolled back"

    ACTIVE = (State.RUNNING, State.WAITING_APPROVAL, State.PAUSED, State.HALTED)
    MOVING = (State.RUNNING, State.ROLLING_BACK)  # what the beat advances

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    policy = models.ForeignKey(
        RolloutPolicy, null=True, on_delete=models.SET_NULL, related_name="rollouts"
    )
    kind = models.CharField(max_length=50)
    subject_id = models.UUIDField()
    revision = models.PositiveIntegerField()
    previous_revision = models.PositiveIntegerField(default=0)
    state = models.CharField(max_length=20, choices=State.choices, default=State.RUNNING)
    # Copied from the policy when the rollout starts: a later policy edit changes the next one.
    max_failures = models.PositiveIntegerField(default=0)
    max_failure_ratio = models.FloatField(default=0.0)
    soak_seconds = models.PositiveIntegerField(default=0)
    approval_group = models.ForeignKey(
        "identity.Group", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.TextField(blank=True)  # why it halted / waits, for people
    # Set when the owners were told of the latest halt (claimed once: no second email).
    halt_notified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "subject_id"],
                condition=Q(state__in=["running", "waiting_approval", "paused", "halted"]),
                name="rollout_one_active_per_subject",
            ),
        ]
        indexes = [models.Index(fields=["state"], name="rollout_state_idx")]

    def __str__(self) -> str:
        return f"rollout of r{self.revision}"


class RolloutWave(models.Model):
    """A rollout's copy of one wave, and where it stands."""

    class State(models.TextChoices):
        WAITING = "waiting", "Waiting"
        DELIVERING = "delivering", "Delivering"
        SOAKING = "soaking", "Soaking"
        DONE = "done", "Done"
        HALTED = "halted", "Halted"

    rollout = models.ForeignKey(Rollout, on_delete=models.CASCADE, related_name="waves")
    position = models.PositiveIntegerField()
    name = models.CharField(max_length=100)
    state = models.CharField(max_length=20, choices=State.choices, default=State.WAITING)
    started_at = models.DateTimeField(null=True, blank=True)
    soak_until = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["rollout", "position"]
        constraints = [
            models.UniqueConstraint(fields=["rollout", "position"], name="rolloutwave_unique"),
        ]

    def __str__(self) -> str:
        return self.name


class RolloutTarget(models.Model):
    """One target (a subscription) of a rollout, in its wave, with its outcome."""

    class State(models.TextChoices):
        WAITING = "waiting", "Waiting for its wave"
        DELIVERING = "delivering", "Delivering"
        SUCCEEDED = "succeeded", "Delivered"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"
        ROLLED_BACK = "rolled_back", "Rolled back"

    rollout = models.ForeignKey(Rollout, on_delete=models.CASCADE, related_name="targets")
    wave = models.ForeignKey(RolloutWave, on_delete=models.CASCADE, related_name="targets")
    key = models.UUIDField()  # the kind's id of the target (a subscription)
    space = models.ForeignKey("spaces.Space", on_delete=models.CASCADE, related_name="+")
    # Set when the target is a whole instance (an instance baseline): ``space`` then only
    # stands for it, and pages show the instance.
    instance = models.ForeignKey(
        "spaces.Instance", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    state = models.CharField(max_length=20, choices=State.choices, default=State.WAITING)
    # What the target held when the rollout started: a rollback delivers it again.
    previous_revision = models.PositiveIntegerField(default=0)
    message = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["wave__position", "space__name"]
        constraints = [
            models.UniqueConstraint(fields=["rollout", "key"], name="rollouttarget_unique"),
        ]

    def __str__(self) -> str:
        return f"target {self.key}"


class DeploymentRun(Leased):
    """A release of one project deployed to many spaces (across instances), wave by wave.
    The worker following it holds its lease; a wave starts through a conditional UPDATE."""

    class State(models.TextChoices):
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        STOPPED = "stopped", "Stopped: too many failures"
        CANCELLED = "cancelled", "Cancelled"

    # Followed (polled) while running, and after a cancel until Octopus has stopped its tasks.
    FOLLOWED = (State.RUNNING, State.CANCELLED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.CharField(max_length=200)  # by name: the same project in every space
    # The template project (managed) whose downstream copies this run deploys; each row then
    # names its copy's project (a copy may be renamed per space).
    template_id = models.UUIDField(null=True, blank=True)
    # With a template: copies pushed after the start join the run too, each wave adding, when
    # it starts, the new copies that belong to it (orchestration.join_new_copies).
    new_copies = models.BooleanField(default=False)
    release = models.CharField(max_length=100, blank=True)  # a version; blank: the latest
    channel = models.CharField(max_length=200, blank=True)  # for "latest": in this channel
    environment = models.CharField(max_length=200)
    tenants = models.JSONField(default=list, blank=True)  # names; empty: untenanted
    max_failures = models.PositiveIntegerField(default=0)
    # Also stop when more than this fraction of the deployments started so far failed (0: off).
    max_failure_ratio = models.FloatField(default=0.0)
    state = models.CharField(max_length=20, choices=State.choices, default=State.RUNNING)
    reason = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    polled_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["state"], name="deploymentrun_state_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(max_failure_ratio__gte=0) & Q(max_failure_ratio__lte=1),
                name="deploymentrun_ratio_range",
            ),
        ]

    def __str__(self) -> str:
        return f"deployment of {self.project} {self.release or 'latest'} to {self.environment}"


class RunWave(models.Model):
    """One wave of a deployment run."""

    class State(models.TextChoices):
        WAITING = "waiting", "Waiting"
        RUNNING = "running", "Running"
        DONE = "done", "Done"

    run = models.ForeignKey(DeploymentRun, on_delete=models.CASCADE, related_name="waves")
    position = models.PositiveIntegerField()
    # How the wave was chosen (a policy wave's selector; its tag or region): a copy pushed
    # after the start joins the first wave whose tag or region takes it. Blank: the spaces no
    # wave took, or waves given as lists of spaces (the API).
    selector = models.CharField(max_length=20, blank=True)
    value = models.CharField(max_length=200, blank=True)
    state = models.CharField(max_length=20, choices=State.choices, default=State.WAITING)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "position"]
        constraints = [
            models.UniqueConstraint(fields=["run", "position"], name="runwave_unique"),
        ]

    def __str__(self) -> str:
        return f"wave {self.position}"


class RunDeployment(models.Model):
    """One deployment of a run in one space, and its Octopus server task."""

    class State(models.TextChoices):
        WAITING = "waiting", "Waiting for its wave"
        QUEUED = "queued", "Queued in Octopus"
        EXECUTING = "executing", "Executing"
        SUCCESS = "success", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        NOT_STARTED = "not_started", "Not started"

    FINISHED = (State.SUCCESS, State.FAILED, State.CANCELLED, State.NOT_STARTED)
    IN_OCTOPUS = (State.QUEUED, State.EXECUTING)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    run = models.ForeignKey(DeploymentRun, on_delete=models.CASCADE, related_name="deployments")
    wave = models.ForeignKey(RunWave, on_delete=models.CASCADE, related_name="deployments")
    space = models.ForeignKey("spaces.Space", on_delete=models.CASCADE, related_name="+")
    tenant = models.CharField(max_length=200, blank=True)  # blank: untenanted
    # The project's name in this space when it is not the run's (a template's downstream copy).
    project = models.CharField(max_length=200, blank=True)
    state = models.CharField(max_length=20, choices=State.choices, default=State.WAITING)
    release = models.CharField(max_length=100, blank=True)  # the version deployed
    deployment_id = models.CharField(max_length=50, blank=True)
    task_id = models.CharField(max_length=50, blank=True)
    task_state = models.CharField(max_length=30, blank=True)  # Octopus's own word
    message = models.TextField(blank=True)
    # A manual intervention (or guided failure) waiting in Octopus.
    interruption_id = models.CharField(max_length=50, blank=True)
    interruption_title = models.CharField(max_length=300, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["wave__position", "space__name"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "space", "tenant"], name="rundeployment_unique_space"
            ),
        ]
        indexes = [models.Index(fields=["run", "state"], name="rundeployment_state_idx")]

    def __str__(self) -> str:
        return f"deployment in {self.space_id}"

    @property
    def project_name(self) -> str:
        return self.project or self.run.project


class Pipeline(models.Model):
    """Ordered stages (dev, test, prod) a change passes through, one after another: a
    revision reaches stage N+1 only after it soaked cleanly in stage N (and was approved, if
    the stage asks). Stages are also the order Octopus Server upgrades are expected in."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PipelineStage(models.Model):
    """One stage: its spaces, chosen by explicit spaces, whole instances, an instance tag or
    a region. A space in several stages belongs to the first."""

    class Selector(models.TextChoices):
        SPACES = "spaces", "Explicit spaces"
        INSTANCES = "instances", "Instances"
        TAG = "tag", "Instance tag"
        REGION = "region", "Region"

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="stages")
    position = models.PositiveIntegerField()
    name = models.CharField(max_length=100)
    selector = models.CharField(max_length=20, choices=Selector.choices)
    spaces = models.ManyToManyField("spaces.Space", blank=True, related_name="+")
    instances = models.ManyToManyField("spaces.Instance", blank=True, related_name="+")
    value = models.CharField(max_length=100, blank=True)  # the tag or region
    # How long a revision must stay clean here before the next stage may take it.
    soak_seconds = models.PositiveIntegerField(default=300)
    # Members of this group approve a revision entering this stage (none: no approval).
    approval_group = models.ForeignKey(
        "identity.Group", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Octopus Server versions allowed on this stage's instances (empty: any).
    allowed_versions = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["pipeline", "position"]
        constraints = [
            models.UniqueConstraint(fields=["pipeline", "position"], name="pipelinestage_unique"),
        ]

    def __str__(self) -> str:
        return self.name


class PipelineSubject(models.Model):
    """A deliverable (of a registered kind) whose revisions go through a pipeline. One
    pipeline per subject."""

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="subjects")
    kind = models.CharField(max_length=50)
    subject_id = models.UUIDField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "subject_id"], name="pipelinesubject_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.subject_id} in {self.pipeline_id}"


class StagePromotion(models.Model):
    """One revision of one subject in one stage: delivered, soaking, clean (done) or failed.
    The row exists once the revision entered the stage; (stage, kind, subject, revision) is
    unique, so a promotion cannot happen twice."""

    class State(models.TextChoices):
        DELIVERING = "delivering", "Delivering"
        SOAKING = "soaking", "Soaking"
        DONE = "done", "Soaked cleanly"
        FAILED = "failed", "Failed"
        SUPERSEDED = "superseded", "Superseded by a newer revision"

    stage = models.ForeignKey(PipelineStage, on_delete=models.CASCADE, related_name="promotions")
    kind = models.CharField(max_length=50)
    subject_id = models.UUIDField()
    revision = models.PositiveIntegerField()
    state = models.CharField(max_length=20, choices=State.choices, default=State.DELIVERING)
    keys = models.JSONField(default=list)  # the targets (kind's ids) delivered in this stage
    reason = models.TextField(blank=True)
    soak_until = models.DateTimeField(null=True, blank=True)
    promoted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["stage__position", "-revision"]
        constraints = [
            models.UniqueConstraint(
                fields=["stage", "kind", "subject_id", "revision"], name="stagepromotion_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"r{self.revision} in {self.stage_id}"


class VersionSighting(models.Model):
    """When ODCM first saw an instance run an Octopus Server version (read from the version
    monitoring writes on the instance): the order a version reached the stages in."""

    instance = models.ForeignKey("spaces.Instance", on_delete=models.CASCADE, related_name="+")
    version = models.CharField(max_length=50)
    first_seen_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["instance", "version"], name="versionsighting_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.version} on {self.instance_id}"
