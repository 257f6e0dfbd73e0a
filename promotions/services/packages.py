"""Packages between two connected ODCMs: the target's worker pulls each package of a bundle
from the source ODCM, which streams it from its instance's built-in feed.

The request is authenticated like everything else between ODCMs: a short-lived JWS
(``odcm-package-request+jwt``) signed by the target space's key, naming the bundle and the
package. The source serves it only to the space the bundle was promoted to (its certificate
must be the promotion target's, not revoked or expired), and only packages of that bundle's
manifest. Neither side holds a package in memory: the source pipes the feed's body into the
response as it arrives; the target writes it to a temporary file, and the import checks its
SHA-256 against the signed manifest before anything is uploaded (Octopus's SHA-1 after).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from django.db import connections

from octopus import make_http_client
from octopus.errors import OctopusError
from octopus.packages import CHUNK_BYTES, DownloadSink
from odcm.clients import client_for, url_policy

from .. import formats, pki
from ..errors import PromotionError, Refused
from ..models import InboundBundle, Promotion
from . import identities, peers

PACKAGE_PATH = "/promotions/exchange/bundles/{bundle}/packages/{name}"
# A package request is good for this long after it was signed (plus the verifier's leeway):
# long enough for a clock skew, too short to be worth replaying.
REQUEST_SECONDS = 300


def package_key(pkg: dict[str, Any]) -> str:
    return f"{pkg['id']}.{pkg['version']}"


# -- the target side: ask and receive -----------------------------------------------------


Signer = tuple[rsa.RSAPrivateKey, x509.Certificate]


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One default TLS context per process. Building one reads the whole CA bundle (about
    20 ms of CPU): once per package, and per package request served, that added up."""
    return httpx.create_ssl_context(trust_env=False)


def bundle_signer(bundle: InboundBundle) -> Signer:
    """The key and certificate of the space ``bundle`` was made for (opening the key costs
    about 100 ms of CPU: done once per import, not once per package)."""
    identity = identities.for_fingerprint(str(bundle.payload["aud"]))
    if identity is None:
        raise PromotionError(
            "The identity this bundle was made for was revoked; its packages cannot be fetched."
        )
    return identities.signer(identity)


def request_token(bundle: InboundBundle, pkg: dict[str, Any], signer: Signer | None = None) -> str:
    """A signed request for one package of ``bundle``, by the space it was made for."""
    key, cert = signer or bundle_signer(bundle)
    now = int(time.time())
    claims = {
        "iss": str(bundle.space_id),
        "aud": bundle.source_fingerprint,
        "jti": str(uuid.uuid4()),
        "iat": now,
        "exp": now + REQUEST_SECONDS,
        "bundle": str(bundle.pk),
        "package": package_key(pkg),
    }
    return formats.sign(claims, key, cert, formats.PACKAGE_REQUEST_TYPE)


class PeerSource:
    """The packages of one bundle, pulled from its source ODCM one after the other: the
    signing key is opened once and one connection pool serves them all. Close it after."""

    def __init__(self, bundle: InboundBundle) -> None:
        self.bundle = bundle
        self._signer: Signer | None = None
        self._http: httpx.Client | None = None

    def __call__(self, pkg: dict[str, Any], path: Path) -> str:
        if self._signer is None:
            self._signer = bundle_signer(self.bundle)
        if self._http is None:
            self._http = make_http_client(url_policy(), verify=tls_context())
        return fetch(self.bundle, pkg, path, http=self._http, signer=self._signer)

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None


