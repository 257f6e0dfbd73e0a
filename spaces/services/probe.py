"""Connect to an Octopus server with a candidate API key and learn what it is."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from octopus import NotFound, OctopusClient, OctopusError, RetryPolicy, Secret
from odcm.clients import client_for_url
from spaces.services.errors import RegistryError, from_octopus

log = logging.getLogger(__name__)

# System permissions ODCM needs: discover spaces, create and delete them, manage their teams.
REQUIRED_PERMISSIONS = (
    "SpaceView",
    "SpaceCreate",
    "SpaceEdit",
    "SpaceDelete",
    "TeamView",
    "TeamCreate",
    "TeamEdit",
    "UserView",
)
# An interactive check gives up sooner than background work does.
PROBE_RETRY = RetryPolicy(max_retries=1, backoff=0.2, max_backoff=1.0, max_retry_after=5.0)


def normalise_url(url: str) -> str:
    """``HTTPS://Host:443/Octo/`` -> ``https://host:443/Octo``: one spelling per server."""
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.netloc:
        raise RegistryError("invalid_url", f"{url!r} is not a URL (e.g. https://octopus.example).")
    return urlunsplit(
        (parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"), parts.query, "")
    )


@dataclass
class Probe:
    """What a server said about itself and about the key."""

    base_url: str
    version: str
    installation_id: str
    user_id: str
    spaces: list[dict[str, Any]] = field(default_factory=list)


def open_client(base_url: str, api_key: str | Secret) -> OctopusClient:
    try:
        return client_for_url(base_url, api_key, retry=PROBE_RETRY)
    except OctopusError as exc:  # the static URL policy check
        raise from_octopus(exc, about_input=True) from None


def system_permissions(client: OctopusClient, user_id: str) -> set[str] | None:
    """The system permissions the key's user holds through its teams (None: the server
    does not expose the routes needed to tell, so the check is skipped)."""
    try:
        teams = client.get(f"/api/users/{user_id}/teams")
        role_ids: set[str] = set()
        for team in teams:
            if team.get("SpaceId"):
                continue
            for scoped in client.paginate(f"/api/teams/{team['Id']}/scopeduserroles"):
                if not scoped.get("SpaceId"):
                    role_ids.add(scoped["UserRoleId"])
        roles = client.get_all("/api/userroles")
    except NotFound:
        log.info("permission check skipped: %s has no team/role routes", client.base_url)
        return None
    granted: set[str] = set()
    for role in roles:
        if role.get("Id") in role_ids:
            granted.update(role.get("GrantedSystemPermissions") or [])
    return granted


def check_permissions(client: OctopusClient, user_id: str) -> None:
    granted = system_permissions(client, user_id)
    if granted is None:
        return
    missing = [p for p in REQUIRED_PERMISSIONS if p not in granted]
    if missing:
        raise RegistryError(
            "insufficient_permission",
            "The API key's user lacks permissions ODCM needs: "
            + ", ".join(missing)
            + ". Use a key of a user in a team with the System manager (or System "
            "administrator) role.",
        )


def probe(base_url: str, api_key: str | Secret, *, with_spaces: bool = True) -> Probe:
    """Check that ``base_url`` is an Octopus server that accepts ``api_key`` with enough
    permission; read its version, InstallationId and (optionally) every space."""
    if not api_key:
        raise RegistryError("wrong_api_key", "An API key is required.")
    with open_client(base_url, api_key) as client:
        try:
            root = client.root()
            me = client.get("/api/users/me")
            check_permissions(client, str(me["Id"]))
            spaces = list(client.paginate("/api/spaces", page_size=200)) if with_spaces else []
        except OctopusError as exc:
            raise from_octopus(exc, about_input=True) from None
    return Probe(
        base_url=base_url,
        version=root.version.text,
        installation_id=str(root.installation_id or ""),
        user_id=str(me["Id"]),
        spaces=spaces,
    )
