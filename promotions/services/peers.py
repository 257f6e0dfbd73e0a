"""Remote spaces, their certificates (rotation with overlap, revocation) and trusts."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.services import record
from spaces.models import Space

from .. import pki
from ..errors import PromotionError, Refused
from ..models import PeerCertificate, RemoteSpace, Trust
from . import identities


def add_remote(
    name: str, *, certificate: str, url: str = "", remote_id: str = "", actor: Any = None
) -> RemoteSpace:
    """A space managed by another ODCM, known by its certificate (a PEM file exchanged by
    hand, or fetched from its ODCM's API)."""
    cert = pki.load_certificate(certificate)
    pki.rsa_public(cert)
    if RemoteSpace.objects.filter(name=name).exists():
        raise PromotionError(f"A remote space named {name!r} exists already.")
    with transaction.atomic():
        remote = RemoteSpace.objects.create(name=name, url=url, remote_id=remote_id)
        _add_cert(remote, cert)
        record(
            "promotions.remote.create",
            actor=actor,
            obj=remote,
            after={"name": name, "url": url, "fingerprint": pki.fingerprint(cert)},
        )
    return remote


def local_peer(space: Space, *, actor: Any = None) -> RemoteSpace:
    """The peer row standing for a space of this same ODCM: no exchange needed, its
    certificates follow its identity."""
    identity = identities.ensure(space, actor=actor)
    with transaction.atomic():
        remote, created = RemoteSpace.objects.get_or_create(
            local_space=space, defaults={"name": space.name, "remote_id": str(space.pk)}
        )
        if not remote.certificates.filter(fingerprint=identity.fingerprint).exists():
            _add_cert(remote, pki.load_certificate(identity.certificate_pem))
        if created:
            record("promotions.remote.create", actor=actor, obj=remote, after={"local": True})
    return remote


def _add_cert(remote: RemoteSpace, cert: Any) -> PeerCertificate:
    return PeerCertificate.objects.create(
        remote=remote,
        certificate_pem=pki.cert_pem(cert),
        fingerprint=pki.fingerprint(cert),
        not_after=pki.not_after(cert),
    )


def rotate(
    remote: RemoteSpace, certificate: str, *, overlap_days: int = 7, actor: Any = None
) -> PeerCertificate:
    """A new certificate for ``remote``; the older ones stay accepted for ``overlap_days``.
    Trusts go back to pending until someone confirms the new fingerprint."""
    cert = pki.load_certificate(certificate)
    pki.rsa_public(cert)
    until = timezone.now() + dt.timedelta(days=overlap_days)
    with transaction.atomic():
        remote.certificates.filter(revoked_at__isnull=True, accepted_until__isnull=True).update(
            accepted_until=until
        )
        new = _add_cert(remote, cert)
        remote.trusts.filter(state=Trust.State.ACTIVE).update(state=Trust.State.PENDING)
        record(
            "promotions.remote.rotate",
            actor=actor,
            obj=remote,
            after={"fingerprint": new.fingerprint, "overlap_until": until.isoformat()},
        )
    return new


def revoke_certificate(cert: PeerCertificate, *, actor: Any = None) -> None:
    cert.revoked_at = timezone.now()
    cert.save(update_fields=["revoked_at"])
    record(
        "promotions.remote.revoke_cert",
        actor=actor,
        obj=cert.remote,
        after={"fingerprint": cert.fingerprint},
    )


def newest_certificate(remote: RemoteSpace) -> PeerCertificate:
    cert = remote.certificates.filter(revoked_at__isnull=True).order_by("-created_at").first()
    if cert is None:
        raise PromotionError(f"{remote.name} has no valid certificate; import a new one.")
    return cert


def propose(space: Space, remote: RemoteSpace, accepts: str, *, actor: Any = None) -> Trust:
    """``space`` will accept releases (or deployment results) from ``remote`` once a person
    confirms the fingerprint. A peer in this same ODCM needs no confirmation."""
    if remote.local_space_id == space.pk:
        raise PromotionError("A space cannot trust itself.")
    with transaction.atomic():
        trust, _ = Trust.objects.select_for_update().get_or_create(
            space=space, remote=remote, accepts=accepts
        )
        trust.state = Trust.State.PENDING
        trust.save(update_fields=["state"])
        record(
            "promotions.trust.propose",
            actor=actor,
            obj=trust,
            after={"space": str(space.pk), "remote": remote.name, "accepts": accepts},
        )
    if remote.local_space_id is not None:
        return confirm(trust, newest_certificate(remote).fingerprint, actor=actor)
    return trust


def confirm(trust: Trust, typed_fingerprint: str, *, actor: Any = None) -> Trust:
    """Activate ``trust`` when the fingerprint a person read out matches the remote's newest
    certificate."""
    expected = newest_certificate(trust.remote).fingerprint
    if pki.normalise(typed_fingerprint) != expected:
        raise PromotionError(
            f"The fingerprint does not match {trust.remote.name}'s certificate "
            f"({pki.pretty(expected)[:23]}…). Compare it again with the other side; the "
            "trust stays pending."
        )
    trust.state = Trust.State.ACTIVE
    trust.confirmed_fingerprint = expected
    trust.confirmed_by = actor if getattr(actor, "pk", None) else None
    trust.confirmed_at = timezone.now()
    trust.save()
    record("promotions.trust.confirm", actor=actor, obj=trust, after={"fingerprint": expected})
    return trust


def revoke(trust: Trust, *, actor: Any = None) -> None:
    trust.state = Trust.State.REVOKED
    trust.save(update_fields=["state"])
    record("promotions.trust.revoke", actor=actor, obj=trust)


def sender(fp: str) -> PeerCertificate:
    """The certificate that signed an inbound document, if it may still sign anything."""
    found = (
        PeerCertificate.objects.select_related("remote")
        .filter(fingerprint=pki.normalise(fp))
        .order_by("-created_at")
        .first()
    )
    if found is None:
        raise Refused(
            f"Unknown source: no remote space has the certificate {pki.pretty(fp)[:23]}…. "
            "Exchange certificates and confirm a trust first."
        )
    now = timezone.now()
    name = found.remote.name
    if found.revoked_at is not None:
        raise Refused(
            f"{name}'s certificate {pki.pretty(fp)[:23]}… was revoked on "
            f"{found.revoked_at:%Y-%m-%d %H:%M} UTC; nothing signed with it is accepted."
        )
    if found.not_after < now:
        raise Refused(
            f"{name}'s certificate {pki.pretty(fp)[:23]}… expired on "
            f"{found.not_after:%Y-%m-%d} ; ask {name} for its new certificate."
        )
    if found.accepted_until is not None and found.accepted_until < now:
        raise Refused(
            f"{name}'s certificate {pki.pretty(fp)[:23]}… was replaced and its overlap "
            f"ended on {found.accepted_until:%Y-%m-%d}."
        )
    return found


def require_trust(space: Space, remote: RemoteSpace, accepts: str) -> Trust:
    trust = Trust.objects.filter(space=space, remote=remote, accepts=accepts).first()
    what = "releases" if accepts == Trust.Accepts.RELEASES else "deployment results"
    if trust is None or trust.state != Trust.State.ACTIVE:
        state = "no trust" if trust is None else f"the trust is {trust.get_state_display().lower()}"
        raise Refused(
            f"{space.name} does not accept {what} from {remote.name} ({state}). A space "
            f"manager of {space.name} must add and confirm the trust first."
        )
    return trust
