"""People, their credentials and what they may reach: the user model, personal API tokens,
groups (with external groups from OIDC/LDAP), grants of a role on a space or an instance,
and the state of the Octopus teams ODCM manages for those grants.

identity sits below spaces: it points at ``spaces.Space`` / ``spaces.Instance`` only through
string foreign keys and reaches their rows through those relations (``space_model()``,
``instance_model()``), never by importing spaces.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone

from odcm.crypto import EncryptedField
from odcm.work import Leased


class User(AbstractUser):
    """An ODCM user. Superusers are ODCM administrators."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)


class ApiToken(models.Model):
    """A personal API token. Only a SHA-256 digest is stored; the token is shown once.

    Tokens look like ``odcm_<prefix>_<secret>``: the prefix finds the row, the digest of the
    whole token proves it.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    digest = models.CharField(max_length=64)
    read_only = models.BooleanField(default=False)
    # Scope (odcm.api.permissions.TokenScope, identity.access): the API areas the token may
    # use (empty: all), and, when ``limited``, only these instances and spaces exist for it.
    areas = models.JSONField(default=list, blank=True)
    limited = models.BooleanField(default=False)
    instances = models.ManyToManyField("spaces.Instance", blank=True, related_name="+")
    spaces = models.ManyToManyField("spaces.Space", blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} (odcm_{self.prefix}_…)"

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and not self.is_expired


def group_key(value: str) -> str:
    """How external group names are compared: trimmed and case-insensitive.

    LDAP DNs and most OIDC group claims compare case-insensitively; DNs also tolerate
    spaces after the commas between their parts.
    """
    parts = [part.strip() for part in value.strip().split(",")]
    return ",".join(parts).casefold()


class SignInSession(models.Model):
    """One ODCM browser session of a person: the index that lists a person's sessions without
    decoding everyone's (``identity.services.sessions``). Written at sign-in, deleted at
    sign-out, when ended by an administrator, and once its session has expired or vanished.
    ``session_key`` is the session's secret: it is never shown; ``id`` names the session."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sign_in_sessions")
    session_key = models.CharField(max_length=40, unique=True)
    ip = models.CharField(max_length=64, blank=True)
    agent = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "created_at"], name="sign_in_session_user_idx")]

    def __str__(self) -> str:
        return f"session of {self.user} since {self.created_at:%Y-%m-%d %H:%M}"


class Role(models.TextChoices):
    """What a grant allows, in increasing order of power."""

    VIEWER = "viewer", "Viewer"
    DEPLOYER = "deployer", "Deployer"
    MANAGER = "manager", "Space manager"


ROLE_RANK = {Role.VIEWER: 1, Role.DEPLOYER: 2, Role.MANAGER: 3}


# The claim in the id_token ODCM issues to Octopus that lists the person's ODCM groups, and the
# value each group has there: the same value is an external security group on the group's
# managed teams, so Octopus maps a person signing in through ODCM to exactly their teams.
GROUPS_CLAIM = "groups"


def group_claim_value(group_id: Any) -> str:
    """A group's identifier in ODCM's id_tokens and on managed teams: stable across renames."""
    return f"odcm:{group_id}"


def person_claim_value(user_uuid: Any) -> str:
    """A person's own value in the ``groups`` claim, carried by the managed teams of grants
    given to them alone (so sign-in through ODCM lands them there too)."""
    return f"odcm:user:{user_uuid}"


