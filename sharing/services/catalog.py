"""What the editor and the import page offer to pick from, read from the publisher's space.

Scope names (environments, target roles, tenant tags) and the space's library variable sets
and step templates come from Octopus through ``octopus/`` and are cached for a few minutes, so
opening the editor costs no Octopus call most of the time. When Octopus cannot be reached the
lists are empty and ``problem`` says why; the editor then falls back to typing names.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache

from octopus import NotFound, OctopusError
from odcm.clients import client_for
from spaces.models import Space

log = logging.getLogger(__name__)
CACHE_SECONDS = 300
SCOPES = ("environments", "roles", "tenant_tags")
# What variables of the account, certificate and worker pool types name (by collection).
REFERENCE_COLLECTIONS = ("accounts", "certificates", "workerpools")


@dataclass
class ScopeCatalog:
    """Names a variable may be scoped to in the publisher's space (by scope key)."""

    names: dict[str, list[str]] = field(default_factory=dict)
    problem: str = ""

    def of(self, scope: str) -> list[str]:
        return self.names.get(scope, [])


@dataclass
class Library:
    """The publisher space's library variable sets and step templates (id, name, description)."""

    variable_sets: list[dict[str, str]] = field(default_factory=list)
    step_templates: list[dict[str, str]] = field(default_factory=list)
    problem: str = ""


def _key(what: str, space: Space) -> str:
    return f"sharing:catalog:{what}:{space.pk}"


def _problem(space: Space, exc: Exception) -> str:
    # The error's class and message only: never a URL with a key, never a stack trace.
    log.info("catalog of %s unavailable: %s", space.pk, type(exc).__name__)
    return f"Could not read {space.name} from Octopus ({type(exc).__name__}); try again later."


def _tenant_tags(client: Any, space_id: str) -> list[str]:
    try:
        tag_sets = client.get(f"/api/{space_id}/tagsets/all")
    except NotFound:  # an Octopus without tenants (or octosim): nothing to offer
        return []
    return sorted(
        str(tag["CanonicalTagName"])
        for tag_set in tag_sets
        for tag in tag_set.get("Tags", [])
        if tag.get("CanonicalTagName")
    )


def _roles(client: Any, space_id: str) -> list[str]:
    try:
        return sorted(str(r) for r in client.get(f"/api/{space_id}/machineroles/all"))
    except NotFound:  # older servers: the roles of the space's targets
        machines = client.get(f"/api/{space_id}/machines/all")
        return sorted({str(r) for m in machines for r in m.get("Roles", [])})


def _names_of(client: Any, space_id: str, collection: str) -> list[str]:
    try:
        return sorted(str(d["Name"]) for d in client.get(f"/api/{space_id}/{collection}/all"))
    except NotFound:
        return []


def scope_catalog(space: Space, *, refresh: bool = False) -> ScopeCatalog:
    """Environments (in Octopus's order), target roles and tenant tags of ``space``, and the
    names of its accounts, certificates and worker pools (for variables of those types)."""
    cached = None if refresh else cache.get(_key("scopes", space))
    if cached is not None:
        return ScopeCatalog(names=cached)
    sid = space.octopus_id
    try:
        with client_for(space.instance) as client:
            envs = client.get(f"/api/{sid}/environments/all")
            names = {
                "environments": [
                    str(e["Name"]) for e in sorted(envs, key=lambda e: e.get("SortOrder", 0))
                ],
                "roles": _roles(client, sid),
                "tenant_tags": _tenant_tags(client, sid),
            }
            for collection in REFERENCE_COLLECTIONS:
                names[collection] = _names_of(client, sid, collection)
    except (OctopusError, ValueError, KeyError, TypeError) as exc:
        empty: dict[str, list[str]] = {s: [] for s in (*SCOPES, *REFERENCE_COLLECTIONS)}
        return ScopeCatalog(names=empty, problem=_problem(space, exc))
    cache.set(_key("scopes", space), names, CACHE_SECONDS)
    return ScopeCatalog(names=names)


def _entry(doc: dict[str, Any]) -> dict[str, str]:
    return {
        "id": str(doc["Id"]),
        "name": str(doc.get("Name") or doc["Id"]),
        "description": str(doc.get("Description") or "")[:200],
    }


def library(space: Space, *, refresh: bool = False) -> Library:
    """The library variable sets (variables, not script modules) and step templates of
    ``space``, sorted by name, to import by picking."""
    cached = None if refresh else cache.get(_key("library", space))
    if cached is not None:
        return Library(
            variable_sets=cached["variable_sets"], step_templates=cached["step_templates"]
        )
    sid = space.octopus_id
    try:
        with client_for(space.instance) as client:
            sets = client.get(f"/api/{sid}/libraryvariablesets/all")
            templates = client.get(f"/api/{sid}/actiontemplates/all")
        found = {
            "variable_sets": sorted(
                (_entry(s) for s in sets if s.get("ContentType", "Variables") == "Variables"),
                key=lambda e: e["name"].lower(),
            ),
            "step_templates": sorted(
                (_entry(t) for t in templates), key=lambda e: e["name"].lower()
            ),
        }
    except (OctopusError, ValueError, KeyError, TypeError) as exc:
        return Library(problem=_problem(space, exc))
    cache.set(_key("library", space), found, CACHE_SECONDS)
    return Library(variable_sets=found["variable_sets"], step_templates=found["step_templates"])


def forget(space: Space) -> None:
    """Drop the cached lists of ``space`` (after an import changes what is there)."""
    cache.delete_many([_key("scopes", space), _key("library", space)])
