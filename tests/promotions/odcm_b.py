"""The second ODCM of the two-ODCM test: steps run in its own processes, on its own database
(``python -m tests.promotions.odcm_b <step> <json args>`` with its environment). Each step
prints one JSON line."""

from __future__ import annotations

import json
import sys
from typing import Any


def setup(sim_url: str, sim_key: str, sim_slug: str) -> dict[str, Any]:
    from odcm.clients import client_for
    from odcm.crypto import seal
    from promotions.services import identities
    from spaces.models import Instance, Space

    inst = Instance(name=sim_slug, slug=sim_slug, base_url=sim_url)
    seal(inst, "api_key", sim_key)
    inst.save()
    with client_for(inst) as client:
        first = client.spaces()[0]
    space = Space.objects.create(instance=inst, octopus_id=first["Id"], name="Prod", slug="prod")
    identity = identities.ensure(space)
    return {"space_id": str(space.pk), "fingerprint": identity.fingerprint}


def trust(a_url: str, a_space_id: str, a_fingerprint: str) -> dict[str, Any]:
    from promotions.models import Trust
    from promotions.services import peers, transfer
    from spaces.models import Space

    remote = transfer.fetch_remote(a_url, a_space_id)
    prod = Space.objects.get(name="Prod")
    peers.confirm(peers.propose(prod, remote, Trust.Accepts.RELEASES), a_fingerprint)
    return {"remote": str(remote.pk)}


def setup_trusting(b_args: list[str], a_args: list[str]) -> dict[str, Any]:
    """:func:`setup`, then :func:`trust`, in one process (one Django start-up)."""
    return {**setup(*b_args), **trust(*a_args)}


def import_bundle(value: str, lifecycle: str) -> dict[str, Any]:
    from promotions.models import InboundBundle
    from promotions.services import importing

    bundle = InboundBundle.objects.get()
    for need in importing.needed(bundle):
        importing.supply(bundle, need["name"], need["environment"], value)
    done = importing.import_bundle(bundle, None, lifecycle_id=lifecycle)
    return {"state": done.state, "project": done.imported_project_id}


def queue_import(value: str, lifecycle: str) -> dict[str, Any]:
    """Supply the missing values and hand the import to B's worker (which pulls the
    packages from A)."""
    from promotions.models import InboundBundle
    from promotions.services import importing

    bundle = InboundBundle.objects.get()
    for need in importing.needed(bundle):
        importing.supply(bundle, need["name"], need["environment"], value)
    importing.queue_import(bundle, lifecycle_id=lifecycle)
    bundle.refresh_from_db()
    return {"state": bundle.state}


def supply_values(value: str) -> dict[str, Any]:
    """Supply every missing value (the benchmark times the import apart from this)."""
    from promotions.models import InboundBundle
    from promotions.services import importing

    bundle = InboundBundle.objects.get()
    needed = importing.needed(bundle)
    for need in needed:
        importing.supply(bundle, need["name"], need["environment"], value)
    return {"supplied": len(needed)}


def queue_import_only(lifecycle: str) -> dict[str, Any]:
    """Hand the import to B's worker, the values having been supplied."""
    from promotions.models import InboundBundle
    from promotions.services import importing

    bundle = InboundBundle.objects.get()
    importing.queue_import(bundle, lifecycle_id=lifecycle)
    bundle.refresh_from_db()
    return {"state": bundle.state}


def sweep() -> dict[str, Any]:
    from promotions.services import transfer

    return {"queued": transfer.sweep()}


def sweep_until_done(timeout: float, every: float) -> dict[str, Any]:
    """What beat does, every ``every`` seconds, until the bundle's import is done (imported
    or failed) or ``timeout`` seconds have passed: the bundle's state and the sweeps run."""
    import time

    from promotions.models import InboundBundle
    from promotions.services import transfer

    deadline = time.monotonic() + timeout
    sweeps = 0
    while True:
        transfer.sweep()
        sweeps += 1
        state = InboundBundle.objects.values_list("state", flat=True).get()
        if state in ("imported", "failed") or time.monotonic() > deadline:
            return {"state": state, "sweeps": sweeps}
        time.sleep(every)


def receipts() -> dict[str, Any]:
    from promotions.services import receipts as r
    from promotions.services import transfer
    from spaces.models import Space

    made = r.scan(Space.objects.get(name="Prod"))
    return {"sent": [transfer.send_receipt(str(x.pk)) for x in made]}


if __name__ == "__main__":
    import django

    django.setup()
    step, args = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps(globals()[step](*args)))
