"""``manage.py demo_setup``: create the demo's `admin` account with a password printed once."""

from __future__ import annotations

import secrets
from typing import Any

from django.core.management.base import BaseCommand

from identity.models import User


class Command(BaseCommand):
    help = "Create the `admin` superuser with a generated password, printed once."

    def handle(self, *args: Any, **options: Any) -> None:
        if User.objects.filter(username="admin").exists():
            self.stdout.write(
                "Sign in as `admin` with the password printed when the demo first ran "
                "(forgot it? `.venv/bin/python manage.py changepassword admin` with the demo's "
                "settings, or `make clean` to start afresh)."
            )
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser("admin", "admin@localhost", password)
        self.stdout.write(f"Sign in as `admin` with password: {password}   (shown only this once)")
