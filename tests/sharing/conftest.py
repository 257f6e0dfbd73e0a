"""Fixtures for sharing: octosim instances enlisted as registry rows, trusted spaces, sets."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from django.utils.text import slugify

from octosim.testing import SimInstance
from odcm.clients import client_for
from odcm.crypto import seal
from sharing.kinds import CountingClient
from sharing.models import SharedItem, Subscription
from sharing.services import items, subscriptions, trusts
from spaces.models import Instance, Space

SECRET = "s3cr3t-Plaintext-Do-Not-Leak-7781"


def enlist_sim(sim: SimInstance, *, key: str | None = None, owners: Any = ()) -> Instance:
    inst = Instance(name=sim.slug, slug=sim.slug, base_url=sim.url)
    seal(inst, "api_key", key or sim.api_key)
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


def trust(publisher: Space, subscriber: Space) -> None:
    trusts.accept(trusts.propose(publisher, subscriber))


def variables(prod_url: str = "https://prod.example", secret: str = SECRET) -> dict[str, Any]:
    return {
        "variables": [
            {
                "key": "url-prod",
                "name": "Api.Url",
                "value": prod_url,
                "scope": {"environments": ["Production"]},
            },
            {
                "key": "url-dev",
                "name": "Api.Url",
                "value": "https://dev.example",
                "scope": {"environments": ["Development", "Test"]},
            },
            {"key": "password", "name": "Db.Password", "type": "Sensitive", "value": secret},
            {"key": "region", "name": "Region", "value": "emea", "scope": {"roles": ["web"]}},
        ]
    }


def lvs_copy(sim_inst: Instance, space: str, name: str) -> list[dict[str, Any]]:
    """Every library variable set named ``name`` in the Octopus space."""
    with client_for(sim_inst) as client:
        found = client.get_all(f"/api/{space}/libraryvariablesets")
    return [x for x in found if x["Name"] == name]


def read_copy(sim_inst: Instance, space: str, name: str) -> dict[str, Any]:
    (lvs,) = lvs_copy(sim_inst, space, name)
    with client_for(sim_inst) as client:
        doc: dict[str, Any] = client.get(f"/api/{space}/variables/{lvs['VariableSetId']}")
    doc["Library"] = lvs
    return doc


def by_name(doc: dict[str, Any]) -> dict[tuple[str, tuple[str, ...]], dict[str, Any]]:
    envs = {e["Id"]: e["Name"] for e in doc["ScopeValues"]["Environments"]}
    return {
        (v["Name"], tuple(sorted(envs[e] for e in v["Scope"].get("Environment", [])))): v
        for v in doc["Variables"]
    }


def requests_made(sim: SimInstance) -> dict[str, int]:
    stats = sim.stats()
    return {"total": stats["total"], **stats["by_method"]}


class Recorder:
    """Sits between a kind and its Octopus client: records calls, can act before a write."""

    def __init__(self, before_put: Callable[[], None] | None = None, times: int = 0) -> None:
        self.calls: list[tuple[str, str, Any]] = []
        self.before_put = before_put
        self.times = times

    def wrap(self, inner: CountingClient) -> CountingClient:
        recorder = self

        class Recording(CountingClient):
            def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
                recorder.calls.append(("GET", path, params))
                return super().get(path, params)

            def put(self, path: str, body: Any) -> Any:
                recorder.calls.append(("PUT", path, body))
                if recorder.before_put is not None and recorder.times > 0:
                    recorder.times -= 1
                    recorder.before_put()
                return super().put(path, body)

            def post(self, path: str, body: Any) -> Any:
                recorder.calls.append(("POST", path, body))
                return super().post(path, body)

        return Recording(inner.client)


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout}s")


@pytest.fixture
def pair(make_sim_instance: Callable[..., SimInstance], space_owner: Any) -> dict[str, Any]:
    """A publisher (instance A, Spaces-1) and a trusted subscriber on instance B (Spaces-1),
    whose environment ids differ."""
    # Fixed seeds: Production is Environments-6 in A's Spaces-1 and Environments-3 in B's.
    sim_a = make_sim_instance("sharing-pub", seed=101)
    sim_b = make_sim_instance("sharing-sub", spaces=2, seed=202)
    inst_a, inst_b = enlist_sim(sim_a, owners=[space_owner]), enlist_sim(sim_b)
    publisher, subscriber = space_of(inst_a), space_of(inst_b)
    trust(publisher, subscriber)
    return {
        "sim_a": sim_a,
        "sim_b": sim_b,
        "inst_a": inst_a,
        "inst_b": inst_b,
        "publisher": publisher,
        "subscriber": subscriber,
    }


def make_set(
    publisher: Space, *, policy: str = SharedItem.Policy.PUSH, name: str = "DC Common"
) -> SharedItem:
    item = items.create_item(publisher, SharedItem.Kind.VARIABLE_SET, name, policy=policy)
    items.save_revision(item, variables())
    item.refresh_from_db()
    return item


def subscribe(item: SharedItem, space: Space, **kwargs: Any) -> Subscription:
    return subscriptions.subscribe(item, space, **kwargs)
