"""The registry at ODCM's centre: Octopus instances, their spaces, and who visits which."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.db import models
from django.db.models import Q

from identity.access import instance_filter, space_filter
from identity.models import Role
from odcm.crypto import EncryptedField


class Tag(models.Model):
    """A free label on instances ("prod", "emea"), used to search and to grant by tag."""

    name = models.CharField(max_length=50, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class UnverifiedURLChange(ValueError):
    """An instance's URL changed without its API key being verified against the new host."""


class InstanceQuerySet(models.QuerySet["Instance"]):
    def visible_to(self, user: Any) -> InstanceQuerySet:
        """The instances ``user`` may see (identity's grants and ownership); else a 404."""
        return self.filter(instance_filter(user))


class Instance(models.Model):
    """One Octopus Server (or HA node set) enlisted in ODCM.

    The stored API key goes only to the URL it was verified against: a save that changes
    ``base_url`` by any path (the admin, a shell, a future form) raises
    :class:`UnverifiedURLChange` unless :func:`spaces.services.instances.change_url` verified
    the key at the new URL first.
    """

    class Status(models.TextChoices):
        UNKNOWN = "unknown", "Unknown"
        ONLINE = "online", "Online"
        OFFLINE = "offline", "Offline"
        UNHEALTHY = "unhealthy", "Unhealthy"
        MAINTENANCE = "maintenance", "Maintenance"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    base_url = models.URLField(max_length=500, help_text="Including any virtual directory.")
    # Write-only: set with odcm.crypto.seal(instance, "api_key", key); never rendered or returned.
    api_key = EncryptedField()
    region = models.CharField(max_length=100, blank=True)
    description = models.TextField(blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="instances")
    owners = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="owned_instances"
    )
    installation_id = models.CharField(max_length=64, blank=True)
    # Filled by monitoring.
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.UNKNOWN)
    status_since = models.DateTimeField(null=True, blank=True)
    version = models.CharField(max_length=50, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    # Spaces that appear in Octopus after enlisting are enlisted too (else: listed, not enlisted).
    enlist_new_spaces = models.BooleanField(default=True)
    spaces_refreshed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Not a column: the URL as loaded, i.e. the one the stored key was verified against.
    verified_base_url: str | None = None

    objects = InstanceQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["installation_id"],
                condition=~Q(installation_id=""),
                name="instance_unique_installation_id",
            ),
            models.UniqueConstraint(fields=["base_url"], name="instance_unique_base_url"),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        verified = self.verified_base_url
        if verified is not None and self.base_url != verified:
            raise UnverifiedURLChange(
                f"{self.name}: the URL changes only with spaces.services.instances.change_url, "
                "which verifies the API key at the new URL first."
            )
        super().save(*args, **kwargs)
        self.verified_base_url = self.base_url

    def refresh_from_db(self, *args: Any, **kwargs: Any) -> None:
        super().refresh_from_db(*args, **kwargs)
        # What the database holds was verified when it was saved.
        self.verified_base_url = self.base_url

    @classmethod
    def from_db(cls, db: Any, field_names: Any, values: Any, **kwargs: Any) -> Instance:
        row = super().from_db(db, field_names, values, **kwargs)
        row.verified_base_url = row.__dict__.get("base_url")
        return row


class SpaceQuerySet(models.QuerySet["Space"]):
    def visible_to(self, user: Any) -> SpaceQuerySet:
        """The spaces ``user`` may see: the one visibility rule (built from identity's grants)."""
        return self.filter(space_filter(user))

    def manageable_by(self, user: Any) -> SpaceQuerySet:
        """Spaces ``user`` manages: administrator, instance owner, or a Space manager grant."""
        return self.filter(space_filter(user, [Role.MANAGER]))

    def deployable_by(self, user: Any) -> SpaceQuerySet:
        """Spaces where ``user`` is at least a Deployer."""
        return self.filter(space_filter(user, [Role.DEPLOYER, Role.MANAGER]))


