"""An apply against octosim with a real worker: the Celery work of the services follows
(grants pushed into Octopus teams, shared sets delivered); a failure part-way is reported
and a rerun finishes the job."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from fleetconfig.models import Plan
from fleetconfig.services import export_text, make_plan, plan_and_apply
from identity.models import GrantTarget, SyncState
from octosim.testing import SimInstance
from sharing.models import Subscription
from spaces.models import Instance

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def wait_for(check: Callable[[], Any], timeout: float = 60.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def test_an_apply_is_carried_out_by_workers_and_a_rerun_finishes_a_partial_apply(
    fleet: dict[str, Any],
    make_sim_instance: Callable[..., SimInstance],
    start_celery_worker: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    start_celery_worker(concurrency=2)
    down = make_sim_instance("cfg-c")
    monkeypatch.setenv("OCTOPUS_API_KEY_CFG_C", down.api_key)
    down.set_faults(offline="refuse")
    doc = yaml.safe_load(export_text())
    doc["instances"].append(
        {"name": "cfg-c", "url": down.url, "api_key": {"env": "OCTOPUS_API_KEY_CFG_C"}}
    )
    doc["groups"].append(
        {
            "name": "Deployers",
            "grants": [{"role": "deployer", "instance": "cfg-b", "space": "Default"}],
        }
    )
    platform = {"instance": "cfg-b", "space": "Platform"}
    doc["trusts"].append({"publisher": doc["trusts"][0]["publisher"], "subscriber": platform})
    doc["shared_items"][0]["subscriptions"].append({**platform, "mode": "automatic"})
    first = plan_and_apply(yaml.safe_dump(doc))
    assert first.status == Plan.Status.PARTIAL
    failed = [o for o in first.result if not o["ok"]]
    assert [(o["kind"], o["key"]) for o in failed] == [("instance", "cfg-c")]
    assert down.api_key not in failed[0]["error"]
    target = wait_for(
        lambda: GrantTarget.objects.filter(
            grant__group__name="Deployers", state=SyncState.APPLIED
        ).first(),
        what="the new grant to reach Octopus",
    )
    assert target.space.instance.name == "cfg-b"
    wait_for(
        lambda: Subscription.objects.filter(
            space__name="Platform", status=Subscription.Status.IN_SYNC
        ).exists(),
        what="the new subscription to be delivered",
    )

    down.clear_faults()
    rest = make_plan(yaml.safe_dump(doc))
    assert [(c["action"], c["kind"], c["key"]) for c in rest.changes] == [
        ("create", "instance", "cfg-c")
    ]
    second = plan_and_apply(yaml.safe_dump(doc))
    assert second.status == Plan.Status.APPLIED, second.result
    assert Instance.objects.filter(name="cfg-c").exists()
    assert make_plan(yaml.safe_dump(doc)).change_count == 0
