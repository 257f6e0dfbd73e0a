"""The periodic refresh, run by a real Celery worker against octosim."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from identity.models import User
from octosim.testing import SimInstance
from spaces import services
from spaces.models import Space
from spaces.tasks import refresh_all
from tests.spaces.octo import add_space, remove_space

pytestmark = pytest.mark.django_db(transaction=True)


def _wait_for(check: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_worker_refreshes_every_instance(
    make_sim_instance: Callable[..., SimInstance], admin_user: User,
    start_celery_worker: Callable[..., Any],
) -> None:  # fmt: skip
    sims = [make_sim_instance(spaces=2), make_sim_instance(spaces=3)]
    instances = [
        services.enlist_instance(name=s.name, base_url=s.url, api_key=s.api_key) for s in sims
    ]
    added = add_space(sims[0], "Arrived later")
    remove_space(sims[1], "Spaces-2")
    start_celery_worker(concurrency=1)
    refresh_all.delay()
    _wait_for(lambda: instances[0].spaces.filter(octopus_id=added["Id"]).exists())
    _wait_for(lambda: instances[1].spaces.get(octopus_id="Spaces-2").state == Space.State.GONE)
