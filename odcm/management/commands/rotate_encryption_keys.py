"""``manage.py rotate_encryption_keys``: re-encrypt every secret with the newest key."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from audit.services import record
from odcm.crypto import CryptoError, keyring, rotate_all


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret with the first key in ODCM_ENCRYPTION_KEYS. Put the new "
        "key first, run this, then remove the old key."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            newest = keyring().newest.key_id
            counts = rotate_all()
        except CryptoError as exc:
            raise CommandError(str(exc)) from None
        total = sum(counts.values())
        for label, count in counts.items():
            self.stdout.write(f"{label}: {count} re-encrypted")
        record("crypto.rotate", message=f"{total} secrets re-encrypted with key {newest}")
        self.stdout.write(self.style.SUCCESS(f"Done: {total} secrets now use key {newest}."))