class Group(models.Model):
    """An ODCM group: its members are users and/or external groups (OIDC values, LDAP DNs)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    members = models.ManyToManyField(User, blank=True, related_name="odcm_groups")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ExternalGroup(models.Model):
    """An external group (an OIDC group claim value or an LDAP group DN) that makes its
    members members of an ODCM group. Also pushed to Octopus as an external security group."""

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="external_groups")
    value = models.CharField(max_length=500)
    key = models.CharField(max_length=500, editable=False, db_index=True)
    display_name = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["value"]
        constraints = [
            models.UniqueConstraint(fields=["group", "key"], name="external_group_unique_key")
        ]

    def __str__(self) -> str:
        return self.value

    def save(self, *args: object, **kwargs: object) -> None:
        self.key = group_key(self.value)
        super().save(*args, **kwargs)  # type: ignore[arg-type]


class UserExternalGroup(models.Model):
    """An external group a user belonged to at their last sign-in through ``source``
    ("ldap", or "oidc:<provider id>"). Replaced at each sign-in through that source."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="external_groups")
    source = models.CharField(max_length=100)
    value = models.CharField(max_length=500)
    key = models.CharField(max_length=500, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["source", "value"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "source", "key"], name="user_external_group_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.value} ({self.source})"


# A grant narrowed inside a space, as Octopus's scoped user roles are: scope key -> the field
# of a ScopedUserRole it becomes. Grants name things (an environment called "Production");
# each space's ids are looked up when the team is pushed, so one instance grant narrows every
# space the same way.
GRANT_SCOPES = {
    "environments": "EnvironmentIds",
    "projects": "ProjectIds",
    "project_groups": "ProjectGroupIds",
    "tenants": "TenantIds",
}


class Grant(models.Model):
    """A group's (or one person's) role on one space, or on every space of an instance.

    Exactly one of ``group`` and ``user`` holds the grant. Revoking keeps the row
    (``revoked_at``) until the Octopus side has caught up, so a revoke
    is never lost and its state per space stays visible.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    group = models.ForeignKey(
        Group, null=True, blank=True, on_delete=models.CASCADE, related_name="grants"
    )
    user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.CASCADE, related_name="personal_grants"
    )
    role = models.CharField(max_length=20, choices=Role.choices)
    space = models.ForeignKey(
        "spaces.Space", null=True, blank=True, on_delete=models.CASCADE, related_name="grants"
    )
    instance = models.ForeignKey(
        "spaces.Instance",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="grants",
    )
    # {"environments": ["Production"], ...} (keys of GRANT_SCOPES); empty: the whole space.
    scope = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # The rule that made this grant (and may take it back); empty: chosen explicitly.
    rule = models.ForeignKey(
        "GrantRule", null=True, blank=True, on_delete=models.SET_NULL, related_name="grants"
    )

    class Meta:
        ordering = ["group__name", "role"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(space__isnull=False, instance__isnull=True)
                    | models.Q(space__isnull=True, instance__isnull=False)
                ),
                name="grant_one_target",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(group__isnull=False, user__isnull=True)
                    | models.Q(group__isnull=True, user__isnull=False)
                ),
                name="grant_one_holder",
            ),
            models.UniqueConstraint(
                fields=["user", "role", "space"],
                condition=models.Q(
                    revoked_at__isnull=True, space__isnull=False, user__isnull=False
                ),
                name="grant_unique_active_person_space",
            ),
            models.UniqueConstraint(
                fields=["user", "role", "instance"],
                condition=models.Q(
                    revoked_at__isnull=True, instance__isnull=False, user__isnull=False
                ),
                name="grant_unique_active_person_instance",
            ),
            models.UniqueConstraint(
                fields=["group", "role", "space"],
                condition=models.Q(revoked_at__isnull=True, space__isnull=False),
                name="grant_unique_active_space",
            ),
            models.UniqueConstraint(
                fields=["group", "role", "instance"],
                condition=models.Q(revoked_at__isnull=True, instance__isnull=False),
                name="grant_unique_active_instance",
            ),
        ]

    def __str__(self) -> str:
        # Names, not ids: this is what the audit log shows.
        target = f"space {self.space}" if self.space_id else f"instance {self.instance}"
        return f"{self.holder_name} {self.role} on {target}"

    @property
    def holder_name(self) -> str:
        """The group's name, or the person's username for a grant to one person."""
        return self.group.name if self.group_id else self.user.username  # type: ignore[union-attr]

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @property
    def scope_label(self) -> str:
        """The narrowing for people: "environments Production, Test; projects Web"."""
        return "; ".join(
            f"{key.replace('_', ' ')} {', '.join(self.scope[key])}"
            for key in GRANT_SCOPES
            if self.scope.get(key)
        )


class GrantRule(models.Model):
    """A group's (or one person's) role on every instance carrying a tag, or in a region, now
    and later.

    Exactly one of ``group`` and ``user`` holds the rule, as for a grant.
    ``identity.services.grant_rules.apply`` keeps one instance grant (``Grant.rule``) per
    instance matched: an instance tagged later gains it, one untagged loses it. Grants chosen
    explicitly are never touched by a rule.
    """

    class Selector(models.TextChoices):
        TAG = "tag", "Tag"
        REGION = "region", "Region"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    group = models.ForeignKey(
        Group, null=True, blank=True, on_delete=models.CASCADE, related_name="grant_rules"
    )
    user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.CASCADE, related_name="grant_rules"
    )
    role = models.CharField(max_length=20, choices=Role.choices)
    selector = models.CharField(max_length=10, choices=Selector.choices)
    value = models.CharField(max_length=100)
    scope = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["group__name", "user__username", "role", "selector", "value"]
        constraints = [
            models.UniqueConstraint(
                fields=["group", "role", "selector", "value"], name="grant_rule_unique"
            ),
            models.UniqueConstraint(
                fields=["user", "role", "selector", "value"],
                condition=models.Q(user__isnull=False),
                name="grant_rule_person_unique",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(group__isnull=False, user__isnull=True)
                    | models.Q(group__isnull=True, user__isnull=False)
                ),
                name="grant_rule_one_holder",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.holder_name} {self.role} on {self.label}"

    @property
    def holder(self) -> Group | User:
        """The group, or the person of a rule for one person."""
        return self.group if self.group_id else self.user  # type: ignore[return-value]

    @property
    def holder_name(self) -> str:
        return self.group.name if self.group_id else self.user.username  # type: ignore[union-attr]

    @property
    def label(self) -> str:
        """ "every instance tagged prod" / "every instance in region emea"."""
        if self.selector == self.Selector.TAG:
            return f"every instance tagged {self.value}"
        return f"every instance in region {self.value}"

    @property
    def scope_label(self) -> str:
        return Grant(scope=self.scope).scope_label


class SyncState(models.TextChoices):
    PENDING = "pending", "Pending"
    APPLIED = "applied", "Applied"
    FAILED = "failed", "Failed"


class GrantTarget(models.Model):
    """The Octopus state of one grant in one space (applied, pending, failed with the error)."""

    grant = models.ForeignKey(Grant, on_delete=models.CASCADE, related_name="targets")
    space = models.ForeignKey("spaces.Space", on_delete=models.CASCADE, related_name="+")
    state = models.CharField(max_length=20, choices=SyncState.choices, default=SyncState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_retry_at = models.DateTimeField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["space__instance__name", "space__name"]
        constraints = [
            models.UniqueConstraint(fields=["grant", "space"], name="grant_target_unique")
        ]

    def __str__(self) -> str:
        return f"grant {self.grant_id} in space {self.space_id}: {self.state}"


class TeamSync(Leased):
    """The push of one space's managed teams to Octopus: the worker pushing holds this row's
    lease (``odcm.work``), so two workers never push the same space at once."""

    space = models.OneToOneField(
        "spaces.Space", primary_key=True, on_delete=models.CASCADE, related_name="+"
    )

    def __str__(self) -> str:
        return f"team sync of space {self.space_id}"


class ManagedTeam(models.Model):
    """One Octopus team ODCM manages: per (space, group, role), or per (space, person, role)
    for grants to one person. ``wanted`` False means it is to be deleted from Octopus; the
    row goes once that is done.

    Teams without a row here are never touched.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    space = models.ForeignKey("spaces.Space", on_delete=models.CASCADE, related_name="+")
    group = models.ForeignKey(
        Group, null=True, blank=True, on_delete=models.SET_NULL, related_name="managed_teams"
    )
    user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="personal_teams"
    )
    role = models.CharField(max_length=20, choices=Role.choices)
    name = models.CharField(max_length=200)
    wanted = models.BooleanField(default=True)
    octopus_team_id = models.CharField(max_length=100, blank=True)
    # Bumped whenever what the team should look like changes; a sync records its outcome
    # only if the version it planned from is still current.
    version = models.PositiveIntegerField(default=1)
    applied_version = models.PositiveIntegerField(default=0)
    applied_digest = models.CharField(max_length=64, blank=True)
    state = models.CharField(max_length=20, choices=SyncState.choices, default=SyncState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_retry_at = models.DateTimeField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["space_id", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["space", "group", "role"],
                condition=models.Q(group__isnull=False),
                name="managed_team_unique",
            ),
            models.UniqueConstraint(
                fields=["space", "user", "role"],
                condition=models.Q(user__isnull=False),
                name="managed_team_person_unique",
            ),
        ]
        indexes = [models.Index(fields=["state", "next_retry_at"], name="managed_team_due_idx")]

    def __str__(self) -> str:
        return self.name


