"""Where an imported bundle's packages come from, and putting one into the target's feed.

A package source is a function that writes package ``(id, version)`` to a path and returns
the SHA-256 it computed on the way (None: the importer hashes the file), or raises
PromotionError: an exported archive (air-gapped), another space of this ODCM (local), or the
source ODCM over the network (connected)."""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from octopus import OctopusClient
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
    with tempfile.TemporaryDirectory(prefix="odcm-import-") as tmp:
        path = Path(tmp) / f"{pkg['id']}.{pkg['version']}{pkg.get('file_extension', '.zip')}"
        digest = packages(pkg, path) or _sha256(path)
        if digest != pkg["sha256"]:
            raise PromotionError(
                f"{pkey(pkg)} does not match the bundle's manifest (SHA-256 {digest}, "
                f"expected {pkg['sha256']}): the package was altered; it was not uploaded and "
                "the release was not imported."
            )
        uploaded = client.upload_package(sid, path)
        if not uploaded.verified or uploaded.sent.sha256 != pkg["sha256"]:
            raise PromotionError(f"{pkey(pkg)} arrived damaged in the feed; import it again.")
    return "copied"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1024 * 1024):
            h.update(chunk)
    return h.hexdigest()


def archive_source(folder: Path) -> PackageSource:
    """Packages from an exported package archive (air-gapped): files named
    ``<id>.<version><ext>``."""

    def fetch(pkg: dict[str, Any], path: Path) -> str:
        found = folder / f"{pkg['id']}.{pkg['version']}{pkg.get('file_extension', '.zip')}"
        if not found.is_file():
            raise PromotionError(f"{pkey(pkg)} is not in the package archive.")
        h = hashlib.sha256()
        with open(found, "rb") as src, open(path, "wb") as dst:
            while chunk := src.read(1024 * 1024):
                h.update(chunk)  # hashed on the way: the copy is what gets uploaded
                dst.write(chunk)
        return h.hexdigest()

    return fetch


def space_source(space: Space) -> PackageSource:
    """Packages streamed from a space of this same ODCM (a local promotion)."""

    def fetch(pkg: dict[str, Any], path: Path) -> str:
        with client_for(space.instance, verify=package_exchange.tls_context()) as client:
            got = client.download_package(space.octopus_id, f"packages-{pkey(pkg)}", path)
        return got.received.sha256

    return fetch


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
