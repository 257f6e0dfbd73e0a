"""Set up the demo's DevTest and Prod spaces with a trust and a route (idempotent)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from identity.models import User
from octopus.errors import OctopusError
from promotions import demo
from promotions.errors import PromotionError


class Command(BaseCommand):
    help = "Create the demo's DevTest and Prod spaces, a trust both ways and a route."

    def handle(self, *args: Any, **options: Any) -> None:
        actor = User.objects.filter(is_superuser=True).order_by("date_joined").first()
        try:
            self.stdout.write(demo.setup(actor))
        except (OctopusError, PromotionError) as exc:
            raise CommandError(f"promotions demo: {exc}") from None
