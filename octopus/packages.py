"""Streaming package bodies for the built-in feed: multipart upload and hashed download.

Neither direction holds a package in memory: the upload body is a multipart envelope
around the file, read in chunks as the connection sends them, and a download is written
to its destination chunk by chunk. Both compute SHA-1 (what Octopus stores as the
package ``Hash``) and SHA-256 on the way. The shells in ``client.py`` and ``aclient.py``
drive these objects; nothing here touches the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

CHUNK_BYTES = 1024 * 1024
SMALL_CHUNK = 64 * 1024
OVERWRITE_MODES = ("FailIfExists", "OverwriteExisting", "IgnoreIfExists")
# What Octopus's packages/raw expects the file part to be called (OctopusClients and the
# TypeScript client both send it so).
FORM_FIELD = "fileToUpload"

Destination = str | os.PathLike[str] | BinaryIO


class PackageChanged(OSError):
    """The local file changed size while it was being uploaded."""


@dataclass(frozen=True)
class Digests:
    """What was sent or received: byte count and hex digests."""

    size: int
    sha1: str
    sha256: str


class Hasher:
    """SHA-1 and SHA-256 of a byte stream, fed chunk by chunk.

    A caller that needs only one of them says so (``sha1=False`` or ``sha256=False``); the
    other digest is then ``""``. Each costs about 0.5 s of CPU per GiB: a package relayed
    through several hops was hashed seven times on the way where three suffice.
    """

    def __init__(self, *, sha1: bool = True, sha256: bool = True) -> None:
        self._sha1 = hashlib.sha1(usedforsecurity=False) if sha1 else None
        self._sha256 = hashlib.sha256() if sha256 else None
        self.size = 0

    def feed(self, chunk: bytes | bytearray | memoryview) -> None:
        if self._sha1 is not None:
            self._sha1.update(chunk)
        if self._sha256 is not None:
            self._sha256.update(chunk)
        self.size += len(chunk)

    def digests(self) -> Digests:
        return Digests(
            self.size,
            self._sha1.hexdigest() if self._sha1 is not None else "",
            self._sha256.hexdigest() if self._sha256 is not None else "",
        )


@dataclass(frozen=True)
class PackageUpload:
    """The package resource Octopus returned and the digests of the bytes sent.

    ``verified`` is true when Octopus's ``Hash`` equals the SHA-1 of what was sent; with
    ``IgnoreIfExists`` an existing package may legitimately have other bytes.
    """

    package: dict[str, Any]
    sent: Digests

    @property
    def server_sha1(self) -> str:
        return str(self.package.get("Hash") or "").lower()

    @property
    def verified(self) -> bool:
        return self.server_sha1 == self.sent.sha1


@dataclass(frozen=True)
class PackageDownload:
    """Digests of the bytes written to the destination."""

    received: Digests
    path: Path | None = None


def check_file_name(name: str) -> str:
    """A package file name (``Acme.Web.1.2.3.zip``); Octopus parses id and version from it."""
    if not name or name in (".", "..") or any(c in name for c in '/\\"') or not name.isprintable():
        raise ValueError(f"{name!r} is not a usable package file name")
    return name


class MultipartUpload:
    """A ``multipart/form-data`` body with one file part, re-readable for each attempt.

    ``source`` is a path or a seekable binary file (read from its current position).
    The body length is known up front, so requests carry ``Content-Length``.
    """

    def __init__(
        self,
        source: str | os.PathLike[str] | BinaryIO,
        *,
        file_name: str | None = None,
        boundary: str | None = None,
    ) -> None:
        if isinstance(source, str | os.PathLike):
            self.path: Path | None = Path(source)
            self.fileobj: BinaryIO | None = None
            self.start = 0
            self.size = self.path.stat().st_size
            default_name = self.path.name
        else:
            self.path, self.fileobj = None, source
            self.start = source.tell()
            self.size = source.seek(0, os.SEEK_END) - self.start
            source.seek(self.start)
            default_name = os.path.basename(str(getattr(source, "name", "") or ""))
        self.file_name = check_file_name(file_name or default_name)
        self.boundary = boundary or "odcm-" + secrets.token_hex(16)
        self.head = (
            f"--{self.boundary}\r\n"
            f'Content-Disposition: form-data; name="{FORM_FIELD}"; filename="{self.file_name}"'
            "\r\nContent-Type: application/octet-stream\r\n\r\n"
        ).encode()
        self.tail = f"\r\n--{self.boundary}--\r\n".encode()
        self.hasher = Hasher()

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    @property
    def content_length(self) -> int:
        return len(self.head) + self.size + len(self.tail)

    def headers(self) -> dict[str, str]:
        return {"Content-Type": self.content_type, "Content-Length": str(self.content_length)}

    @contextlib.contextmanager
    def _opened(self) -> Iterator[BinaryIO]:
        if self.path is not None:
            with open(self.path, "rb") as handle:
                yield handle
        else:
            assert self.fileobj is not None
            self.fileobj.seek(self.start)
            yield self.fileobj

    def _read(self, handle: BinaryIO, left: int) -> bytes:
        chunk = handle.read(min(CHUNK_BYTES, left))
        if not chunk:
            raise PackageChanged(f"{self.file_name} became shorter while it was being uploaded")
        self.hasher.feed(chunk)
        return chunk

    def chunks(self) -> Iterator[bytes]:
        """The whole body, for one attempt (the hashes start again)."""
        self.hasher = Hasher()
        yield self.head
        with self._opened() as handle:
            left = self.size
            while left > 0:
                chunk = self._read(handle, left)
                left -= len(chunk)
                yield chunk
        yield self.tail

    async def achunks(self) -> AsyncIterator[bytes]:
        """:meth:`chunks` for an event loop: reads and hashes in a worker thread."""
        self.hasher = Hasher()
        yield self.head
        with self._opened() as handle:
            left = self.size
            while left > 0:
                chunk = await asyncio.to_thread(self._read, handle, left)
                left -= len(chunk)
                yield chunk
        yield self.tail

    def sent(self) -> Digests:
        return self.hasher.digests()


class StreamMismatch(ValueError):
    """A streamed package's bytes are not the ones expected (size or SHA-256): the upload
    was broken off before its last chunk, so the server never stored the package."""


class StreamedUpload(MultipartUpload):
    """A ``multipart/form-data`` body around bytes that arrive as they are produced (a
    package relayed from another server): nothing is written to disk, and every byte is
    hashed once (SHA-1 for Octopus's ``Hash``, SHA-256) on its way through.

    ``size`` must be known up front (the request carries a ``Content-Length``, as for a
    file). The last chunk is held back until the size and, with ``expected_sha256``, the
    SHA-256 match: a mismatch raises :class:`StreamMismatch` instead of sending it, so the
    request breaks off short and the package never lands in the feed. The source is read
    once: a body whose bytes already left cannot be sent again (the caller starts over).
    """

    def __init__(
        self,
        source: Iterable[bytes],
        *,
        file_name: str,
        size: int,
        expected_sha256: str | None = None,
        boundary: str | None = None,
    ) -> None:
        self.path, self.fileobj, self.start = None, None, 0
        self.source = source
        if size < 0:
            raise ValueError("a streamed package's size must be known")
        self.size = size
        self.expected_sha256 = (expected_sha256 or "").lower() or None
        self.file_name = check_file_name(file_name)
        self.boundary = boundary or "odcm-" + secrets.token_hex(16)
        self.head = (
            f"--{self.boundary}\r\n"
            f'Content-Disposition: form-data; name="{FORM_FIELD}"; filename="{self.file_name}"'
            "\r\nContent-Type: application/octet-stream\r\n\r\n"
        ).encode()
        self.tail = f"\r\n--{self.boundary}--\r\n".encode()
        self.hasher = Hasher()
        self._used = False

    def chunks(self) -> Iterator[bytes]:
        if self._used:
            raise PackageChanged(
                f"{self.file_name} was streamed from another server: it cannot be sent again"
            )
        self._used = True
        yield self.head
        held = b""  # the latest chunk, sent only once the next one (or the check) is in
        for chunk in self.source:
            if not chunk:
                continue
            self.hasher.feed(chunk)
            if self.hasher.size > self.size:
                raise StreamMismatch(
                    f"{self.file_name}: more than the {self.size} bytes expected arrived; "
                    "the upload was broken off before its end."
                )
            if held:
                yield held
            held = chunk
        self._check()
        if held:
            yield held
        yield self.tail

    async def achunks(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks():
            yield chunk

    def _check(self) -> None:
        got = self.hasher.digests()
        if got.size != self.size:
            raise StreamMismatch(
                f"{self.file_name}: {got.size} bytes arrived, not {self.size}; the upload was "
                "broken off before its end."
            )
        if self.expected_sha256 and got.sha256 != self.expected_sha256:
            raise StreamMismatch(
                f"{self.file_name}: the bytes have SHA-256 {got.sha256}, not "
                f"{self.expected_sha256}; the upload was broken off before its end."
            )


@dataclass
class DownloadSink:
    """Writes a streamed body to a path (atomically, via a temporary file) or a file.

    A path destination can start again after a broken transfer; so can a seekable file
    (it is rewound and truncated). Anything else cannot be retried once bytes were written.
    """

    destination: Destination
    hasher: Hasher = field(default_factory=Hasher)
    # Which digests to compute (both unless the caller needs only one; see Hasher).
    sha1: bool = True
    sha256: bool = True
    _handle: BinaryIO | None = None
    _temp: Path | None = None
    _start: int = 0
    _started: bool = False
    _buffer: bytearray = field(default_factory=bytearray)

    @property
    def path(self) -> Path | None:
        d = self.destination
        return Path(d) if isinstance(d, str | os.PathLike) else None

    def restartable(self) -> bool:
        if self.path is not None or not self._started or self.hasher.size + len(self._buffer) == 0:
            return True
        return bool(getattr(self.destination, "seekable", lambda: False)())

    def begin(self) -> None:
        """Start (or start again) writing from the first byte."""
        self.hasher = Hasher(sha1=self.sha1, sha256=self.sha256)
        self._buffer.clear()
        path = self.path
        if path is not None:
            self._discard()
            self._temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
            self._handle = open(self._temp, "wb")  # noqa: SIM115 - closed in finish/abort
        else:
            assert not isinstance(self.destination, str | os.PathLike)
            handle = self.destination
            if not self._started:
                self._start = handle.tell() if handle.seekable() else 0
            elif handle.seekable():
                handle.seek(self._start)
                handle.truncate()
            self._handle = handle
        self._started = True

    def feed(self, chunk: bytes | bytearray) -> None:
        """Take the next bytes: big chunks are written and hashed at once, small ones
        gathered first (some transports hand over a few KiB at a time)."""
        if not self._buffer and len(chunk) >= SMALL_CHUNK:
            self._write(chunk)
            return
        self._buffer += chunk
        if len(self._buffer) >= SMALL_CHUNK:
            self._flush()

    def _write(self, block: bytes | bytearray) -> None:
        assert self._handle is not None
        self._handle.write(block)
        self.hasher.feed(block)

    def _flush(self) -> None:
        if self._buffer:
            self._write(self._buffer)
            self._buffer = bytearray()

    def received(self) -> Digests:
        """Everything fed so far (flushed first)."""
        self._flush()
        return self.hasher.digests()

    def finish(self) -> PackageDownload:
        self._flush()
        path = self.path
        if path is not None and self._handle is not None and self._temp is not None:
            self._handle.close()
            os.replace(self._temp, path)
            self._handle = self._temp = None
        return PackageDownload(self.hasher.digests(), path)

    def abort(self) -> None:
        """Remove a partial download (a file object is left as it is)."""
        if self.path is not None:
            self._discard()

    def _discard(self) -> None:
        self._buffer.clear()
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if self._temp is not None:
            with contextlib.suppress(FileNotFoundError):
                self._temp.unlink()
            self._temp = None
