"""Space identities: key pairs and X.509 certificates, fingerprints, chains.

RSA keys (3,072 bits) because the bundle's sensitive values are encrypted to the target's
certificate with CMS EnvelopedData, which ``cryptography`` supports for RSA recipients only;
the same key signs (RSASSA-PSS, JWS ``PS256``).
"""

from __future__ import annotations

import datetime as dt
import hashlib

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from .errors import PromotionError

KEY_BITS = 3072


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the DER certificate, lower-case hex (what people compare by telephone)."""
    return cert.fingerprint(hashes.SHA256()).hex()


def pretty(fp: str) -> str:
    """``AB:CD:…`` groups, easier to read aloud."""
    return ":".join(fp[i : i + 2] for i in range(0, len(fp), 2)).upper()


def normalise(fp: str) -> str:
    """A fingerprint as typed (colons, spaces, any case) in canonical form."""
    return "".join(c for c in fp.lower() if c in "0123456789abcdef")


def load_certificate(pem: str | bytes) -> x509.Certificate:
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        raise PromotionError(
            "That is not a PEM certificate (-----BEGIN CERTIFICATE-----)."
        ) from None


def load_chain(pem: str) -> list[x509.Certificate]:
    if not pem.strip():
        return []
    try:
        return x509.load_pem_x509_certificates(pem.encode())
    except ValueError:
        raise PromotionError("The chain is not a list of PEM certificates.") from None


def cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def key_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def load_private_key(pem: str) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        raise PromotionError("That is not an unencrypted PEM private key.") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise PromotionError(
            "The private key must be RSA: bundles are encrypted to the target with CMS, "
            "which needs an RSA certificate."
        )
    return key


def not_after(cert: x509.Certificate) -> dt.datetime:
    return cert.not_valid_after_utc


def generate(common_name: str, *, days: int) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """A new key pair and a self-signed certificate valid for ``days``."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64]),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "ODCM space identity"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return key, cert


def check_pair(key: rsa.RSAPrivateKey, cert: x509.Certificate) -> None:
    if key.public_key().public_numbers() != _rsa_public(cert).public_numbers():
        raise PromotionError("The private key does not belong to the certificate.")


def _rsa_public(cert: x509.Certificate) -> rsa.RSAPublicKey:
    public = cert.public_key()
    if not isinstance(public, rsa.RSAPublicKey):
        raise PromotionError(
            "The certificate must hold an RSA key: bundles are encrypted to it with CMS."
        )
    return public


def rsa_public(cert: x509.Certificate) -> rsa.RSAPublicKey:
    return _rsa_public(cert)


def check_chain(
    cert: x509.Certificate, chain: list[x509.Certificate], anchors: list[x509.Certificate]
) -> None:
    """Walk from ``cert`` through ``chain`` to one of ``anchors``: every link's signature and
    validity period are checked. Raises PromotionError naming the link that failed."""
    if not anchors:
        raise PromotionError(
            "No trust anchor is configured (ODCM_PROMOTIONS_TRUST_ANCHORS_FILE): an imported "
            "certificate can only be accepted when its chain ends at one."
        )
    now = dt.datetime.now(dt.UTC)
    by_subject = {c.subject: c for c in chain}
    anchor_fps = {fingerprint(a) for a in anchors}
    current = cert
    for _ in range(len(chain) + 2):
        if not current.not_valid_before_utc <= now <= current.not_valid_after_utc:
            raise PromotionError(
                f"The certificate {current.subject.rfc4514_string()} is outside its validity "
                "period."
            )
        for anchor in anchors:
            if anchor.subject == current.issuer:
                try:
                    current.verify_directly_issued_by(anchor)
                except (ValueError, TypeError, InvalidSignature):
                    continue
                return
        if fingerprint(current) in anchor_fps:
            return
        issuer = by_subject.get(current.issuer)
        if issuer is None or issuer is current:
            break
        try:
            current.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature):
            raise PromotionError(
                f"{current.subject.rfc4514_string()} was not signed by "
                f"{issuer.subject.rfc4514_string()} in the chain."
            ) from None
        current = issuer
    raise PromotionError(
        f"The chain of {cert.subject.rfc4514_string()} does not end at a configured trust "
        "anchor (ODCM_PROMOTIONS_TRUST_ANCHORS_FILE)."
    )


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
