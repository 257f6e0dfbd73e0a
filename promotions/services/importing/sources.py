"""Where an imported bundle's packages come from, and putting one into the target's feed.

A package source is a function that writes package ``(id, version)`` to a path and returns
the SHA-256 it computed on the way (None: the importer hashes the file), or raises
PromotionError: an exported archive (air-gapped), another space of this ODCM (local), or the
source ODCM over the network (connected). Each of these also has a ``stream(pkg)`` method
giving the package's bytes as they arrive; the import relays them straight into the target
feed's upload (no file, one hashing pass), holding the last chunk back until their SHA-256
matches the manifest."""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from octopus import OctopusClient, StreamedUpload, StreamMismatch
from octopus.errors import OctopusError
from odcm.clients import client_for
from spaces.models import Space

from ...errors import PromotionError
from ...models import InboundBundle
from .. import packages as package_exchange

PackageSource = Callable[[dict[str, Any], Path], str | None]


def pkey(pkg: dict[str, Any]) -> str:
    """A manifest package as Octopus names it in a feed: ``<id>.<version>``."""
    return f"{pkg['id']}.{pkg['version']}"


def transfer_package(
    client: OctopusClient, sid: str, pkg: dict[str, Any], packages: PackageSource | None
) -> str:
    """Put one manifest package in the target's built-in feed: skipped when the same SHA-1 is
    there already; otherwise fetched, its SHA-256 checked against the manifest, uploaded and
    Octopus's SHA-1 checked on arrival. Returns what happened."""
    if pkg.get("feed") != "feeds-builtin":
        return "external feed"
    try:
        doc = client.package(sid, f"packages-{pkey(pkg)}")
    except OctopusError:
        doc = None
    if doc is not None:
        if str(doc.get("Hash", "")).lower() == pkg["sha1"]:
            return "present"
        raise PromotionError(
            f"{pkey(pkg)} is already in this space's feed with other bytes (SHA-1 "
            f"{doc.get('Hash')}, the bundle says {pkg['sha1']}); it will not be deployed. "
            "Remove it or give the release a new version."
        )
    if packages is None:
        raise PromotionError(
            f"{pkey(pkg)} is not in this space's feed; import the package archive."
        )
    stream: Callable[[dict[str, Any]], Iterator[bytes]] | None = getattr(packages, "stream", None)
    size = pkg.get("size")
    if stream is not None and isinstance(size, int) and size >= 0:
        return _relay(client, sid, pkg, size, stream(pkg))
    # No stream, or a manifest without sizes: through a temporary file, checked first.
    with tempfile.TemporaryDirectory(prefix="odcm-import-") as tmp:
        path = Path(tmp) / f"{pkg['id']}.{pkg['version']}{pkg.get('file_extension', '.zip')}"
        digest = packages(pkg, path) or _sha256(path)
        if digest != pkg["sha256"]:
            raise _altered(pkg, f"SHA-256 {digest}")
        uploaded = client.upload_package(sid, path)
        if not uploaded.verified or uploaded.sent.sha256 != pkg["sha256"]:
            raise PromotionError(f"{pkey(pkg)} arrived damaged in the feed; import it again.")
    return "copied"


def _relay(
    client: OctopusClient, sid: str, pkg: dict[str, Any], size: int, chunks: Iterator[bytes]
) -> str:
    """Upload a package's bytes to the feed as they arrive from its source, hashed once on
    the way (SHA-1 for Octopus, SHA-256 for the manifest). The last chunk goes only once
    the SHA-256 (and size) match the manifest: bytes that do not are broken off short, so
    the feed never stores them and nothing can deploy them. A failure anywhere means the
    package is fetched again from its first byte (the import is retried or resumed)."""
    body = StreamedUpload(
        chunks,
        file_name=f"{pkey(pkg)}{pkg.get('file_extension', '.zip')}",
        size=size,
        expected_sha256=str(pkg["sha256"]),
    )
    try:
        uploaded = client.upload_package(sid, body)
    except StreamMismatch:
        sent = body.sent()
        found = (
            f"SHA-256 {sent.sha256}"
            if sent.size <= size
            else f"more than the {size} bytes it lists; SHA-256 not {pkg['sha256']}"
        )
        raise _altered(pkg, found) from None
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()  # a source broken off mid-way lets go of its connection now
    if not uploaded.verified or uploaded.sent.sha256 != pkg["sha256"]:
        raise PromotionError(f"{pkey(pkg)} arrived damaged in the feed; import it again.")
    return "copied"


