"""``manage.py demo_setup``: create the demo's `admin` account with a password printed once."""

from __future__ import annotations

import secrets
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from identity.models import User


class Command(BaseCommand):
    help = "Create the `admin` superuser with a generated password, printed once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--reset", action="store_true", help="give `admin` a new password")

    def handle(self, *args: Any, **options: Any) -> None:
        admin = User.objects.filter(username="admin").first()
        if admin is not None and not options["reset"]:
            self.stdout.write(
                "Sign in as `admin` with the password printed when the demo first ran "
                "(forgot it? `make demo-password` prints a new one)."
            )
            return
        password = secrets.token_urlsafe(12)
        if admin is None:
            User.objects.create_superuser("admin", "admin@localhost", password)
        else:
            admin.set_password(password)
            admin.save(update_fields=["password"])
        self.stdout.write(f"Sign in as `admin` with password: {password}   (shown only this once)")
