"""Helpers for octosim's own tests: a tiny HTTP client speaking to a virtual instance."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from octosim.testing import SimInstance


class Api:
    """Calls one instance's REST API with its full-access key (or another key)."""

    def __init__(self, inst: SimInstance, key: str | None = None) -> None:
        self.inst = inst
        headers = {} if key == "" else {"X-Octopus-ApiKey": key or inst.api_key}
        self.client = httpx.Client(base_url=inst.url, headers=headers, timeout=20, trust_env=False)

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return self.client.request(method, path, **kw)

    def get(self, path: str, **kw: Any) -> Any:
        resp = self.client.get(path, **kw)
        assert resp.status_code == 200, (path, resp.status_code, resp.text[:300])
        return resp.json()

    def post(self, path: str, body: Any) -> httpx.Response:
        return self.client.post(path, json=body)

    def put(self, path: str, body: Any) -> httpx.Response:
        return self.client.put(path, json=body)

    def delete(self, path: str) -> httpx.Response:
        return self.client.delete(path)


@pytest.fixture
def api(sim_instance: SimInstance) -> Api:
    return Api(sim_instance)


@pytest.fixture
def ro_api(sim_instance: SimInstance) -> Api:
    return Api(sim_instance, sim_instance.read_only_api_key)