def _altered(pkg: dict[str, Any], found: str) -> PromotionError:
    return PromotionError(
        f"{pkey(pkg)} does not match the bundle's manifest ({found}, expected "
        f"{pkg['sha256']}): the package was altered; it was not uploaded and the release was "
        "not imported."
    )


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1024 * 1024):
            h.update(chunk)
    return h.hexdigest()


class ArchiveSource:
    """Packages from an exported package archive (air-gapped): files named
    ``<id>.<version><ext>``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _file(self, pkg: dict[str, Any]) -> Path:
        found = self.folder / f"{pkg['id']}.{pkg['version']}{pkg.get('file_extension', '.zip')}"
        if not found.is_file():
            raise PromotionError(f"{pkey(pkg)} is not in the package archive.")
        return found

    def __call__(self, pkg: dict[str, Any], path: Path) -> str:
        h = hashlib.sha256()
        with open(self._file(pkg), "rb") as src, open(path, "wb") as dst:
            while chunk := src.read(1024 * 1024):
                h.update(chunk)  # hashed on the way: the copy is what gets uploaded
                dst.write(chunk)
        return h.hexdigest()

    def stream(self, pkg: dict[str, Any]) -> Iterator[bytes]:
        """The archived file as it is read: no copy of it is made."""
        found = self._file(pkg)  # checked now, before any upload starts

        def chunks() -> Iterator[bytes]:
            with open(found, "rb") as src:
                while chunk := src.read(1024 * 1024):
                    yield chunk

        return chunks()


def archive_source(folder: Path) -> PackageSource:
    return ArchiveSource(folder)


class SpaceSource:
    """Packages streamed from a space of this same ODCM (a local promotion)."""

    def __init__(self, space: Space) -> None:
        self.space = space

    def __call__(self, pkg: dict[str, Any], path: Path) -> str:
        with client_for(self.space.instance, verify=package_exchange.tls_context()) as client:
            got = client.download_package(self.space.octopus_id, f"packages-{pkey(pkg)}", path)
        return got.received.sha256

    def stream(self, pkg: dict[str, Any]) -> Iterator[bytes]:
        """The source feed's bytes as they arrive."""
        client = client_for(self.space.instance, verify=package_exchange.tls_context())
        try:
            # No SHA-1 check of the source feed: the import checks the stronger SHA-256.
            yield from client.iter_package(self.space.octopus_id, f"packages-{pkey(pkg)}")
        except OctopusError as exc:
            raise PromotionError(
                f"{pkey(pkg)} could not be read from {self.space.name}'s feed: {exc}"
            ) from None
        finally:
            client.close()


def space_source(space: Space) -> PackageSource:
    return SpaceSource(space)


def peer_source(bundle: InboundBundle) -> PackageSource:
    """Packages pulled from the source ODCM over the network (connected promotion): one
    signing key and one connection pool for all of them (:func:`import_bundle` closes it)."""
    return package_exchange.PeerSource(bundle)


def source_for(bundle: InboundBundle) -> PackageSource | None:
    """Where this bundle's packages come from without a person handing them over: the
    source space's feed (same ODCM) or the source ODCM (connected); None when air-gapped."""
    source = bundle.source
    if source.local_space_id is not None:
        return space_source(source.local_space)  # type: ignore[arg-type]
    if source.url:
        return peer_source(bundle)
    return None
