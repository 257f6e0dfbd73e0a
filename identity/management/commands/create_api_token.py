"""``manage.py create_api_token <username>``: print a new personal API token, once."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from identity.models import User
from identity.services.tokens import create_token


class Command(BaseCommand):
    help = "Create a personal API token for a user and print it (alone) on standard output."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="command line", help="a label for the token")
        parser.add_argument("--expires-days", type=int, default=None, help="days until it expires")
        parser.add_argument("--read-only", action="store_true", help="the token may only read")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            user = User.objects.get(username=options["username"])
        except User.DoesNotExist:
            raise CommandError(f"no user named {options['username']!r}") from None
        if not user.is_active:
            raise CommandError(f"user {user.username!r} is inactive")
        days = options["expires_days"]
        if days is not None and days < 1:
            raise CommandError("--expires-days must be at least 1")
        _token, plaintext = create_token(
            user, name=options["name"], expires_days=days, read_only=options["read_only"]
        )
        self.stdout.write(plaintext)
