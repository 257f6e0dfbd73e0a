"""The wire formats, all standard: JWS (RFC 7515, compact, ``PS256``) signs bundles and
receipts; CMS EnvelopedData (RFC 5652, AES-256-CBC content key wrapped with RSA for the
target's certificate) encrypts each sensitive value. No home-made envelope: PyJWT builds and
checks the JWS, ``cryptography``'s pkcs7 module builds and opens the CMS. See
docs/promotions.md ("Bundle format") for how a third party verifies one.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.serialization import pkcs7

from . import pki
from .errors import Refused

ALGORITHM = "PS256"
BUNDLE_TYPE = "odcm-bundle+jwt"
RECEIPT_TYPE = "odcm-receipt+jwt"
# A target asking the source ODCM for one package of a bundle it received.
PACKAGE_REQUEST_TYPE = "odcm-package-request+jwt"


def sign(claims: dict[str, Any], key: rsa.RSAPrivateKey, cert: x509.Certificate, typ: str) -> str:
    """A compact JWS over ``claims``; ``kid`` is the signer's certificate SHA-256 fingerprint
    (hex) and ``x5t#S256`` the same in base64url, as RFC 7515 names it."""
    fp = pki.fingerprint(cert)
    headers = {
        "typ": typ,
        "kid": fp,
        "x5t#S256": base64.urlsafe_b64encode(bytes.fromhex(fp)).decode().rstrip("="),
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM, headers=headers)


def header(token: str) -> dict[str, Any]:
    """The unverified JOSE header (to find which certificate to verify with)."""
    try:
        head = jwt.get_unverified_header(token.strip())
    except jwt.PyJWTError:
        raise Refused("This is not an ODCM bundle or receipt (not a JWS).") from None
    if head.get("alg") != ALGORITHM or not head.get("kid"):
        raise Refused(f"The signature must be {ALGORITHM} with a kid; this one is not.")
    return head


def stored(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of a JWS this ODCM signed and stored itself (a promotion's bundle),
    read without checking the signature: it never left the database. PyJWT checks each
    character of a segment in a Python loop (about 100 ms for a 700 KB bundle, twice per
    package request served); ``binascii`` decodes it in C."""
    head, payload, _ = token.strip().split(".")

    def segment(text: str) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        return value

    return segment(head), segment(payload)


def verify(token: str, cert: x509.Certificate, typ: str) -> dict[str, Any]:
    """The claims of ``token`` if ``cert`` signed it; Refused otherwise. The audience is
    checked by the caller, so that the message can name the intended target."""
    if header(token).get("typ") != typ:
        raise Refused(f"Expected a {typ} document, got something else.")
    try:
        claims: dict[str, Any] = jwt.decode(
            token.strip(),
            pki.rsa_public(cert),
            algorithms=[ALGORITHM],
            options={"verify_aud": False, "require": ["iss", "aud", "jti", "iat"]},
            leeway=300,
        )
    except jwt.InvalidSignatureError:
        raise Refused(
            "The signature does not match the content: the file was altered after it was "
            "signed, or it was not signed by the certificate it names."
        ) from None
    except jwt.PyJWTError as exc:
        raise Refused(f"The signed document is not valid: {exc}.") from None
    return claims


def seal_for(cert: x509.Certificate, plaintext: str) -> str:
    """CMS EnvelopedData (DER, base64) that only the holder of ``cert``'s key can open."""
    der = (
        pkcs7.PKCS7EnvelopeBuilder()
        .set_data(plaintext.encode("utf-8"))
        .set_content_encryption_algorithm(algorithms.AES256)
        .add_recipient(cert)
        .encrypt(serialization.Encoding.DER, [])
    )
    return base64.b64encode(der).decode("ascii")


def open_sealed(token: str, cert: x509.Certificate, key: rsa.RSAPrivateKey) -> str:
    try:
        return pkcs7.pkcs7_decrypt_der(base64.b64decode(token), cert, key, []).decode("utf-8")
    except ValueError:
        raise Refused(
            "A sensitive value could not be decrypted with this space's key: it was encrypted "
            "for another certificate."
        ) from None
