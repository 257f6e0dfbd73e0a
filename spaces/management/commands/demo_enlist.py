"""Enlist the demo's octosim instances (octosim's ``--json`` output) with all their spaces.

Idempotent: an instance already enlisted (same URL or InstallationId) is skipped, so a
second ``make demo`` works. Prints one line per instance; never prints an API key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q

from identity.models import OctopusSignIn, User
from identity.services import octopus_signin
from spaces import services
from spaces.models import Instance
from spaces.services import RegistryError

REGIONS = ["APAC", "North America", "EMEA", "LATAM"]


class Command(BaseCommand):
    help = "Enlist octosim instances listed in a JSON file (octosim --json output)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="JSON array of {name, url, api_key, version}")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            entries = json.loads(Path(options["path"]).read_text())
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read {options['path']}: {exc}") from None
        if not isinstance(entries, list):
            raise CommandError("expected a JSON array of instances")
        actor = User.objects.filter(is_superuser=True).order_by("date_joined").first()
        failures = 0
        for position, entry in enumerate(entries):
            failures += not self._enlist(entry, position, actor)
        if failures:
            raise CommandError(f"{failures} instance(s) could not be enlisted")

    def _enlist(self, entry: dict[str, Any], position: int, actor: User | None) -> bool:
        name, url = str(entry.get("name") or f"octosim-{position + 1}"), str(entry["url"])
        try:
            base_url = services.normalise_url(url)
        except RegistryError as exc:
            self.stdout.write(f"{name}: failed: {exc.message}")
            return False
        existing = Instance.objects.filter(Q(base_url=base_url) | Q(name=name)).first()
        if existing is not None:
            self.stdout.write(f"{name}: already enlisted as {existing.name}, skipped")
            self._sign_in(existing, actor)
            return True
        try:
            instance = services.enlist_instance(
                name=name,
                base_url=base_url,
                api_key=str(entry["api_key"]),
                region=REGIONS[position % len(REGIONS)],
                tags=["demo", "octosim"],
                actor=actor,
            )
        except RegistryError as exc:
            if exc.code == "already_enlisted":
                self.stdout.write(f"{name}: {exc.message} Skipped.")
                return True
            self.stdout.write(f"{name}: failed: {exc.message}")
            return False
        self.stdout.write(
            f"{name}: enlisted {instance.spaces.count()} spaces "
            f"(Octopus {instance.version}, {instance.base_url})"
        )
        self._sign_in(instance, actor)
        return True

    def _sign_in(self, instance: Instance, actor: User | None) -> None:
        """The demo's instances show "Sign in with ODCM" (docs/identity.md)."""
        if OctopusSignIn.objects.filter(
            instance=instance, state=OctopusSignIn.State.CONFIGURED
        ).exists():
            return
        row = octopus_signin.enable(instance, actor=actor)
        octopus_signin.configure(str(row.pk))  # the queued task finds it done, or redoes it
        row.refresh_from_db()
        note = f" ({row.last_error})" if row.last_error else ""
        self.stdout.write(f"{instance.name}: sign-in through ODCM {row.state}{note}")
