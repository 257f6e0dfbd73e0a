"""Sign-in through ODCM for an Octopus instance: register the instance as a client of ODCM's
OpenID Connect provider (``identity.idp``) and configure the instance's OpenID Connect
authentication provider (Octopus's "Okta" provider, ``authentication-od``: the one that
takes any issuer, a client secret and a role claim) through its API.

1. :func:`enable` (in the request): the client row (consent skipped, the instance's callback
   as the only redirect URI), a fresh secret sealed on :class:`OctopusSignIn`, state
   ``pending``; the push is queued after commit.
2. :func:`configure` (a worker, under the row's lease): ``PUT /api/configuration/
   authentication-od/values``, then reads the values back (:func:`check`). An instance whose
   API refuses (the key lacks ``AdministerSystem``) is left ``manual``: the page shows the
   settings to paste (:func:`settings_to_paste`) and a "Check" button reads them back.

The client secret leaves ODCM only in the PUT to the instance, or once on the page of the
administrator who asks for a new one to paste (:func:`new_secret_to_paste`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from allauth.idp.oidc.adapter import get_adapter
from allauth.idp.oidc.models import Client
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

from audit.services import record as audit
from identity.idp import OCTOPUS_CLIENT
from identity.models import GROUPS_CLAIM, OctopusSignIn
from octopus import OctopusError
from octopus.errors import AuthenticationFailed, PermissionDenied
from odcm import work
from odcm.clients import client_for
from odcm.crypto import seal, unseal
from odcm.errors import ServiceError

SECTION = "authentication-od"
PROVIDER = "Okta"
CALLBACK = f"/api/users/authenticatedToken/{PROVIDER}"
VALUES = f"/api/configuration/{SECTION}/values"
LABEL = "Sign in with ODCM"
SCOPE = "openid profile email"
LEASE_SECONDS = 120
TASK = "identity.tasks.configure_octopus_sign_in"


class SignInError(ServiceError):
    """The sign-in of an instance could not be set up as asked."""


def issuer() -> str:
    return str(settings.ODCM_SITE_URL).rstrip("/")


def redirect_uri(instance: Any) -> str:
    return str(instance.base_url).rstrip("/") + CALLBACK


@dataclass(frozen=True)
class Setting:
    """One value of the instance's provider configuration: its API field and its label in
    Octopus's Configuration → Settings → Okta page."""

    field: str
    label: str
    value: Any


def desired(row: OctopusSignIn) -> list[Setting]:
    """Everything but the secret, as the instance should hold it."""
    return [
        Setting("IsEnabled", "Is Enabled", True),
        Setting("Issuer", "Issuer", issuer()),
        Setting("ClientId", "Client ID", row.client_id),
        Setting("Scope", "Scope", SCOPE),
        Setting("RoleClaimType", "Role Claim Type", GROUPS_CLAIM),
        Setting("UsernameClaimType", "Username Claim Type", "preferred_username"),
        Setting("NameClaimType", "Name Claim Type", "name"),
        Setting("AllowAutoUserCreation", "Allow Auto User Creation", True),
        Setting("LoginLinkLabel", "Login link label (octosim)", LABEL),
    ]


def settings_to_paste(row: OctopusSignIn) -> list[Setting]:
    """What an administrator enters on an instance that ODCM may not configure itself."""
    return [
        *desired(row),
        Setting("", "Redirect URI registered in ODCM", redirect_uri(row.instance)),
    ]


def _client_fields(instance: Any) -> dict[str, Any]:
    return {
        "name": f"Octopus: {instance.name}"[:100],
        "scopes": "openid\nprofile\nemail\ngroups",
        "default_scopes": "openid\nprofile\nemail",
        "type": Client.Type.CONFIDENTIAL,
        "grant_types": Client.GrantType.AUTHORIZATION_CODE,
        "response_types": "code",
        "redirect_uris": redirect_uri(instance),
        # A registered Octopus instance is part of ODCM's own estate: no consent screen.
        "skip_consent": True,
        "data": {"kind": OCTOPUS_CLIENT, "instance": str(instance.pk)},
    }


def enable(instance: Any, *, request: Any = None, actor: Any = None) -> OctopusSignIn:
    """Register (or refresh) the instance's client with a new secret and queue the push."""
    secret = get_adapter().generate_client_secret()
    with transaction.atomic():
        row = OctopusSignIn.objects.select_for_update().filter(instance=instance).first()
        fields = _client_fields(instance)
        if row is None:
            client = Client.objects.create(secret=make_password(secret), **fields)
            row = OctopusSignIn(instance=instance, client=client)
        else:
            Client.objects.filter(pk=row.client_id).update(secret=make_password(secret), **fields)
        seal(row, "client_secret", secret)
        row.state = OctopusSignIn.State.PENDING
        row.last_error = ""
        row.attempts = 0
        row.save()
        audit(
            "octopus_signin.enable",
            request=request,
            actor=actor,
            obj=instance,
            message=f"sign-in through ODCM registered for {instance} (client {row.client_id})",
        )
        work.enqueue(TASK, str(row.pk))
    return row