def default_role_mapping() -> dict[str, list[str]]:
    return {
        Role.VIEWER.value: ["Project viewer"],
        Role.DEPLOYER.value: ["Project deployer", "Deployment creator"],
        Role.MANAGER.value: ["Space manager"],
    }


class RoleMapping(models.Model):
    """Which Octopus user roles (by name or id) an ODCM role gives in a space."""

    role = models.CharField(max_length=20, choices=Role.choices, unique=True)
    octopus_roles = models.JSONField(default=list)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["role"]

    def __str__(self) -> str:
        return f"{self.role}: {', '.join(self.octopus_roles)}"


def space_model() -> Any:
    """The registry's Space model, reached through ``Grant.space`` (no import of spaces)."""
    return Grant._meta.get_field("space").related_model


def instance_model() -> Any:
    """The registry's Instance model, reached through ``Grant.instance``."""
    return Grant._meta.get_field("instance").related_model


class OctopusSignIn(Leased):
    """ODCM as the sign-in of one Octopus instance: the OpenID Connect client registered for it
    (allauth's ``Client``, consent skipped), the client secret sealed so a worker can push it,
    and the state of the instance's authentication-provider configuration.

    ``manual`` means the instance's API refused the configuration (its key lacks
    ``AdministerSystem``, say): an administrator pastes the settings and ODCM reads them back.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        CONFIGURED = "configured", "Configured"
        MANUAL = "manual", "Settings to paste"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    instance = models.OneToOneField(
        "spaces.Instance", on_delete=models.CASCADE, related_name="odcm_sign_in"
    )
    client = models.OneToOneField(
        "allauth_idp_oidc.Client", on_delete=models.PROTECT, related_name="+"
    )
    # Write-only: odcm.crypto.seal(row, "client_secret", …); pushed to Octopus, never shown.
    client_secret = EncryptedField()
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING)
    last_error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    configured_at = models.DateTimeField(null=True, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["instance__name"]

    def __str__(self) -> str:
        return f"sign-in through ODCM for {self.instance}"


class ServiceAccount(models.Model):
    """Automation's own identity, so that it never borrows a person's: a user that cannot sign
    in interactively (no password), owned by a group whose members manage its tokens. What it
    may reach comes from the groups it is made a member of, like anyone else."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="service_account")
    owner = models.ForeignKey(Group, on_delete=models.PROTECT, related_name="service_accounts")
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user__username"]

    def __str__(self) -> str:
        return f"service account {self.user.username}"


class Invitation(models.Model):
    """An invitation by email for an outside person who will sign in through a named external
    OpenID Connect provider (``provider``: an allauth provider id), with an expiry and the
    grants they receive on accepting (``grants``: ``[{"role", "space"|"instance", "scope"}]``,
    ids as strings; or ``"tag"|"region"``: a name, a rule for them; given to them alone). Only
    a SHA-256 digest of the link's secret is kept.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        REVOKED = "revoked", "Revoked"
        EXPIRED = "expired", "Expired"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField()
    provider = models.CharField(max_length=100)
    grants = models.JSONField(default=list, blank=True)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    message = models.TextField(blank=True)
    expires_at = models.DateTimeField()
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    send_error = models.TextField(blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="invitations"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["email"], name="invitation_email_idx")]

    def __str__(self) -> str:
        return f"invitation of {self.email} through {self.provider}"

    @property
    def state(self) -> str:
        if self.accepted_at is not None:
            return self.State.ACCEPTED
        if self.revoked_at is not None:
            return self.State.REVOKED
        if self.expires_at <= timezone.now():
            return self.State.EXPIRED
        return self.State.PENDING
