from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from fleetconfig.schema import SECTIONS
from fleetconfig.services import export_text


class Command(BaseCommand):
    help = "Print ODCM's configuration as YAML (stable ordering: equal states, equal bytes)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--only",
            nargs="+",
            choices=SECTIONS,
            metavar="KIND",
            help=f"Only these sections: {', '.join(SECTIONS)}.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        only = set(options["only"]) if options["only"] else None
        self.stdout.write(export_text(only), ending="")
