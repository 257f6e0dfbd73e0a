"""``manage.py prune_history``: run the retention pruning now (beat runs it every hour)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from odcm.retention import prune_all


class Command(BaseCommand):
    help = "Delete history older than the ODCM_RETENTION_* ages and compact old daily rollups."

    def handle(self, *args: Any, **options: Any) -> None:
        summary = prune_all()
        if summary is None:
            raise CommandError("another process is pruning right now; try again later")
        for kind, count in sorted(summary.items()):
            self.stdout.write(f"{kind}: {count}")
