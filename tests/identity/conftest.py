"""Identity fixtures: octosim instances enlisted as registry rows, groups and grants."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.utils.text import slugify

from identity.models import Group, User
from identity.services import create_group
from octosim.testing import SimInstance
from odcm.clients import client_for
from odcm.crypto import seal
from spaces.models import Instance, Space


def enlist_sim(sim: SimInstance, *, owners: Any = ()) -> Instance:
    inst = Instance(name=sim.slug, slug=sim.slug, base_url=sim.url)
    seal(inst, "api_key", sim.api_key)
    inst.save()
    inst.owners.set(owners)
    with client_for(inst) as client:
        for sp in client.spaces():
            Space.objects.create(
                instance=inst,
                octopus_id=sp["Id"],
                name=sp["Name"],
                slug=slugify(sp["Name"]),
                is_default=bool(sp.get("IsDefault")),
            )
    return inst


def octopus_get(inst: Instance, path: str, params: dict[str, Any] | None = None) -> Any:
    with client_for(inst) as client:
        return client.get(path, params)


def managed_teams(inst: Instance, space_id: str) -> list[dict[str, Any]]:
    """The teams in an Octopus space whose name says ODCM manages them, with their roles."""
    with client_for(inst) as client:
        teams = [
            t
            for t in client.get_all("/api/teams", {"spaces": space_id, "includeSystem": "false"})
            if t["Name"].startswith("ODCM · ")
        ]
        for team in teams:
            team["Roles"] = sorted(
                (r["UserRoleId"], r["SpaceId"])
                for r in client.paginate(f"/api/teams/{team['Id']}/scopeduserroles")
            )
    return teams


@pytest.fixture
def enlisted(sim_instance: SimInstance, db: None) -> Instance:
    return enlist_sim(sim_instance)


@pytest.fixture
def make_group() -> Callable[..., Group]:
    def _make(
        name: str, members: list[User] | None = None, external: list[str] | None = None
    ) -> Group:
        return create_group(name=name, members=members or [], external_groups=external or [])

    return _make


from tests.fixtures.ldap import slapd  # noqa: E402,F401 - the LDAP server fixture


@pytest.fixture
def eager_celery() -> Iterator[None]:
    """Run tasks a periodic task enqueues at once, in this process (no worker needed)."""
    from odcm.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before
