"""Fixtures for rollouts: a publisher and subscribers on several octosim instances, trusted,
subscribed and holding revision 1, with instance tags and regions to pick waves by."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from octosim.testing import SimInstance
from rollouts.models import PolicyWave
from rollouts.services import actions
from sharing.models import SharedItem, Subscription
from sharing.services import items, subscriptions
from spaces.models import Instance, Tag
from tests.monitoring.conftest import smtp_server  # noqa: F401 - a fixture, used by name
from tests.sharing.conftest import enlist_sim, space_of, trust, variables, wait_for

FAST = {
    "ODCM_SHARING_RETRY_BASE_SECONDS": "1",
    "ODCM_SHARING_RETRY_MAX_SECONDS": "2",
    "ODCM_SHARING_CLAIM_SECONDS": "5",
    "ODCM_OCTOPUS_READ_TIMEOUT": "2",
}


@pytest.fixture
def fleet(
    make_sim_instance: Callable[..., SimInstance],
    space_owner: Any,
    start_celery_worker: Callable[..., Any],
    smtp_server: Any,  # noqa: F811 - the fixture imported above
) -> dict[str, Any]:
    """Publisher on its own instance; three subscriber instances of two spaces each:
    "canary" (tag canary), "eu" (region eu) and "rest", all holding revision 1. A real
    worker (sending mail to the test SMTP server) delivers."""
    worker = start_celery_worker(concurrency=2, **FAST, ODCM_EMAIL_URL=smtp_server.url)
    space_owner.email = "owner@example.com"
    space_owner.save(update_fields=["email"])
    pub_sim = make_sim_instance("ro-pub", seed=11)
    publisher = space_of(enlist_sim(pub_sim, owners=[space_owner]))
    sims: dict[str, SimInstance] = {}
    insts: dict[str, Instance] = {}
    for n, name in enumerate(("canary", "eu", "rest")):
        sims[name] = make_sim_instance(f"ro-{name}", spaces=2, seed=30 + n)
        insts[name] = enlist_sim(sims[name])
    insts["canary"].tags.add(Tag.objects.get_or_create(name="canary")[0])
    Instance.objects.filter(pk=insts["eu"].pk).update(region="EU")
    item = items.create_item(publisher, SharedItem.Kind.VARIABLE_SET, "Rolled")
    items.save_revision(item, variables())
    subs: dict[str, list[Subscription]] = {}
    for name, inst in insts.items():
        subs[name] = []
        for space in inst.spaces.order_by("octopus_id"):
            trust(publisher, space)
            subs[name].append(subscriptions.subscribe(item, space))
    wait_for(lambda: all_at([s for group in subs.values() for s in group], 1))
    return {
        "item": item,
        "sims": sims,
        "insts": insts,
        "subs": subs,
        "owner": space_owner,
        "worker": worker,
        "smtp": smtp_server,
    }


def three_waves(item: SharedItem, **options: Any) -> None:
    actions.save_policy(
        "shared_item",
        item.pk,
        [
            {"selector": PolicyWave.Selector.TAG, "value": "canary", "name": "Canary"},
            {"selector": PolicyWave.Selector.REGION, "value": "eu", "name": "Europe"},
            {"selector": PolicyWave.Selector.PERCENT, "percent": 100, "name": "Everyone else"},
        ],
        **{"soak_seconds": 1, **options},
    )


def variables_v(n: int) -> dict[str, Any]:
    """The fixture's variables with a different production URL per revision."""
    return variables(prod_url=f"https://r{n}.example")


def revisions(subs: list[Subscription]) -> list[tuple[int, int | None]]:
    out = []
    for sub in subs:
        sub.refresh_from_db()
        out.append((sub.target_revision, sub.delivered_revision))
    return out


def all_at(subs: list[Subscription], number: int) -> bool:
    return all(r == (number, number) for r in revisions(subs))


__all__ = ["FAST", "all_at", "revisions", "three_waves", "variables_v", "wait_for"]
