"""Configuration as code: what applies created, the plans people review, a Git source."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from odcm.crypto import EncryptedField


class ManagedObject(models.Model):
    """An object an apply has touched: ``created`` ones may be pruned, ``refs`` remembers the
    secret references (environment variable or file names, never values) the file used."""

    kind = models.CharField(max_length=30)
    key = models.CharField(max_length=600)
    ident = models.JSONField(default=dict)
    created = models.BooleanField(default=False)
    refs = models.JSONField(default=dict, blank=True)
    applied_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "key"], name="managedobject_unique_key")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.key}"


class Plan(models.Model):
    """A reviewed plan: applying it by id applies exactly what was shown, or nothing if the
    state changed since (``state_digest``)."""

    class Status(models.TextChoices):
        PLANNED = "planned", "Planned"
        APPLYING = "applying", "Applying"
        APPLIED = "applied", "Applied"
        PARTIAL = "partial", "Partly applied"
        STALE = "stale", "Refused: the state changed"
        INVALID = "invalid", "Invalid file"

    class Source(models.TextChoices):
        API = "api", "API"
        CLI = "cli", "Command line"
        GIT = "git", "Git repository"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.API)
    git_source = models.ForeignKey(
        "GitSource", null=True, blank=True, on_delete=models.SET_NULL, related_name="plans"
    )
    commit = models.CharField(max_length=64, blank=True)
    document = models.TextField()
    sections = models.JSONField(default=list)
    changes = models.JSONField(default=list)
    issues = models.JSONField(default=list)
    prune = models.BooleanField(default=False)
    state_digest = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PLANNED)
    result = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    applied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["-created_at"], name="plan_created_idx")]

    def __str__(self) -> str:
        return f"plan {self.id}"

    @property
    def change_count(self) -> int:
        return sum(1 for c in self.changes if c["action"] in ("create", "change", "delete"))


class GitSource(models.Model):
    """A Git repository holding the fleet file, polled by beat; each new commit is planned
    and applied automatically or after an administrator approves it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100, unique=True)
    url = models.CharField(max_length=500)
    branch = models.CharField(max_length=200, default="main")
    path = models.CharField(max_length=500, default="fleet.yaml")
    username = models.CharField(max_length=200, blank=True)
    token = EncryptedField()
    auto_apply = models.BooleanField(default=False)
    prune = models.BooleanField(default=False)
    enabled = models.BooleanField(default=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_commit = models.CharField(max_length=64, blank=True)
    applied_commit = models.CharField(max_length=64, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
