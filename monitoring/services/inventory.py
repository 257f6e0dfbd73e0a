"""The inventory sweep: per enlisted space, counts read from ``TotalResults`` (take=0), and
its projects (ids, names, slugs, groups) for the search."""

from __future__ import annotations

import time

from django.conf import settings
from django.utils import timezone

from monitoring.services.checks import COUNTED, count_spaces
from monitoring.services.status import finish_run, job_run
from spaces.models import Instance, Space
from spaces.services.projects import ProjectRow, replace_projects


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
    """Read the counts and projects of these spaces (``instance`` selected) and store them.
    A space that could not be read keeps what was stored before."""
    results = count_spaces([(s.instance, s.pk, s.octopus_id) for s in spaces])
    now = timezone.now()
    by_id = {s.pk: s for s in spaces}
    updated: list[Space] = []
    projects: dict[object, list[ProjectRow]] = {}
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
        projects[space.pk] = result.projects
    Space.objects.bulk_update(updated, [*COUNTED, "counts_updated_at"], batch_size=500)
    replace_projects(projects)
    return {"spaces": len(spaces), "updated": len(updated), "errors": errors}
