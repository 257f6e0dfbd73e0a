"""Packages between two connected ODCMs: the target's worker pulls each package of a bundle
from the source ODCM, which streams it from its instance's built-in feed.

The request is authenticated like everything else between ODCMs: a short-lived JWS
(``odcm-package-request+jwt``) signed by the target space's key, naming the bundle and the
package. The source serves it only to the space the bundle was promoted to (its certificate
must be the promotion target's, not revoked or expired), and only packages of that bundle's
manifest. Neither side holds a package in memory: the source relays the feed's body into the
response as it arrives; the import relays it on into its own feed's upload
(:meth:`PeerSource.stream`), holding the last chunk back until its SHA-256 matches the signed
manifest (Octopus's SHA-1 checked after).

What it costs, per GiB (``bench/promotions.py``): each byte is hashed once at each hop that
must vouch for it (the source: the feed's SHA-1; the target: SHA-256 for the manifest and
SHA-1 for Octopus, in the one pass of its upload), never twice for the same check.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import ssl
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from django.db import connections

from octopus import OctopusClient, make_http_client
from octopus.errors import OctopusError
from octopus.packages import DownloadSink
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
    """The packages of one bundle, pulled from its source ODCM: the signing key is opened
    once and one connection pool serves them all. Close it after.

    The import uses :meth:`stream` (relayed into its feed's upload, no file). Called with a
    path instead, it writes the package there, one package ahead: when a package is handed
    over (the caller then uploads it to its feed), the next one of the manifest that this
    space's feed lacks is fetched in a thread, into a file of its own (memory stays flat, and
    at most one more package sits on disk). A failed fetch ahead is simply done again when its
    turn comes; closing cancels it and removes its file.
    """

    def __init__(self, bundle: InboundBundle, *, ahead: bool = True) -> None:
        self.bundle = bundle
        self.ahead = ahead
        self._signer: Signer | None = None
        self._http: httpx.Client | None = None
        self._feed: OctopusClient | None = None
        self._folder: Path | None = None
        self._next: Prefetch | None = None
        self._looked_at: set[str] = set()

    def __call__(self, pkg: dict[str, Any], path: Path) -> str:
        if self._signer is None:
            self._signer = bundle_signer(self.bundle)
        if self._http is None:
            self._http = make_http_client(url_policy(), verify=tls_context())
        self._looked_at.add(package_key(pkg))
        pending, self._next = self._next, None
        digest = None
        if pending is not None:
            if pending.key == package_key(pkg):
                digest = pending.take(path)
            else:
                pending.cancel()
        if digest is None:
            digest = fetch(self.bundle, pkg, path, http=self._http, signer=self._signer)
        if self.ahead:
            self._next = self._fetch_next()
        return digest

    def stream(self, pkg: dict[str, Any]) -> Iterator[bytes]:
        """The package's bytes as the source ODCM sends them, for the import to relay
        straight into its feed's upload: no file and nothing fetched ahead (pulling and
        pushing already run side by side)."""
        if self._signer is None:
            self._signer = bundle_signer(self.bundle)
        if self._http is None:
            self._http = make_http_client(url_policy(), verify=tls_context())
        self._looked_at.add(package_key(pkg))
        if self._next is not None:
            self._next.cancel()
            self._next = None
        return receive(self.bundle, pkg, http=self._http, signer=self._signer)

    def _fetch_next(self) -> Prefetch | None:
        """Start fetching the next manifest package that this space's feed lacks."""
        for pkg in self.bundle.payload.get("packages") or []:
            key = package_key(pkg)
            if key in self._looked_at or pkg.get("feed") != "feeds-builtin":
                continue
            self._looked_at.add(key)
            if self._in_feed(key):
                continue  # the import skips it (or refuses other bytes): nothing to fetch
            if self._folder is None:
                self._folder = Path(tempfile.mkdtemp(prefix="odcm-prefetch-"))
            # The source row is loaded here: the thread must not query the database.
            self.bundle.source  # noqa: B018
            run = functools.partial(fetch, self.bundle, pkg, http=self._http, signer=self._signer)
            return Prefetch(key, run, self._folder / f"{key}.package")
        return None

    def _in_feed(self, key: str) -> bool:
        if self._feed is None:
            self._feed = client_for(self.bundle.space.instance, verify=tls_context())
        try:
            self._feed.package(self.bundle.space.octopus_id, f"packages-{key}")
        except OctopusError:
            return False
        return True

    def close(self) -> None:
        if self._next is not None:
            self._next.cancel()
            self._next = None
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None
        for client in (self._http, self._feed):
            if client is not None:
                client.close()
        self._http = self._feed = None


