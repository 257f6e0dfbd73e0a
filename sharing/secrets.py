"""A revision's sensitive values: sealed on the row (``Revision.secrets``), opened only in
memory for a delivery, compared by a keyed digest that reveals nothing."""

from __future__ import annotations

import hashlib
import hmac
import json

from django.conf import settings

from odcm.crypto import unseal
from sharing.models import Revision


def secrets_of(revision: Revision | None) -> dict[str, str]:
    """The plaintext secrets of a revision. Keep the result in memory only."""
    if revision is None or not revision.secrets:
        return {}
    data: dict[str, str] = json.loads(unseal(revision, "secrets"))
    return data


def secrets_digest(secrets: dict[str, str]) -> str:
    """A keyed fingerprint of a revision's secrets: equal secrets, equal digest; no plaintext."""
    if not secrets:
        return ""
    key = hashlib.sha256(b"odcm-sharing-secrets:" + settings.SECRET_KEY.encode()).digest()
    body = json.dumps(secrets, sort_keys=True).encode()
    return hmac.new(key, body, hashlib.sha256).hexdigest()