def fetch(
    bundle: InboundBundle,
    pkg: dict[str, Any],
    path: Path,
    *,
    timeout: float = 60.0,
    http: httpx.Client | None = None,
    signer: Signer | None = None,
) -> str:
    """Stream one package of ``bundle`` from its source ODCM into ``path``; returns the
    SHA-256 of what arrived (the caller compares it with the manifest)."""
    url = bundle.source.url.rstrip("/") + PACKAGE_PATH.format(
        bundle=bundle.pk, name=package_key(pkg)
    )
    headers = {"Authorization": f"Bearer {request_token(bundle, pkg, signer)}"}
    sink = DownloadSink(path)
    try:
        with contextlib.ExitStack() as stack:
            client = http or stack.enter_context(
                make_http_client(url_policy(), verify=tls_context())
            )
            response = stack.enter_context(
                client.stream("GET", url, headers=headers, timeout=timeout)
            )
            if response.status_code != 200:
                response.read()
                raise PromotionError(
                    f"{bundle.source.name} did not send {package_key(pkg)}: {_detail(response)}"
                )
            sink.begin()
            for chunk in response.iter_raw(CHUNK_BYTES):
                sink.feed(chunk)
        return sink.finish().received.sha256
    except httpx.HTTPError as exc:
        sink.abort()
        raise PromotionError(
            f"{package_key(pkg)} could not be fetched from {bundle.source.name}: {exc}"
        ) from None
    except OctopusError as exc:  # the SSRF policy refused the URL
        sink.abort()
        raise PromotionError(str(exc)) from None
    except BaseException:
        sink.abort()
        raise


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
        return str(body.get("message") or body)[:500]
    except ValueError:
        return f"HTTP {response.status_code}"


# -- the source side: check and serve -----------------------------------------------------


def authorize(token: str, bundle_id: str, name: str) -> tuple[Promotion, dict[str, Any]]:
    """The promotion and manifest entry a package request may read; Refused otherwise."""
    head = formats.header(token)
    sender = peers.sender(str(head["kid"]))
    claims = formats.verify(
        token, pki.load_certificate(sender.certificate_pem), formats.PACKAGE_REQUEST_TYPE
    )
    if claims.get("bundle") != bundle_id or claims.get("package") != name:
        raise Refused("The signed request names another bundle or package than the URL.")
    if "exp" not in claims:
        raise Refused("A package request must carry an expiry (exp).")
    promotion = Promotion.objects.select_related("space", "target").filter(pk=bundle_id).first()
    if promotion is None or promotion.target_id != sender.remote_id:
        raise Refused(f"No bundle {bundle_id} was promoted to {sender.remote.name}.")
    bundle_head, bundle_claims = formats.stored(promotion.token)
    if pki.normalise(str(claims["aud"])) != str(bundle_head["kid"]):
        raise Refused("The request is addressed to another certificate than the bundle's.")
    manifest = bundle_claims["packages"]
    for pkg in manifest or []:
        if package_key(pkg) == name and pkg.get("feed") == "feeds-builtin":
            return promotion, pkg
    raise Refused(f"{name} is not a built-in feed package of bundle {bundle_id}.")


def stream(promotion: Promotion, pkg: dict[str, Any]) -> Iterator[bytes]:
    """The package's bytes from the source instance's feed, as they arrive.

    ``octopus/`` writes a download to a file; here that file is one end of a pipe and the
    response reads the other, so a package of any size passes through in pipe-sized pieces.
    The feed's SHA-1 is checked when the download ends: a mismatch (or any failure) breaks
    the response off before its last byte, which the target sees as a failed transfer.
    """
    read_fd, write_fd = os.pipe()
    with contextlib.suppress(AttributeError, OSError):  # Linux: 1 MiB pipe, fewer wake-ups
        fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, CHUNK_BYTES)
    failure: list[BaseException] = []

    def pump() -> None:
        try:
            with (
                open(write_fd, "wb", buffering=0) as sink,
                client_for(promotion.space.instance, verify=tls_context()) as client,
            ):
                client.download_package(
                    promotion.space.octopus_id,
                    f"packages-{package_key(pkg)}",
                    sink,
                    expected_sha1=str(pkg["sha1"]),
                )
        except BaseException as exc:  # reported by the reading side
            failure.append(exc)
        finally:
            # A thread's database connections are its own: close them or they outlive it.
            connections.close_all()

    thread = threading.Thread(target=pump, name=f"package-{package_key(pkg)}", daemon=True)
    thread.start()
    with open(read_fd, "rb", buffering=0) as source:
        try:
            while chunk := source.read(CHUNK_BYTES):
                yield chunk
        finally:
            # The target hung up early: closing our end makes the pump's next write fail.
            with contextlib.suppress(OSError):
                source.close()
            thread.join(timeout=60)
    if failure:
        raise PromotionError(f"{package_key(pkg)} could not be read from the feed: {failure[0]}")
