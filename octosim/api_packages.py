"""The built-in feed: package upload, listing, metadata, download and versions.

Package bytes stream to a file under the instance's data folder (a temporary folder, or
``--state-dir``) as they arrive, with the SHA-1 computed on the way, so a 200 MB upload
never sits in memory; only the metadata lives in the instance state.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from aiohttp import BodyPartReader, web
from aiohttp.hdrs import CONTENT_LENGTH, CONTENT_TRANSFER_ENCODING, CONTENT_TYPE
from aiohttp.helpers import parse_mimetype

from octosim.api_core import require_space
from octosim.errors import ApiError, invalid, not_found
from octosim.instance import Instance
from octosim.paging import bool_param, envelope, param
from octosim.resources import iso
from octosim.routing import Ctx, Reply, Router
from octosim.state import Doc, InstanceState, now

BUILTIN = "feeds-builtin"
EXTENSIONS = (".tar.gz", ".tar.bz2", ".tgz", ".tar", ".zip", ".nupkg", ".jar")
# <id>.<version><extension>: the id is the shortest prefix after which a version follows
_VERSION = r"\d+(?:\.\d+){0,3}(?:-[0-9A-Za-z][0-9A-Za-z.-]*)?(?:\+[0-9A-Za-z.-]+)?"
_NAME = re.compile(rf"^(?P<id>[A-Za-z0-9_][A-Za-z0-9_.-]*?)\.(?P<version>{_VERSION})$")
MODES = ("FailIfExists", "OverwriteExisting", "IgnoreIfExists")
CHUNK = 1 << 20


def parse_file_name(file_name: str) -> tuple[str, str, str]:
    """``Acme.Web.1.2.3-beta.zip`` -> ("Acme.Web", "1.2.3-beta", ".zip"), as Octopus reads a
    pushed package's name; ValueError when the name has no id, version or known extension."""
    lowered = file_name.lower()
    ext = next((e for e in EXTENSIONS if lowered.endswith(e)), None)
    if ext is None:
        raise ValueError(
            f"The package file '{file_name}' has an unsupported extension; supported: "
            + ", ".join(EXTENSIONS)
        )
    match = _NAME.match(file_name[: -len(ext)])
    if match is None:
        raise ValueError(
            f"The package file name '{file_name}' is not valid: it must be "
            "<PackageId>.<Version><extension>, e.g. Acme.Web.1.0.0.zip."
        )
    return match["id"], match["version"], file_name[-len(ext) :]


def version_key(version: str) -> tuple[Any, ...]:
    """Sort key for package and release versions (SemVer: a pre-release sorts first)."""
    core, _, pre = version.partition("+")[0].partition("-")
    nums = tuple(int(p) if p.isdigit() else 0 for p in core.split("."))
    nums = nums + (0,) * (4 - len(nums))
    pre_key = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split(".") if p)
    return (nums, 0 if pre else 1, pre_key)


def _key(space_id: str, package_id: str) -> str:
    return f"{space_id}/{package_id}"


def store_dir(ctx: Ctx) -> Path:
    return folder_of(ctx.inst, str(ctx.space_id))


_MADE: set[Path] = set()  # folders known to exist (seeding stores many small packages)


def folder_of(inst: Instance, space_id: str) -> Path:
    path = inst.data_dir / "packages" / space_id
    if path not in _MADE or not path.is_dir():
        path.mkdir(parents=True, exist_ok=True)
        _MADE.add(path)
    return path


def space_packages(st: InstanceState, space_id: str) -> list[Doc]:
    return [d for d in st.packages.values() if d["SpaceId"] == space_id]


def find_version(st: InstanceState, space_id: str, package_id: str, version: str) -> Doc | None:
    return st.packages.get(_key(space_id, f"packages-{package_id}.{version}"))


def latest_version(st: InstanceState, space_id: str, package_id: str) -> str | None:
    versions = [d["Version"] for d in space_packages(st, space_id) if d["PackageId"] == package_id]
    return max(versions, key=version_key) if versions else None


