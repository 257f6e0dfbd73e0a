"""Run by test_retention.py in a child process on SQLite (the demo's database): the portable
compaction keeps every figure and leaves only the 1st of each old month."""

from datetime import UTC, datetime, timedelta
from typing import Any

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db.models import Sum  # noqa: E402
from django.utils import timezone  # noqa: E402

from monitoring.models import DeploymentDay, SpaceDay  # noqa: E402
from monitoring.services.checks import PulledTask  # noqa: E402
from monitoring.services.deployments import store  # noqa: E402
from monitoring.services.retention import month_start  # noqa: E402
from odcm.retention import prune_all  # noqa: E402
from spaces.models import Instance, Space  # noqa: E402

call_command("migrate", verbosity=0)
instance = Instance.objects.create(name="b", slug="b", base_url="http://127.0.0.1:9/b")
space = Space.objects.create(instance=instance, octopus_id="Spaces-1", name="D", slug="d")
today = timezone.now().astimezone(UTC).date()
tasks = []
for n in range(300):
    day = today - timedelta(days=n)
    done = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    for k in range(2):
        state = ("Success", "Failed", "Canceled")[(n + k) % 3]
        tasks.append(PulledTask(f"T-{n}-{k}", day, f"Environments-{k}", state, 5, done))
store(space.pk, tasks)


def sums(model: Any) -> dict[str, int]:
    return dict(model.objects.aggregate(Sum("succeeded"), Sum("failed"), Sum("canceled")))


before = (sums(SpaceDay), sums(DeploymentDay))
summary = prune_all()
assert summary is not None and summary["monitoring.rollup_rows_compacted"] > 0, summary
boundary = month_start(today - timedelta(days=100))
for model in (SpaceDay, DeploymentDay):
    assert not model.objects.filter(day__lt=boundary).exclude(day__day=1).exists(), model
assert (sums(SpaceDay), sums(DeploymentDay)) == before, (sums(SpaceDay), before)
again = prune_all()
assert again is not None and again["monitoring.rollup_rows_compacted"] == 0, again
print("sqlite retention ok", summary["monitoring.rollup_rows_compacted"])
