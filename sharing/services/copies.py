"""Where a subscription's copy lives in Octopus: its target, the shared connection pool, how
a failure is classified for people, and giving a copy up when ODCM stops managing it."""

from __future__ import annotations

import logging
import os

import httpx

from octopus import ErrorKind, OctopusError, make_http_client
from odcm.clients import client_for, url_policy
from odcm.crypto import CryptoError
from sharing.kinds import DeliveryProblem, Target
from sharing.models import SharedItem, Subscription

logger = logging.getLogger("sharing.delivery")

_http: tuple[int, httpx.Client] | None = None


def shared_http() -> httpx.Client:
    """One connection pool per process (made after a worker forks)."""
    global _http
    if _http is None or _http[0] != os.getpid():
        _http = (os.getpid(), make_http_client(url_policy(), max_connections=50))
    return _http[1]


def target_for(sub: Subscription) -> Target:
    item = sub.item
    publisher = item.publisher
    note = (
        f"Managed by ODCM: shared from the space {publisher.name} on "
        f"{publisher.instance.name}. Read-only here; changes made in Octopus are overwritten or "
        "reported as drift."
    )
    return Target(
        space_id=sub.space.octopus_id,
        space_label=f"{sub.space.name} ({sub.space.instance.name})",
        item_key=str(item.pk),
        name=item.name,
        description=f"{item.description}\n\n{note}".strip(),
        octopus_id=sub.octopus_id,
        octopus_child_id=sub.octopus_child_id,
        octopus_version=sub.octopus_version,
        secrets_digest=sub.secrets_digest,
    )


# The broker's error class of each kind of error (the rest are the server's fault).
_ERROR_CLASSES = {
    ErrorKind.UNREACHABLE: Subscription.ErrorClass.UNREACHABLE,
    ErrorKind.TIMEOUT: Subscription.ErrorClass.UNREACHABLE,
    ErrorKind.TLS: Subscription.ErrorClass.UNREACHABLE,
    ErrorKind.AUTH: Subscription.ErrorClass.AUTH,
    ErrorKind.PERMISSION: Subscription.ErrorClass.PERMISSION,
    ErrorKind.CONFLICT: Subscription.ErrorClass.CONFLICT,
    ErrorKind.VALIDATION: Subscription.ErrorClass.VALIDATION,
    ErrorKind.NOT_FOUND: Subscription.ErrorClass.VALIDATION,
    ErrorKind.REFUSED_URL: Subscription.ErrorClass.VALIDATION,
}


def classify(exc: BaseException) -> tuple[str, str]:
    """(error class, message for people) for a failed delivery. Never includes secrets."""
    if isinstance(exc, DeliveryProblem):
        return exc.error_class, exc.message
    if isinstance(exc, OctopusError):
        return _ERROR_CLASSES.get(exc.kind, Subscription.ErrorClass.SERVER), str(exc)
    if isinstance(exc, CryptoError):
        return Subscription.ErrorClass.INTERNAL, str(exc)
    # Unknown failures: the type only, in case a message were to echo data.
    return Subscription.ErrorClass.INTERNAL, f"Unexpected {type(exc).__name__} in ODCM."


RELEASED_NOTE = "No longer managed by ODCM: this copy is no longer updated and may be edited."


def release(sub_id: str) -> bool:
    """Rewrite the copy's description to say ODCM no longer manages it."""
    sub = (
        Subscription.objects.select_related("space__instance", "item")
        .filter(pk=sub_id, status=Subscription.Status.UNMANAGED)
        .first()
    )
    if sub is None or not sub.octopus_id:
        return False
    collection = {
        SharedItem.Kind.VARIABLE_SET: "libraryvariablesets",
        SharedItem.Kind.STEP_TEMPLATE: "actiontemplates",
    }[SharedItem.Kind(sub.item.kind)]
    path = f"/api/{sub.space.octopus_id}/{collection}/{sub.octopus_id}"
    try:
        with client_for(sub.space.instance, http=shared_http()) as client:
            doc = client.get(path)
            doc["Description"] = RELEASED_NOTE
            doc.pop("Links", None)
            client.put(path, doc)
    except (OctopusError, CryptoError) as exc:
        logger.warning(
            "could not mark subscription %s's copy unmanaged: %s", sub.pk, classify(exc)[0]
        )
        return False
    return True