class Prefetch:
    """One package being fetched ahead, in a thread, into ``path``."""

    def __init__(self, key: str, run: Callable[..., str], path: Path) -> None:
        self.key, self.path = key, path
        self.digest: str | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=self._run, args=(run,), name=f"prefetch-{key}", daemon=True
        )
        self.thread.start()

    def _run(self, run: Callable[..., str]) -> None:
        try:
            self.digest = run(self.path, stop=self.stop)
        except Exception:  # fetched again, in the open, when its turn comes
            self.digest = None
        finally:
            # A thread's database connections are its own: close them or they outlive it.
            connections.close_all()

    def take(self, path: Path) -> str | None:
        """Wait for it; move the file to ``path`` and return its SHA-256 (None: failed)."""
        self.thread.join()
        if self.digest is None:
            self.path.unlink(missing_ok=True)
            return None
        try:
            os.replace(self.path, path)
        except OSError:  # another file system
            shutil.move(self.path, path)
        return self.digest

    def cancel(self) -> None:
        self.stop.set()
        self.thread.join(timeout=60)
        self.path.unlink(missing_ok=True)


def receive(
    bundle: InboundBundle,
    pkg: dict[str, Any],
    *,
    timeout: float = 60.0,
    http: httpx.Client | None = None,
    signer: Signer | None = None,
    stop: threading.Event | None = None,
) -> Iterator[bytes]:
    """One package of ``bundle`` from its source ODCM, chunk by chunk as the transport hands
    them over (what one read got, up to ``octopus._net.READ_BYTES``: gathering them into
    bigger pieces would copy every byte once more). Any
    failure raises PromotionError (never an httpx error: a relay into an upload must not
    pass the source's broken connection off as the target's). Setting ``stop`` abandons it
    (a fetch ahead that is no longer wanted)."""
    url = bundle.source.url.rstrip("/") + PACKAGE_PATH.format(
        bundle=bundle.pk, name=package_key(pkg)
    )
    headers = {"Authorization": f"Bearer {request_token(bundle, pkg, signer)}"}
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
            for chunk in response.iter_raw():
                if stop is not None and stop.is_set():
                    raise PromotionError(f"The fetch of {package_key(pkg)} was abandoned.")
                yield chunk
    except httpx.HTTPError as exc:
        raise PromotionError(
            f"{package_key(pkg)} could not be fetched from {bundle.source.name}: {exc}"
        ) from None
    except OctopusError as exc:  # the SSRF policy refused the URL
        raise PromotionError(str(exc)) from None


def fetch(
    bundle: InboundBundle,
    pkg: dict[str, Any],
    path: Path,
    *,
    timeout: float = 60.0,
    http: httpx.Client | None = None,
    signer: Signer | None = None,
    stop: threading.Event | None = None,
) -> str:
    """Stream one package of ``bundle`` from its source ODCM into ``path``; returns the
    SHA-256 of what arrived (the caller compares it with the manifest)."""
    # Only the SHA-256 is checked here (the upload computes the SHA-1 Octopus compares).
    sink = DownloadSink(path, sha1=False)
    try:
        sink.begin()
        for chunk in receive(bundle, pkg, timeout=timeout, http=http, signer=signer, stop=stop):
            sink.feed(chunk)
        return sink.finish().received.sha256
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
    """The package's bytes from the source instance's feed, relayed as they arrive (no file,
    no thread: each chunk read from the feed goes straight into the response).

    The feed's SHA-1 is checked before the last chunk is passed on: a mismatch (or any
    failure) breaks the response off before its last byte, which the target sees as a failed
    transfer.
    """
    client = client_for(promotion.space.instance, verify=tls_context())
    try:
        yield from client.iter_package(
            promotion.space.octopus_id,
            f"packages-{package_key(pkg)}",
            expected_sha1=str(pkg["sha1"]),
        )
    except OctopusError as exc:
        raise PromotionError(f"{package_key(pkg)} could not be read from the feed: {exc}") from None
    finally:
        client.close()
