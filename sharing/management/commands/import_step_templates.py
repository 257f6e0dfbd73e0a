"""Import a folder of community step template JSON files (offline) into a publisher space."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sharing.services.items import import_template_folder
from spaces.models import Space


class Command(BaseCommand):
    help = "Import every *.json step template in FOLDER as shared items of a publisher space."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("space", help="the publisher space's ODCM id (UUID)")
        parser.add_argument("folder", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        space = Space.objects.filter(pk=options["space"]).first()
        if space is None:
            raise CommandError("No such space.")
        if not options["folder"].is_dir():
            raise CommandError(f"{options['folder']} is not a folder.")
        items, problems = import_template_folder(space, options["folder"])
        for problem in problems:
            self.stderr.write(problem)
        self.stdout.write(f"Imported {len(items)} step templates; {len(problems)} files skipped.")