def render_package(doc: Doc) -> Doc:
    out = {k: v for k, v in doc.items() if k not in ("SpaceId", "File")}
    p = f"/api/{doc['SpaceId']}"
    out["Links"] = {
        "Self": f"{p}/packages/{doc['Id']}",
        "Raw": f"{p}/packages/{doc['Id']}/raw",
        "Feed": f"{p}/feeds/{BUILTIN}",
    }
    return out


async def _file_part(ctx: Ctx) -> BodyPartReader:
    if not ctx.request.content_type.startswith("multipart/"):
        raise invalid("Upload the package as multipart/form-data with a file part.")
    reader = await ctx.request.multipart()
    while True:
        part = await reader.next()
        if part is None:
            raise invalid("No package file was found in the request.")
        if isinstance(part, BodyPartReader) and part.filename:
            return part


async def _copy_part(request: web.Request, part: BodyPartReader, out: BinaryIO, sha1: Any) -> int:
    """Write the file part's bytes to ``out`` and hash them; returns their count.

    A part with its own Content-Length or a transfer encoding is read by aiohttp; any other
    (every client's) by :func:`copy_part_body`, straight from the connection's buffers."""
    size = 0

    def emit(data: bytes | memoryview) -> None:
        nonlocal size
        if data:
            out.write(data)
            sha1.update(data)
            size += len(data)

    if part.headers.get(CONTENT_LENGTH) or part.headers.get(CONTENT_TRANSFER_ENCODING):
        while chunk := await part.read_chunk(CHUNK):
            emit(chunk)
        return size
    request.content.set_read_chunk_size(CHUNK)  # let the buffers grow to what the socket reads
    await copy_part_body(request.content, b"\r\n--" + _boundary(request), emit)
    return size


class _Readable(Protocol):
    async def readany(self) -> bytes: ...


async def copy_part_body(
    content: _Readable, delimiter: bytes, emit: Callable[[bytes | memoryview], None]
) -> None:
    """Pass on the bytes of a part whose headers were read, up to its delimiter
    (CRLF--boundary), as they arrive.

    Each buffer the connection filled goes on as it is (a memoryview of it), only the last
    bytes held back in case a delimiter starts in them: aiohttp's ``read_chunk`` joins the
    buffers and then each chunk to the one before to look for the delimiter, which copied
    every byte three times (octosim spent about 3 s of CPU per GiB uploaded). What is passed
    on is what aiohttp's reader gives: the part ends at the first delimiter (the CRLF that
    ends the part's headers counts, so a part that starts with its delimiter is empty) or,
    failing that, where the body ends; a connection that breaks off before the body's
    Content-Length raises from ``readany``."""
    keep = len(delimiter) - 1  # held back: a delimiter may start in them
    tail, lead = b"\r\n", 2  # tail[:lead] is not the part's (the headers' CRLF)
    while chunk := await content.readany():
        if len(chunk) < 2 * len(delimiter):  # a small piece: joined to the tail (a few bytes)
            joined = tail + chunk
            at = joined.find(delimiter)
            if at >= 0:
                emit(joined[lead:at])
                return
            start = max(0, len(joined) - keep)  # the new tail
            if start > lead:
                emit(joined[lead:start])
            tail, lead = joined[start:], max(0, lead - start)
            continue
        head = tail + chunk[:keep]  # a delimiter that starts in the tail ends in here
        at = head.find(delimiter)
        if at >= 0:
            emit(head[lead:at])
            return
        emit(memoryview(tail)[lead:])
        at = chunk.find(delimiter)
        if at >= 0:
            emit(memoryview(chunk)[:at])
            return
        emit(memoryview(chunk)[:-keep])
        tail, lead = chunk[-keep:], 0
    emit(memoryview(tail)[lead:])  # the body ended without a delimiter: what came is the part


def _boundary(request: web.Request) -> bytes:
    """The request's multipart boundary, as aiohttp's reader reads it (it checked it)."""
    return parse_mimetype(request.headers[CONTENT_TYPE]).parameters["boundary"].encode()


