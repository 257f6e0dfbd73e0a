"""Secrets at rest: one encryption service for every secret ODCM stores.

AES-256-GCM with keys from ``ODCM_ENCRYPTION_KEYS`` (newest first). New ciphertexts use the
newest key; any listed key decrypts. Each ciphertext is bound to its row and field through the
GCM associated data, so a ciphertext copied into another row or field fails to decrypt instead of
silently handing one instance's API key to another.

Token format: ``v1.<key id>.<base64url(nonce | ciphertext | tag)>``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.db import models

if TYPE_CHECKING:
    from collections.abc import Iterator

VERSION = "v1"
NONCE_BYTES = 12


class CryptoError(Exception):
    """A secret could not be encrypted or decrypted. Never carries plaintext or key material."""


@dataclass(frozen=True)
class Key:
    key_id: str
    aead: AESGCM

    def __repr__(self) -> str:
        return f"Key(key_id={self.key_id!r})"


def generate_key() -> str:
    """A new random key in the form ``ODCM_ENCRYPTION_KEYS`` expects."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode("ascii")


def parse_keys(values: Sequence[str]) -> list[Key]:
    """Turn the configured base64 keys into AES-GCM keys. Raises CryptoError on a bad key."""
    keys = []
    for position, value in enumerate(values, start=1):
        try:
            raw = base64.urlsafe_b64decode(value.encode("ascii") + b"=" * (-len(value) % 4))
        except (binascii.Error, ValueError, UnicodeEncodeError):
            raise CryptoError(f"ODCM_ENCRYPTION_KEYS: key {position} is not base64") from None
        if len(raw) != 32:
            raise CryptoError(
                f"ODCM_ENCRYPTION_KEYS: key {position} must be 32 bytes (base64 of 32 random "
                f"bytes, e.g. from `python -m odcm.keygen`), not {len(raw)}"
            )
        key_id = hashlib.sha256(b"odcm-key-id" + raw).hexdigest()[:8]
        keys.append(Key(key_id=key_id, aead=AESGCM(raw)))
    return keys


class Keyring:
    """The configured keys: encrypts with the first, decrypts with whichever made the token."""

    def __init__(self, keys: Sequence[Key]) -> None:
        if not keys:
            raise CryptoError("no encryption key is configured (ODCM_ENCRYPTION_KEYS)")
        self.keys = list(keys)
        self._by_id = {key.key_id: key for key in self.keys}

    @property
    def newest(self) -> Key:
        return self.keys[0]

    def encrypt(self, plaintext: str, *, context: str) -> str:
        key = self.newest
        nonce = os.urandom(NONCE_BYTES)
        sealed = key.aead.encrypt(nonce, plaintext.encode("utf-8"), context.encode("utf-8"))
        body = base64.urlsafe_b64encode(nonce + sealed).decode("ascii").rstrip("=")
        return f"{VERSION}.{key.key_id}.{body}"

    def decrypt(self, token: str, *, context: str) -> str:
        version, key_id, body = self._split(token)
        key = self._by_id.get(key_id)
        if key is None:
            raise CryptoError(
                f"secret was encrypted with key {key_id}, which is not in ODCM_ENCRYPTION_KEYS"
            )
        try:
            blob = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            plaintext = key.aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], context.encode())
        except (InvalidTag, binascii.Error, ValueError):
            raise CryptoError(
                "secret failed its integrity check (it was altered, or belongs to another record)"
            ) from None
        return plaintext.decode("utf-8")

    def key_id_of(self, token: str) -> str:
        return self._split(token)[1]

    @staticmethod
    def _split(token: str) -> tuple[str, str, str]:
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != VERSION:
            raise CryptoError("stored secret is not in a format ODCM recognises")
        return parts[0], parts[1], parts[2]


def keyring() -> Keyring:
    """The keyring built from the current settings (cheap; rebuilt so tests can override keys)."""
    from django.conf import settings

    return Keyring(parse_keys(settings.ODCM_ENCRYPTION_KEYS))


class EncryptedField(models.TextField):
    """A text column holding a ciphertext made by :func:`seal`. Never holds plaintext.

    Marking the column with its own type lets ``rotate_encryption_keys`` find every secret in the
    database without a hand-kept list.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)


def context_for(instance: models.Model, field_name: str) -> str:
    """The associated data that binds a ciphertext to one row and one field."""
    if instance.pk is None:
        raise CryptoError("a secret can only be sealed into a row that has a primary key")
    return f"{instance._meta.label_lower}.{field_name}:{instance.pk}"


def seal(instance: models.Model, field_name: str, plaintext: str) -> None:
    """Encrypt ``plaintext`` into ``instance.<field_name>`` (the caller saves the row)."""
    token = keyring().encrypt(plaintext, context=context_for(instance, field_name))
    setattr(instance, field_name, token)


def unseal(instance: models.Model, field_name: str) -> str:
    """Decrypt ``instance.<field_name>``. Raises CryptoError if it was swapped or tampered."""
    token = getattr(instance, field_name)
    if not token:
        raise CryptoError(f"{instance._meta.label}.{field_name} holds no secret")
    return keyring().decrypt(token, context=context_for(instance, field_name))


def encrypted_fields() -> Iterator[tuple[type[models.Model], str]]:
    """Every (model, field name) pair in the project that stores a ciphertext."""
    from django.apps import apps

    for model in apps.get_models():
        for field in model._meta.get_fields():
            if isinstance(field, EncryptedField):
                yield model, field.name


def rotate_all(batch_size: int = 500) -> dict[str, int]:
    """Re-encrypt every stored secret with the newest key. Returns rows rewritten per field.

    Each row is rewritten inside its own small transaction with a row lock, so a concurrent save
    is never overwritten with stale plaintext; rows already on the newest key are skipped, so the
    command can be interrupted and run again.
    """
    from django.db import transaction

    ring = keyring()
    counts: dict[str, int] = {}
    for model, field in encrypted_fields():
        label = f"{model._meta.label}.{field}"
        counts[label] = 0
        pks = list(
            model._default_manager.exclude(**{field: ""})
            .exclude(**{f"{field}__contains": f".{ring.newest.key_id}."})
            .values_list("pk", flat=True)
        )
        for start in range(0, len(pks), batch_size):
            with transaction.atomic():
                rows = model._default_manager.select_for_update().filter(
                    pk__in=pks[start : start + batch_size]
                )
                for row in rows:
                    token = getattr(row, field)
                    if not token or ring.key_id_of(token) == ring.newest.key_id:
                        continue
                    context = context_for(row, field)
                    setattr(
                        row,
                        field,
                        ring.encrypt(ring.decrypt(token, context=context), context=context),
                    )
                    row.save(update_fields=[field])
                    counts[label] += 1
    return counts
