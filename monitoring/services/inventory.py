"""The inventory sweep: per enlisted space, counts read from ``TotalResults`` (take=0)."""

from __future__ import annotations

import time

from django.conf import settings
from django.utils import timezone

from monitoring.services.checks import INVENTORY, count_spaces
from monitoring.services.status import finish_run, job_run
from spaces.models import Instance, Space


def enlisted_spaces_on_reachable_instances() -> list[Space]:
    return list(
        Space.objects.filter(state=Space.State.ENLISTED)
        .exclude(instance__status=Instance.Status.OFFLINE)
        .select_related("instance")
        .order_by("instance_id", "octopus_id")
    )


def sweep_inventory(*, force: bool = False) -> dict[str, int] | None:
    with job_run("inventory", settings.ODCM_INVENTORY_SECONDS, force=force) as run:
        if run is None:
            return None
        started = time.perf_counter()
        summary = refresh_counts(enlisted_spaces_on_reachable_instances())
        finish_run("inventory", started, summary["spaces"], summary["errors"])
        return summary


def refresh_counts(spaces: list[Space]) -> dict[str, int]:
    """Read the counts of these spaces (``instance`` selected) and store them."""
    results = count_spaces([(s.instance, s.pk, s.octopus_id) for s in spaces])
    now = timezone.now()
    by_id = {s.pk: s for s in spaces}
    updated: list[Space] = []
    errors = 0
    for result in results:
        if result.error:
            errors += 1
            continue
        space = by_id[result.space_id]
        for field_name, value in result.counts.items():
            setattr(space, field_name, value)
        space.counts_updated_at = now
        updated.append(space)
    Space.objects.bulk_update(updated, [*INVENTORY.keys(), "counts_updated_at"], batch_size=500)
    return {"spaces": len(spaces), "updated": len(updated), "errors": errors}
