"""Fixtures for managed spaces: octosim instances enlisted as registry rows, a blueprint."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

from django.utils.text import slugify

from octosim.testing import SimInstance
from odcm.clients import client_for
from odcm.crypto import seal
from spaces.models import Instance, Space

FEED_SECRET = "feed-Pa55-never-shown-5521"
GIT_SECRET = "ghp_never_shown_7730"

DOCUMENT: dict[str, Any] = {
    "environments": [
        {"name": "Development"},
        {"name": "Test"},
        {"name": "Staging DC", "description": "Pre-production in the DC"},
        {"name": "Production", "use_guided_failure": True},
    ],
    "lifecycles": [
        {
            "name": "DC Standard",
            "phases": [
                {"name": "Dev", "automatic": ["Development"]},
                {"name": "Test", "optional": ["Test", "Staging DC"]},
                {"name": "Prod", "optional": ["Production"]},
            ],
            "release_retention": {"unit": "Items", "quantity": 10},
        }
    ],
    "feeds": [
        {
            "name": "DC NuGet",
            "type": "NuGet",
            "uri": "https://nuget.dc.example/v3/index.json",
            "username": "reader",
            "password": FEED_SECRET,
        }
    ],
    "git_credentials": [{"name": "DC GitHub", "username": "x-token", "password": GIT_SECRET}],
    "project_groups": [{"name": "Platform"}],
    "tag_sets": [{"name": "Tier", "tags": [{"name": "Gold"}, {"name": "Silver"}]}],
    "worker_pools": [{"name": "DC Linux workers"}],
    "library_variable_sets": [{"name": "DC Common"}],
}


def document(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(DOCUMENT)
    doc.update(changes)
    return doc


def enlist_sim(
    sim: SimInstance, *, region: str = "", owners: Any = (), api_key: str = ""
) -> Instance:
    """``sim`` as a registry row (with its full-access key, or ``api_key``) and its spaces."""
    inst = Instance(name=sim.slug, slug=sim.slug, base_url=sim.url, region=region)
    seal(inst, "api_key", api_key or sim.api_key)
    inst.save()
    inst.owners.set(owners)
    with client_for(inst) as client:
        for sp in client.spaces():
            Space.objects.create(
                instance=inst,
                octopus_id=sp["Id"],
                name=f"{sp['Name']} {sim.slug}",
                slug=slugify(sp["Name"]),
                is_default=bool(sp.get("IsDefault")),
            )
    return inst


def space_of(inst: Instance, octopus_id: str = "Spaces-1") -> Space:
    return Space.objects.get(instance=inst, octopus_id=octopus_id)


def by_name(inst: Instance, space: str, collection: str) -> dict[str, dict[str, Any]]:
    with client_for(inst) as client:
        return {d["Name"]: d for d in client.get_all(f"/api/{space}/{collection}")}


def writes(sim: SimInstance) -> int:
    """Write requests octosim has answered since its stats were last reset."""
    by_method = sim.stats()["by_method"]
    return sum(n for m, n in by_method.items() if m in ("POST", "PUT", "DELETE"))


def wait_for(predicate: Callable[[], Any], timeout: float = 120.0, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(every)
