"""``manage.py sweep [--once] [--only status|inventory|deployments|alerts]``."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from monitoring.services import alerts, deployments, inventory, status

JOBS = ("status", "inventory", "deployments", "alerts")


class Command(BaseCommand):
    help = "Check every instance (and read inventory and deployments); once, or every interval."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="One run of each job, then exit.")
        parser.add_argument("--only", choices=JOBS, action="append", help="Run only these jobs.")

    def handle(self, *args: Any, **options: Any) -> None:
        jobs = options["only"] or list(JOBS)
        if options["once"]:
            self._run(jobs, force=True)
            return
        while True:  # a simple scheduler for installations without Celery beat
            self._run(jobs, force=False)
            time.sleep(min(settings.ODCM_SWEEP_SECONDS, 15))

    def _run(self, jobs: list[str], *, force: bool) -> None:
        for job in jobs:
            started = time.perf_counter()
            if job == "status":
                result: Any = status.sweep_status(force=force)
            elif job == "inventory":
                result = inventory.sweep_inventory(force=force)
            elif job == "deployments":
                result = deployments.pull_all(force=force)
            else:
                result = alerts.dispatch()
            elapsed = time.perf_counter() - started
            outcome = "skipped (another process has it)" if result is None else result
            self.stdout.write(f"{job}: {outcome} in {elapsed:.2f}s")
