"""Set up the demo's managed spaces (a blueprint and a template project); idempotent."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from managed.services.demo import set_up


class Command(BaseCommand):
    help = "A management space with a blueprint and a template project pushed to two spaces."

    def handle(self, *args: Any, **options: Any) -> None:
        actor = get_user_model().objects.filter(is_superuser=True).order_by("pk").first()
        try:
            line = set_up(actor)
        except Exception as exc:  # the demo runs on without it; say why
            line = f"managed demo: skipped ({type(exc).__name__}: {exc})"
        self.stdout.write(line)
