"""The inbox of a target space: every check runs before anything is stored.

Order: the document is a JWS naming a certificate; that certificate belongs to a known
remote space and is neither revoked, expired nor past its rotation overlap; the signature
holds; the target space trusts that source for releases; the schema version is in range; the
bundle was made for one of this ODCM's space identities; it is not a replay and does not put
an older release over a newer one. A refusal raises :class:`Refused` with a message for
people and leaves no row behind.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import IntegrityError, transaction

from audit.services import record

from .. import formats, pki
from ..errors import Refused
from ..models import InboundBundle, Trust
from . import identities, notify, peers
from .bundles import SCHEMA_MAX, SCHEMA_MIN


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Semantic-ish ordering: numeric parts compare as numbers, others as text."""
    parts: list[tuple[int, int | str]] = []
    for piece in version.replace("-", ".").replace("+", ".").split("."):
        parts.append((0, int(piece)) if piece.isdigit() else (1, piece))
    return tuple(parts)


def verify(token: str) -> tuple[dict[str, Any], Any, Any]:
    """(claims, sender certificate row, target identity) of a bundle that passed every
    check but the replay ones; Refused otherwise."""
    head = formats.header(token)
    sender = peers.sender(str(head["kid"]))
    claims = formats.verify(
        token, pki.load_certificate(sender.certificate_pem), formats.BUNDLE_TYPE
    )
    target = identities.for_fingerprint(str(claims["aud"]))
    if target is None:
        named = (claims.get("target") or {}).get("name") or "another space"
        raise Refused(
            f"This bundle was made for {named} (certificate "
            f"{pki.pretty(str(claims['aud']))[:23]}…), "
            "not for any space of this ODCM."
        )
    peers.require_trust(target.space, sender.remote, Trust.Accepts.RELEASES)
    schema = claims.get("schema")
    if not isinstance(schema, int) or not SCHEMA_MIN <= schema <= SCHEMA_MAX:
        raise Refused(
            f"This bundle has schema version {schema}; this ODCM imports schema versions "
            f"{SCHEMA_MIN} to {SCHEMA_MAX}. Upgrade the older side."
        )
    return claims, sender, target


def receive(token: str, *, actor: Any = None) -> tuple[InboundBundle, bool]:
    """Verify and store a bundle. (row, created): the same bundle again is a no-op."""
    token = token.strip()
    claims, sender, target = verify(token)
    try:
        bundle_id = uuid.UUID(str(claims["jti"]))
    except ValueError:
        raise Refused("The bundle's id (jti) is not a UUID.") from None
    existing = InboundBundle.objects.filter(pk=bundle_id).first()
    if existing is not None:
        return existing, False
    project = str(claims["project"]["name"])
    version = str(claims["release"]["version"])
    newer = [
        b.release_version
        for b in InboundBundle.objects.filter(
            space=target.space, source=sender.remote, project_name=project
        ).exclude(state=InboundBundle.State.FAILED)
        if version_key(b.release_version) > version_key(version)
    ]
    if newer:
        raise Refused(
            f"{project} {version} is older than {max(newer, key=version_key)}, which "
            f"{target.space.name} "
            "already received from the same source; an older release never replaces a newer one."
        )
    try:
        with transaction.atomic():
            bundle = InboundBundle.objects.create(
                id=bundle_id,
                space=target.space,
                source=sender.remote,
                source_fingerprint=sender.fingerprint,
                project_name=project,
                release_version=version,
                schema=int(claims["schema"]),
                token=token,
                payload=claims,
            )
            record(
                "promotions.inbox.receive",
                actor=actor,
                obj=bundle,
                after={"source": sender.remote.name, "project": project, "release": version},
            )
    except IntegrityError:
        # The same bundle arrived twice at once: the other request stored it.
        return InboundBundle.objects.get(pk=bundle_id), False

    notify.bundle_waiting(bundle)
    return bundle, True