async def upload(ctx: Ctx) -> Reply:
    require_space(ctx)
    mode = param(ctx.query, "overwriteMode")
    if mode is None:
        mode = "OverwriteExisting" if bool_param(ctx.query, "replace") else "FailIfExists"
    if mode not in MODES:
        raise invalid(f"The overwriteMode '{mode}' is not valid; use one of {', '.join(MODES)}.")
    part = await _file_part(ctx)
    file_name = os.path.basename(str(part.filename).replace("\\", "/"))
    try:
        package_id, version, ext = parse_file_name(file_name)
    except ValueError as err:
        raise invalid(str(err)) from None
    folder = store_dir(ctx)
    tmp = folder / f".upload-{uuid.uuid4().hex}"
    sha1 = hashlib.sha1(usedforsecurity=False)
    try:
        with tmp.open("wb") as out:
            size = await _copy_part(ctx.request, part, out, sha1)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    ident = f"packages-{package_id}.{version}"
    key = _key(str(ctx.space_id), ident)
    existing = ctx.st.packages.get(key)
    if existing is not None and mode != "OverwriteExisting":
        tmp.unlink(missing_ok=True)
        if mode == "IgnoreIfExists":
            return 200, render_package(existing)
        raise ApiError(
            409,
            f"A package with the same ID and version already exists: {package_id} {version}. "
            "Push with overwriteMode=OverwriteExisting to replace it.",
            [],
        )
    doc = record(ctx.inst, str(ctx.space_id), tmp, file_name, sha1.hexdigest(), size, ctx.username)
    return 201, render_package(doc)


def record(
    inst: Instance, space_id: str, tmp: Path, file_name: str, digest: str, size: int, user: str
) -> Doc:
    """Move an uploaded file into the feed and store its metadata (replacing a package of
    the same id and version)."""
    package_id, version, ext = parse_file_name(file_name)
    target = folder_of(inst, space_id) / f"{package_id}.{version}{ext.lower()}"
    os.replace(tmp, target)
    moment = now()
    ident = f"packages-{package_id}.{version}"
    doc: Doc = {
        "Id": ident,
        "PackageId": package_id,
        "Version": version,
        "Title": package_id,
        "Summary": "",
        "Description": "",
        "Published": iso(moment),
        "ReleaseNotes": "",
        "FileExtension": ext,
        "FeedId": BUILTIN,
        "NuGetPackageId": package_id,
        "NuGetFeedId": BUILTIN,
        "Hash": digest,
        "PackageSizeBytes": size,
        "PackageVersionBuildInformation": None,
        "LastModifiedOn": iso(moment),
        "LastModifiedBy": user,
        "SpaceId": space_id,
        "File": target.name,
    }
    inst.state.packages[_key(space_id, ident)] = doc
    return doc


def store_bytes(inst: Instance, space_id: str, file_name: str, data: bytes, user: str) -> Doc:
    """Add a (small) package the simulator makes itself: seeded and live-activity builds."""
    tmp = folder_of(inst, space_id) / f".upload-{uuid.uuid4().hex}"
    tmp.write_bytes(data)
    return record(inst, space_id, tmp, file_name, hashlib.sha1(data).hexdigest(), len(data), user)


def _get(ctx: Ctx) -> Doc:
    require_space(ctx)
    doc = ctx.st.packages.get(_key(str(ctx.space_id), ctx.params["id"]))
    if doc is None:
        raise not_found(ctx.params["id"])
    return doc


def get_package(ctx: Ctx) -> Reply:
    return 200, render_package(_get(ctx))


def download(ctx: Ctx) -> Reply:
    doc = _get(ctx)
    path = store_dir(ctx) / doc["File"]
    if not path.exists():
        raise not_found(ctx.params["id"])
    slow = ctx.inst.faults.slow_body_ms
    if slow > 0:
        # The slow_body_ms fault spreads the file over that many milliseconds (tests catch a
        # transfer in flight with it); otherwise aiohttp sends the file at full speed.
        size = path.stat().st_size
        resp: web.StreamResponse = web.Response(
            body=_slowly(path, size, slow), headers={"Content-Length": str(size)}
        )
    else:
        resp = web.FileResponse(path, chunk_size=CHUNK)
    resp.headers["Content-Type"] = "application/octet-stream"
    resp.headers["Content-Disposition"] = (
        f'attachment; filename="{doc["PackageId"]}.{doc["Version"]}{doc["FileExtension"]}"'
    )
    return resp


