"""Fixtures for the registry tests: enlisted octosim instances."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from identity.models import User
from octosim.testing import SimInstance
from spaces import services
from spaces.models import Instance, Space


@pytest.fixture
def enlist(admin_user: User) -> Callable[..., Instance]:
    """Enlist an octosim instance through the service, as the admin."""

    def _enlist(sim: SimInstance, name: str | None = None, **kwargs: Any) -> Instance:
        return services.enlist_instance(
            name=name or sim.name, base_url=sim.url, api_key=sim.api_key, actor=admin_user, **kwargs
        )

    return _enlist


@pytest.fixture
def enlisted(sim_instance: SimInstance, enlist: Callable[..., Instance]) -> Instance:
    return enlist(sim_instance)


def make_rows(spaces: int, instances: int = 1, prefix: str = "bulk") -> list[Space]:
    """Spaces straight in the database (no Octopus), for query-count tests."""
    from odcm.crypto import seal

    rows: list[Space] = []
    for i in range(instances):
        inst = Instance(
            name=f"{prefix}-{i}", slug=f"{prefix}-{i}", base_url=f"http://127.0.0.1:9/{prefix}{i}"
        )
        seal(inst, "api_key", "API-ROWSROWSROWSROWSROWS000")
        inst.save()
        per = spaces // instances + (1 if i < spaces % instances else 0)
        rows += Space.objects.bulk_create(
            Space(instance=inst, octopus_id=f"Spaces-{n}", name=f"{prefix} space {i}-{n}",
                  slug=f"s-{n}", project_count=n % 7, target_count=n % 5)
            for n in range(1, per + 1)
        )  # fmt: skip
    return rows
