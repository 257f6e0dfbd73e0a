"""Receive a bundle file into the inbox (verified first) and import it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from promotions.errors import PromotionError
from promotions.models import InboundBundle
from promotions.services import importing, inbox


class Command(BaseCommand):
    help = "Verify a release bundle file, put it in the inbox and import it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the .odcm-bundle file")
        parser.add_argument("--packages", default="", help="the package archive folder")
        parser.add_argument("--lifecycle", default="", help="lifecycle id in the target space")
        parser.add_argument("--review-only", action="store_true", help="receive, do not import")

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            bundle, created = inbox.receive(Path(opts["file"]).read_text())
            if not created:
                self.stdout.write(f"Bundle {bundle.pk} was received before ({bundle.state}).")
            if opts["review_only"] or bundle.state == InboundBundle.State.IMPORTED:
                return
            source = importing.archive_source(Path(opts["packages"])) if opts["packages"] else None
            importing.import_bundle(bundle, source, lifecycle_id=opts["lifecycle"])
        except OSError as exc:
            raise CommandError(f"Cannot read {opts['file']}: {exc.strerror}") from None
        except PromotionError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"Imported {bundle.project_name} {bundle.release_version}.")
