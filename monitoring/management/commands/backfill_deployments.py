"""``manage.py backfill_deployments [--space ID|SLUG …] [--instance SLUG] [--days 90]``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q

from monitoring.services import deployments
from spaces.models import Space


class Command(BaseCommand):
    help = "Re-read finished deployments of the last N days; tasks already counted are skipped."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--space", action="append", default=[], help="Space UUID or slug.")
        parser.add_argument("--instance", action="append", default=[], help="Instance slug.")
        parser.add_argument("--days", type=int, default=90)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["days"] < 1:
            raise CommandError("--days must be at least 1")
        spaces = Space.objects.filter(state=Space.State.ENLISTED).select_related("instance")
        if options["space"]:
            wanted = Q()
            for value in options["space"]:
                wanted |= Q(slug=value) | Q(octopus_id=value)
                if len(value) == 36:
                    wanted |= Q(pk=value)
            spaces = spaces.filter(wanted)
        if options["instance"]:
            spaces = spaces.filter(instance__slug__in=options["instance"])
        chosen = list(spaces)
        if not chosen:
            raise CommandError("no enlisted space matches")
        result = deployments.backfill(chosen, options["days"])
        self.stdout.write(
            f"{result['spaces']} space(s): {result['new']} new deployment(s), "
            f"{result['errors']} error(s)"
        )