async def _slowly(path: Path, size: int, total_ms: int) -> AsyncIterator[bytes]:
    pieces = 20
    piece = max(1, -(-size // pieces))
    with path.open("rb") as f:
        while chunk := f.read(piece):
            yield chunk
            await asyncio.sleep(total_ms / 1000 / pieces)


def delete_package(ctx: Ctx) -> Reply:
    doc = _get(ctx)
    (store_dir(ctx) / doc["File"]).unlink(missing_ok=True)
    del ctx.st.packages[_key(str(ctx.space_id), doc["Id"])]
    return 200, None


def _sorted(items: list[Doc]) -> list[Doc]:
    return sorted(
        items, key=lambda d: (d["PackageId"].lower(), version_key(d["Version"])), reverse=True
    )


def list_packages(ctx: Ctx) -> Reply:
    require_space(ctx)
    items = space_packages(ctx.st, str(ctx.space_id))
    exact = param(ctx.query, "nuGetPackageId")
    if exact:
        items = [d for d in items if d["PackageId"].lower() == exact.lower()]
    text = param(ctx.query, "filter")
    if text:
        items = [d for d in items if text.lower() in d["PackageId"].lower()]
    if bool_param(ctx.query, "latest"):
        best: dict[str, Doc] = {}
        for doc in items:
            held = best.get(doc["PackageId"])
            if held is None or version_key(doc["Version"]) > version_key(held["Version"]):
                best[doc["PackageId"]] = doc
        items = list(best.values())
    path = f"{ctx.prefix}/packages"
    return 200, envelope(
        _sorted(items), ctx.query, item_type="Package", path=path,
        template=path + "{/id}{?nuGetPackageId,filter,latest,skip,take,includeNotes}",
        render=render_package,
    )  # fmt: skip


def feed_versions(ctx: Ctx) -> Reply:
    require_space(ctx)
    feed = ctx.col("feeds").get(ctx.params["id"])
    if feed is None:
        raise not_found(ctx.params["id"])
    package_id = param(ctx.query, "packageId")
    if not package_id:
        raise invalid("The packageId parameter is required.")
    items: list[Doc] = []
    if feed["FeedType"] == "BuiltIn":
        items = [
            d
            for d in space_packages(ctx.st, str(ctx.space_id))
            if d["PackageId"].lower() == package_id.lower()
        ]
    path = f"{ctx.prefix}/feeds/{feed['Id']}/packages/versions"

    def render(doc: Doc) -> Doc:
        return {
            "Id": doc["Id"],
            "PackageId": doc["PackageId"],
            "Version": doc["Version"],
            "Title": doc["Title"],
            "Published": doc["Published"],
            "ReleaseNotes": doc["ReleaseNotes"],
            "SizeBytes": doc["PackageSizeBytes"],
            "FeedId": feed["Id"],
            "Links": {"Self": f"/api/{ctx.space_id}/packages/{doc['Id']}"},
        }

    return 200, envelope(
        _sorted(items), ctx.query, item_type="PackageVersion", path=path,
        template=path + "{?packageId,take,skip,includePreRelease,versionRange,filter}",
        render=render,
    )  # fmt: skip


def register(router: Router) -> None:
    router.space("POST", "/packages/raw", upload, permission="BuiltInFeedPush")
    router.space("GET", "/packages", list_packages)
    router.space("GET", "/packages/{id}", get_package)
    router.space("GET", "/packages/{id}/raw", download)
    router.space("DELETE", "/packages/{id}", delete_package, permission="BuiltInFeedAdminister")
    router.space("GET", "/feeds/{id}/packages/versions", feed_versions)
