"""Every refusal of the inbox names its reason and stores nothing."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable

import pytest
from django.core import mail
from django.utils import timezone

from identity.models import User
from promotions import formats, pki
from promotions.errors import PromotionError, Refused
from promotions.models import InboundBundle, PeerCertificate, Receipt, Trust
from promotions.services import identities, importing, inbox, peers, receipts

from .conftest import Pair, claims, exchange, make_space, signed

pytestmark = pytest.mark.django_db


def refused(token: str, match: str) -> None:
    before = InboundBundle.objects.count()
    with pytest.raises(Refused, match=match):
        inbox.receive(token)
    assert InboundBundle.objects.count() == before


def test_a_valid_bundle_is_received_once_and_a_replay_is_a_no_op(pair: Pair) -> None:
    token = signed(pair.source_id, claims(pair))
    bundle, created = inbox.receive(token)
    assert created and bundle.space == pair.target and bundle.source == pair.source_peer
    again, created_again = inbox.receive(token)
    assert again.pk == bundle.pk and not created_again
    assert InboundBundle.objects.count() == 1


def test_a_tampered_bundle_is_refused_as_a_bad_signature(pair: Pair) -> None:
    token = signed(pair.source_id, claims(pair))
    head, body, sig = token.split(".")
    other = signed(
        pair.source_id,
        claims(
            pair,
            release={
                "id": "R",
                "version": "9.9.9",
                "notes": "",
                "channel": "",
                "selected_packages": [],
            },
        ),
    )
    refused(f"{head}.{other.split('.')[1]}.{sig}", "signature does not match")


def test_a_bundle_from_an_unknown_source_is_refused(pair: Pair) -> None:
    stranger = identities.ensure(make_space("Stranger"))
    refused(signed(stranger, claims(pair)), "Unknown source")


def test_a_bundle_from_a_source_without_a_trust_is_refused(pair: Pair) -> None:
    Trust.objects.filter(space=pair.target).delete()
    refused(signed(pair.source_id, claims(pair)), r"does not accept releases from .* \(no trust\)")


def test_a_bundle_is_refused_while_the_trust_waits_for_its_fingerprint(db: None) -> None:
    source, target = make_space("A"), make_space("B")
    sid = identities.ensure(source)
    tid = identities.ensure(target)
    peer = peers.add_remote("A remote", certificate=sid.certificate_pem)
    trust = peers.propose(target, peer, Trust.Accepts.RELEASES)
    with pytest.raises(PromotionError, match="fingerprint does not match"):
        peers.confirm(trust, tid.fingerprint)
    trust.refresh_from_db()
    assert trust.state == Trust.State.PENDING
    payload = {"aud": tid.fingerprint}
    pair = Pair(source, target, sid, tid, peer, peer)
    refused(signed(sid, claims(pair, **payload)), "waiting for fingerprint confirmation")


def test_a_bundle_trusted_only_for_receipts_is_refused(pair: Pair) -> None:
    Trust.objects.filter(space=pair.target).update(accepts=Trust.Accepts.RECEIPTS)
    refused(signed(pair.source_id, claims(pair)), "does not accept releases")


def test_a_revoked_certificate_stops_everything_signed_with_it(pair: Pair) -> None:
    cert = PeerCertificate.objects.get(remote=pair.source_peer)
    peers.revoke_certificate(cert)
    refused(signed(pair.source_id, claims(pair)), "was revoked on")


def test_an_expired_certificate_is_refused(pair: Pair) -> None:
    PeerCertificate.objects.filter(remote=pair.source_peer).update(
        not_after=timezone.now() - dt.timedelta(days=1)
    )
    refused(signed(pair.source_id, claims(pair)), "expired on")


def test_a_rotated_certificate_is_accepted_during_the_overlap_only(pair: Pair) -> None:
    new = identities.generate(pair.source)
    peers.rotate(pair.source_peer, new.certificate_pem, overlap_days=7)
    trust = Trust.objects.get(space=pair.target, remote=pair.source_peer)
    assert trust.state == Trust.State.PENDING  # the new fingerprint must be confirmed
    peers.confirm(trust, pki.pretty(new.fingerprint))
    old_token = signed(pair.source_id, claims(pair))
    assert inbox.receive(old_token)[1]
    PeerCertificate.objects.filter(fingerprint=pair.source_id.fingerprint).update(
        accepted_until=timezone.now() - dt.timedelta(seconds=1)
    )
    refused(signed(pair.source_id, claims(pair)), "overlap ended")
    assert inbox.receive(signed(new, claims(pair)))[1]


def test_a_bundle_for_another_target_is_refused(pair: Pair) -> None:
    elsewhere = "ab" * 32
    payload = claims(pair, aud=elsewhere, target={"name": "Elsewhere", "id": ""})
    refused(signed(pair.source_id, payload), "made for Elsewhere .* not for any space")


@pytest.mark.parametrize("schema", [0, 2, "1"])
def test_a_schema_out_of_range_is_refused_naming_both_versions(pair: Pair, schema: object) -> None:
    refused(signed(pair.source_id, claims(pair, schema=schema)), "imports schema versions 1 to 1")


def test_an_older_release_never_replaces_a_newer_one(pair: Pair) -> None:
    newer = claims(pair)
    newer["release"] = {**newer["release"], "version": "1.10.0"}
    inbox.receive(signed(pair.source_id, newer))
    older = claims(pair)
    older["release"] = {**older["release"], "version": "1.9.0"}
    refused(signed(pair.source_id, older), "older than 1.10.0")


def test_not_a_bundle_at_all_is_refused(pair: Pair) -> None:
    refused("hello world", "not an ODCM bundle")


def test_a_missing_required_value_blocks_the_import(pair: Pair) -> None:
    bundle, _ = inbox.receive(signed(pair.source_id, claims(pair)))
    assert [n["state"] for n in importing.needed(bundle)] == ["missing"]
    with pytest.raises(PromotionError, match="Values still needed .* Db.Password"):
        importing.import_bundle(bundle, None)
    bundle.refresh_from_db()
    assert bundle.state == InboundBundle.State.REVIEW and not bundle.imported_release_id


def test_an_imported_identity_must_chain_to_a_trust_anchor(
    pair: Pair, tmp_path: object, settings: object
) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    ca_key, ca_cert = pki.generate("Acme Root", days=30)
    key, own = pki.generate("Prod space", days=30)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(own.subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(own.not_valid_before_utc)
        .not_valid_after(own.not_valid_after_utc)
        .sign(ca_key, hashes.SHA256())
    )
    assert leaf.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
    path = tmp_path / "anchors.pem"  # type: ignore[operator]
    settings.ODCM_PROMOTIONS_TRUST_ANCHORS_FILE = ""  # type: ignore[attr-defined]
    with pytest.raises(PromotionError, match="No trust anchor is configured"):
        identities.import_pem(
            pair.target, certificate=pki.cert_pem(leaf), private_key=pki.key_pem(key)
        )
    other_key, other_ca = pki.generate("Other Root", days=30)
    path.write_text(pki.cert_pem(other_ca))
    settings.ODCM_PROMOTIONS_TRUST_ANCHORS_FILE = str(path)  # type: ignore[attr-defined]
    with pytest.raises(PromotionError, match="does not end at a configured trust anchor"):
        identities.import_pem(
            pair.target, certificate=pki.cert_pem(leaf), private_key=pki.key_pem(key)
        )
    with pytest.raises(PromotionError, match="does not belong"):
        identities.import_pem(
            pair.target, certificate=pki.cert_pem(leaf), private_key=pki.key_pem(other_key)
        )
    path.write_text(pki.cert_pem(ca_cert))
    imported = identities.import_pem(
        pair.target, certificate=pki.cert_pem(leaf), private_key=pki.key_pem(key)
    )
    assert imported.origin == "imported" and identities.current(pair.target) == imported


def test_the_private_key_is_sealed_at_rest(pair: Pair) -> None:
    stored = type(pair.source_id).objects.get(pk=pair.source_id.pk).private_key
    assert stored.startswith("v1.") and "PRIVATE KEY" not in stored


def unused(_: Callable[..., object]) -> None:
    """Keeps exchange importable for the other modules' use."""


