"""Space identities: generate, import (checked against the trust anchors), rotate, revoke."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.db import transaction

from audit.services import record
from odcm.crypto import seal, unseal
from spaces.models import Space

from .. import pki
from ..errors import PromotionError
from ..models import SpaceIdentity


def anchors() -> list[x509.Certificate]:
    """The configured trust anchors (``ODCM_PROMOTIONS_TRUST_ANCHORS_FILE``, PEM)."""
    path = getattr(settings, "ODCM_PROMOTIONS_TRUST_ANCHORS_FILE", "")
    if not path:
        return []
    try:
        return pki.load_chain(Path(path).read_text())
    except OSError as exc:
        raise PromotionError(f"The trust anchors file cannot be read: {exc.strerror}.") from None


def current(space: Space) -> SpaceIdentity | None:
    return SpaceIdentity.objects.filter(space=space, state=SpaceIdentity.State.CURRENT).first()


def ensure(space: Space, *, actor: Any = None) -> SpaceIdentity:
    """The space's current identity, generated on first use."""
    return current(space) or generate(space, actor=actor)


def _save(
    space: Space,
    key: rsa.RSAPrivateKey,
    cert: x509.Certificate,
    *,
    origin: str,
    chain_pem: str = "",
    actor: Any,
) -> SpaceIdentity:
    with transaction.atomic():
        old = list(
            SpaceIdentity.objects.select_for_update().filter(
                space=space, state=SpaceIdentity.State.CURRENT
            )
        )
        SpaceIdentity.objects.filter(pk__in=[o.pk for o in old]).update(
            state=SpaceIdentity.State.RETIRED
        )
        identity = SpaceIdentity.objects.create(
            space=space,
            origin=origin,
            certificate_pem=pki.cert_pem(cert),
            chain_pem=chain_pem,
            fingerprint=pki.fingerprint(cert),
            not_after=pki.not_after(cert),
        )
        seal(identity, "private_key", pki.key_pem(key))
        identity.save(update_fields=["private_key"])
        record(
            "promotions.identity.rotate" if old else "promotions.identity.create",
            actor=actor,
            obj=identity,
            after={"space": str(space.pk), "fingerprint": identity.fingerprint, "origin": origin},
        )
    return identity


def generate(space: Space, *, actor: Any = None) -> SpaceIdentity:
    """A new key pair and self-signed certificate; the previous one is retired (peers keep
    accepting it for their overlap period)."""
    days = int(getattr(settings, "ODCM_PROMOTIONS_CERT_DAYS", 730))
    key, cert = pki.generate(f"{space.name} (ODCM)", days=days)
    return _save(space, key, cert, origin=SpaceIdentity.Origin.GENERATED, actor=actor)


def import_pem(
    space: Space, *, certificate: str, private_key: str, chain: str = "", actor: Any = None
) -> SpaceIdentity:
    """An identity from the organisation's PKI: the key must match the certificate and the
    chain must end at a configured trust anchor."""
    cert = pki.load_certificate(certificate)
    key = pki.load_private_key(private_key)
    pki.check_pair(key, cert)
    chain_certs = pki.load_chain(chain)
    pki.check_chain(cert, chain_certs, anchors())
    if SpaceIdentity.objects.filter(fingerprint=pki.fingerprint(cert)).exists():
        raise PromotionError("This certificate is already the identity of a space.")
    return _save(
        space, key, cert, origin=SpaceIdentity.Origin.IMPORTED, chain_pem=chain, actor=actor
    )


def revoke(identity: SpaceIdentity, *, actor: Any = None) -> None:
    identity.state = SpaceIdentity.State.REVOKED
    identity.save(update_fields=["state"])
    record("promotions.identity.revoke", actor=actor, obj=identity)


def signer(identity: SpaceIdentity) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """The private key (opened from its seal) and certificate of ``identity``."""
    return (
        pki.load_private_key(unseal(identity, "private_key")),
        pki.load_certificate(identity.certificate_pem),
    )


def for_fingerprint(fp: str) -> SpaceIdentity | None:
    """A local identity by fingerprint: current or retired, never revoked."""
    return (
        SpaceIdentity.objects.select_related("space")
        .exclude(state=SpaceIdentity.State.REVOKED)
        .filter(fingerprint=pki.normalise(fp))
        .first()
    )