class Space(models.Model):
    """An Octopus space on an enlisted instance."""

    class State(models.TextChoices):
        ENLISTED = "enlisted", "Enlisted"
        NOT_ENLISTED = "not_enlisted", "Not enlisted"
        GONE = "gone", "Gone from Octopus"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="spaces")
    octopus_id = models.CharField(max_length=50, help_text="e.g. Spaces-1")
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200)
    description = models.TextField(blank=True)
    is_default = models.BooleanField(default=False)
    task_queue_stopped = models.BooleanField(default=False)
    created_by_odcm = models.BooleanField(default=False)
    state = models.CharField(max_length=20, choices=State.choices, default=State.ENLISTED)
    # Cached counts, refreshed by monitoring's inventory sweep (null until first read).
    project_count = models.PositiveIntegerField(null=True, blank=True)
    target_count = models.PositiveIntegerField(null=True, blank=True)
    unhealthy_target_count = models.PositiveIntegerField(null=True, blank=True)
    environment_count = models.PositiveIntegerField(null=True, blank=True)
    tenant_count = models.PositiveIntegerField(null=True, blank=True)
    counts_updated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SpaceQuerySet.as_manager()

    class Meta:
        ordering = ["instance__name", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["instance", "octopus_id"], name="space_unique_octopus_id"
            ),
            models.UniqueConstraint(fields=["instance", "slug"], name="space_unique_slug"),
        ]
        indexes = [models.Index(fields=["state", "name"], name="space_state_name_idx")]

    def __str__(self) -> str:
        return (
            f"{self.name} ({self.instance.name})"
            if "instance" in self._state.fields_cache
            else self.name
        )

    @property
    def octopus_url(self) -> str:
        """A deep link into this space in Octopus's web portal."""
        return f"{self.instance.base_url.rstrip('/')}/app#/{self.octopus_id}"


class Project(models.Model):
    """A project of an enlisted space, as monitoring's inventory sweep last read it from
    Octopus (``GET /api/{space}/projects/all``): what the search and the switcher find
    projects by, without calling Octopus per keystroke.

    Written only by :func:`spaces.services.projects.replace_projects`, as a whole per space;
    a space that is gone from Octopus or no longer enlisted keeps none. On PostgreSQL the
    name has a trigram index on ``UPPER(name)`` (migration ``0003``) so that ``icontains``
    (``UPPER(name) LIKE UPPER('%…%')``) need not read every row.
    """

    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="projects")
    octopus_id = models.CharField(max_length=50, help_text="e.g. Projects-1")
    name = models.CharField(max_length=200)
    # Octopus's slug (the web portal's URLs use it); not a Django SlugField: Octopus decides.
    slug = models.CharField(max_length=200, blank=True)
    group_name = models.CharField(max_length=200, blank=True)
    is_disabled = models.BooleanField(default=False)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["space", "octopus_id"], name="project_unique_octopus_id"
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def octopus_url(self) -> str:
        """A deep link to this project in Octopus's web portal (``space`` and its
        ``instance`` selected)."""
        return f"{self.space.octopus_url}/projects/{quote(self.slug or self.octopus_id, safe='')}"


class Favourite(models.Model):
    """A space a user starred: pinned at the top of their switcher."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="favourites"
    )
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="favourites")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["space__name"]
        constraints = [
            models.UniqueConstraint(fields=["user", "space"], name="favourite_unique_user_space")
        ]

    def __str__(self) -> str:
        return f"favourite {self.space_id} of user {self.user_id}"


class RecentVisit(models.Model):
    """The last time a user opened a space in ODCM (one row per user and space)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="recent_visits"
    )
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="recent_visits")
    visited_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-visited_at"]
        constraints = [
            models.UniqueConstraint(fields=["user", "space"], name="recent_unique_user_space")
        ]

    def __str__(self) -> str:
        return (
            f"visit to {self.space_id} by user {self.user_id} at {self.visited_at:%Y-%m-%d %H:%M}"
        )


class StandardEnvironment(models.Model):
    """One environment of the standard set that ODCM can stamp on a space it creates
    (e.g. Development, Test, Production), in ``position`` order. Administrators edit it."""

    name = models.CharField(max_length=50, unique=True)
    description = models.CharField(max_length=200, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name
