"""Verify a deployment receipt file at the source (air-gapped receipts)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from promotions.errors import PromotionError
from promotions.services import receipts


class Command(BaseCommand):
    help = "Verify a deployment receipt file and record it at the source."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the .odcm-receipt file")

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            receipt, created = receipts.receive(Path(opts["file"]).read_text())
        except OSError as exc:
            raise CommandError(f"Cannot read {opts['file']}: {exc.strerror}") from None
        except PromotionError as exc:
            raise CommandError(exc.message) from None
        verb = "Recorded" if created else "Already had"
        self.stdout.write(
            f"{verb} {receipt.release_version} {receipt.environment}: {receipt.outcome}"
        )
