"""Drive octosim through its real Octopus API (as a person or another tool would)."""

from __future__ import annotations

from typing import Any

import httpx

from octosim.testing import SimInstance


def api(sim: SimInstance) -> httpx.Client:
    return httpx.Client(
        base_url=sim.url, headers={"X-Octopus-ApiKey": sim.api_key}, timeout=10, trust_env=False
    )


def add_space(sim: SimInstance, name: str) -> dict[str, Any]:
    with api(sim) as client:
        body = {"Name": name, "SpaceManagersTeams": [], "SpaceManagersTeamMembers": ["Users-1"]}
        answer = client.post("/api/spaces", json=body)
        answer.raise_for_status()
        result: dict[str, Any] = answer.json()
        return result


def rename_space(sim: SimInstance, space_id: str, name: str) -> None:
    with api(sim) as client:
        doc = client.get(f"/api/spaces/{space_id}").json()
        client.put(f"/api/spaces/{space_id}", json={**doc, "Name": name}).raise_for_status()


def remove_space(sim: SimInstance, space_id: str) -> None:
    with api(sim) as client:
        doc = client.get(f"/api/spaces/{space_id}").json()
        client.put(f"/api/spaces/{space_id}", json={**doc, "TaskQueueStopped": True})
        client.delete(f"/api/spaces/{space_id}").raise_for_status()


def space_doc(sim: SimInstance, space_id: str) -> httpx.Response:
    with api(sim) as client:
        return client.get(f"/api/spaces/{space_id}")