def disable(row: OctopusSignIn, *, request: Any = None) -> None:
    """Forget the client: sign-ins through ODCM to this instance stop at once (the instance's
    provider setting stays until someone turns it off there)."""
    with transaction.atomic():
        client_id, instance = row.client_id, row.instance
        row.delete()
        Client.objects.filter(pk=client_id).delete()
        audit(
            "octopus_signin.disable",
            request=request,
            obj=instance,
            message=f"sign-in through ODCM removed for {instance}",
        )


def check(client: Any, row: OctopusSignIn) -> list[str]:
    """Read the instance's provider configuration back; what differs from what it should be."""
    values = client.get(VALUES)
    problems = []
    for setting in desired(row):
        if setting.field == "LoginLinkLabel" and setting.field not in values:
            continue  # a real Octopus has no such field: its button says "Sign in with Okta"
        got = values.get(setting.field)
        if isinstance(got, str) and isinstance(setting.value, str):
            same = got.rstrip("/") == setting.value.rstrip("/")
        else:
            same = got == setting.value
        if not same:
            problems.append(f"{setting.label} is {got!r}, should be {setting.value!r}")
    secret = values.get("ClientSecret")
    if not (isinstance(secret, dict) and secret.get("HasValue")):
        problems.append("Client Secret is not set")
    return problems


def _push(row: OctopusSignIn) -> tuple[str, str]:
    """PUT the values, read them back: (state, message)."""
    body: dict[str, Any] = {s.field: s.value for s in desired(row)}
    body["ClientSecret"] = {"HasValue": True, "NewValue": unseal(row, "client_secret")}
    try:
        with client_for(row.instance) as client:
            try:
                client.put(VALUES, body)
            except (PermissionDenied, AuthenticationFailed):
                return OctopusSignIn.State.MANUAL, (
                    "The instance's API key may not change its authentication settings (it "
                    "needs AdministerSystem): enter the settings below in Octopus, then Check."
                )
            problems = check(client, row)
    except OctopusError as exc:
        return OctopusSignIn.State.FAILED, str(exc)[:1000]
    if problems:
        return OctopusSignIn.State.FAILED, "Read back: " + "; ".join(problems)
    return OctopusSignIn.State.CONFIGURED, ""


def configure(sign_in_id: str) -> bool:
    """The worker side: push the configuration under the row's lease. False: not done now
    (gone, or another worker holds it)."""
    rows = OctopusSignIn.objects.all()
    lease = work.claim(rows, sign_in_id, seconds=LEASE_SECONDS)
    if lease is None:
        return False
    row = OctopusSignIn.objects.select_related("instance").get(pk=sign_in_id)
    state, message = _push(row)
    now = timezone.now()
    changes: dict[str, Any] = {
        "state": state,
        "last_error": message,
        "checked_at": now,
        "attempts": row.attempts + 1,
    }
    if state == OctopusSignIn.State.CONFIGURED:
        changes["configured_at"] = now
    if work.release(rows, lease, **changes):
        audit(
            f"octopus_signin.{state}",
            obj=row.instance,
            message=f"sign-in through ODCM for {row.instance}: {state}. {message}".strip(),
        )
    return True


def verify(row: OctopusSignIn, *, request: Any = None) -> OctopusSignIn:
    """The "Check" button: read the instance's settings back now (one request)."""
    try:
        with client_for(row.instance) as client:
            problems = check(client, row)
    except (PermissionDenied, AuthenticationFailed):
        raise SignInError(
            "The instance's API key may not read its authentication settings."
        ) from None
    except OctopusError as exc:
        raise SignInError(f"The instance could not be read: {exc}") from None
    now = timezone.now()
    if problems:
        state = row.state if row.state == OctopusSignIn.State.MANUAL else OctopusSignIn.State.FAILED
        message = "Read back: " + "; ".join(problems)
    else:
        state, message = OctopusSignIn.State.CONFIGURED, ""
    OctopusSignIn.objects.filter(pk=row.pk).update(
        state=state,
        last_error=message,
        checked_at=now,
        **({"configured_at": now} if not problems else {}),
    )
    audit("octopus_signin.check", request=request, obj=row.instance, message=message or "ok")
    row.refresh_from_db()
    return row


def new_secret_to_paste(row: OctopusSignIn, *, request: Any = None) -> str:
    """A new client secret, returned once for an administrator to paste into Octopus."""
    secret = get_adapter().generate_client_secret()
    with transaction.atomic():
        Client.objects.filter(pk=row.client_id).update(secret=make_password(secret))
        seal(row, "client_secret", secret)
        row.save(update_fields=["client_secret", "updated_at"])
        audit(
            "octopus_signin.secret",
            request=request,
            obj=row.instance,
            message=f"new client secret for {row.instance}, shown once",
        )
    return secret