unused(exchange)


def receipt_token(pair: Pair, **override: object) -> str:
    key, cert = identities.signer(pair.target_id)
    claims = {
        "iss": str(pair.target.pk),
        "aud": pair.source_id.fingerprint,
        "jti": str(uuid.uuid4()),
        "iat": int(time.time()),
        "schema": 1,
        "bundle": str(uuid.uuid4()),
        "project": "Web",
        "release": "1.0.0",
        "target_space": "Prod",
        "environment": "Production",
        "tenant": "",
        "outcome": "Success",
        "task_id": "ServerTasks-1",
        "started": None,
        "finished": None,
        **override,
    }
    return formats.sign(claims, key, cert, formats.RECEIPT_TYPE)


def test_a_receipt_about_a_bundle_never_promoted_is_refused_and_the_owners_told(
    pair: Pair, space_owner: User
) -> None:
    pair.source.instance.owners.add(space_owner)
    with pytest.raises(Refused, match="never promoted to"):
        receipts.receive(receipt_token(pair))
    assert not Receipt.objects.exists()
    (sent,) = mail.outbox
    assert "receipt" in sent.subject and "never promoted" in sent.body


def test_a_receipt_without_a_results_trust_is_refused(pair: Pair) -> None:
    Trust.objects.filter(space=pair.source).delete()
    with pytest.raises(Refused, match="does not accept deployment results"):
        receipts.receive(receipt_token(pair))
    assert not Receipt.objects.exists()


def test_a_bundle_is_not_a_receipt(pair: Pair) -> None:
    with pytest.raises(Refused, match="Expected a odcm-receipt"):
        receipts.receive(signed(pair.source_id, claims(pair, aud=pair.source_id.fingerprint)))
