"""The built-in feed over HTTP: push, hash, list, download, overwrite modes, delete."""

from __future__ import annotations

import hashlib
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from octosim.api_packages import copy_part_body, parse_file_name
from tests.octosim.conftest import Api


def push(api: Api, name: str, data: bytes, mode: str | None = None) -> httpx.Response:
    params = {"overwriteMode": mode} if mode else {}
    return api.client.post(
        "/api/Spaces-1/packages/raw", params=params, files={"fileToUpload": (name, data)}
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Acme.Web.1.0.0.zip", ("Acme.Web", "1.0.0", ".zip")),
        ("Acme.Web.2.1.0-beta.3.tar.gz", ("Acme.Web", "2.1.0-beta.3", ".tar.gz")),
        ("Acme.2Fast.10.0.nupkg", ("Acme.2Fast", "10.0", ".nupkg")),
    ],
)
def test_package_file_names_give_id_and_version(name: str, expected: tuple[str, str, str]) -> None:
    assert parse_file_name(name) == expected


def test_pushed_package_round_trips_with_its_sha1(api: Api) -> None:
    data = bytes(range(256)) * 4096
    resp = push(api, "Acme.Web.1.2.3.zip", data)
    assert resp.status_code == 201, resp.text
    doc = resp.json()
    assert doc["Id"] == "packages-Acme.Web.1.2.3"
    assert doc["PackageId"] == "Acme.Web" and doc["Version"] == "1.2.3"
    assert doc["Hash"] == hashlib.sha1(data).hexdigest()
    assert doc["PackageSizeBytes"] == len(data)
    got = api.get("/api/Spaces-1/packages/packages-Acme.Web.1.2.3")
    assert got["Hash"] == doc["Hash"]
    raw = api.client.get("/api/Spaces-1/packages/packages-Acme.Web.1.2.3/raw")
    assert raw.status_code == 200 and raw.content == data
    assert raw.headers["Content-Disposition"].endswith('filename="Acme.Web.1.2.3.zip"')


def test_overwrite_modes_fail_ignore_and_replace(api: Api) -> None:
    assert push(api, "Acme.Api.1.0.0.zip", b"one").status_code == 201
    refused = push(api, "Acme.Api.1.0.0.zip", b"two")
    assert refused.status_code == 409
    assert "already exists" in refused.json()["ErrorMessage"]
    kept = push(api, "Acme.Api.1.0.0.zip", b"two", "IgnoreIfExists")
    assert kept.status_code == 200
    assert kept.json()["Hash"] == hashlib.sha1(b"one").hexdigest()
    replaced = push(api, "Acme.Api.1.0.0.zip", b"two", "OverwriteExisting")
    assert replaced.status_code == 201
    assert replaced.json()["Hash"] == hashlib.sha1(b"two").hexdigest()
    bad = push(api, "Acme.Api.1.0.0.zip", b"x", "Sometimes")
    assert bad.status_code == 400 and "overwriteMode" in bad.json()["Errors"][0]


def test_bad_file_names_are_refused_with_a_message(api: Api) -> None:
    for name in ("no-version.zip", "Acme.1.0.exe"):
        resp = push(api, name, b"x")
        assert resp.status_code == 400
        assert name in resp.json()["Errors"][0]


def test_packages_list_filters_latest_and_versions(api: Api) -> None:
    for version in ("1.0.0", "1.10.0", "1.2.0", "2.0.0-beta"):
        assert push(api, f"Acme.Lib.{version}.zip", b"v" + version.encode()).status_code == 201
    assert push(api, "Other.1.0.0.zip", b"o").status_code == 201
    listed = api.get("/api/Spaces-1/packages", params={"filter": "Acme.Lib"})
    assert [p["Version"] for p in listed["Items"]] == ["2.0.0-beta", "1.10.0", "1.2.0", "1.0.0"]
    latest = api.get("/api/Spaces-1/packages", params={"latest": "true", "take": 1000})
    newest = {p["PackageId"]: p["Version"] for p in latest["Items"]}
    assert newest["Acme.Lib"] == "2.0.0-beta" and newest["Other"] == "1.0.0"
    assert len(latest["Items"]) == len(newest)  # one row per package
    versions = api.get(
        "/api/Spaces-1/feeds/feeds-builtin/packages/versions", params={"packageId": "Acme.Lib"}
    )
    assert versions["TotalResults"] == 4
    assert api.delete("/api/Spaces-1/packages/packages-Other.1.0.0").status_code == 200
    gone = api.client.get("/api/Spaces-1/packages/packages-Other.1.0.0/raw")
    assert gone.status_code == 404


def test_read_only_key_cannot_push(ro_api: Api) -> None:
    resp = push(ro_api, "Acme.Web.9.0.0.zip", b"x")
    assert resp.status_code == 403
    assert resp.json()["ErrorMessage"].endswith("BuiltInFeedPush")


def test_the_space_links_name_the_package_upload_with_its_overwrite_mode(api: Api) -> None:
    links = api.get("/api/Spaces-1")["Links"]
    assert links["PackageUpload"].endswith("/api/Spaces-1/packages/raw{?replace,overwriteMode}")
    assert "Interruptions" in links and "Runbooks" in links and "Channels" in links


BOUNDARY = "odcm-test-boundary"
# Bytes that look like the start of the delimiter (CRLF--boundary) without being it.
NEAR_MISSES = (
    b"\r\n--odcm-test-bound"
    + b"\r\n-"
    + b"\r\n--"
    + bytes(range(256)) * 12
    + b"\r\n--odcm-test-boundarY"
    + b"\r"
) * 60


def _multipart(parts: list[tuple[bytes, bytes]], *, closed: bool = True) -> bytes:
    body = b""
    for headers, data in parts:
        body += f"--{BOUNDARY}\r\n".encode() + headers + b"\r\n\r\n" + data + b"\r\n"
    return body + (f"--{BOUNDARY}--\r\n".encode() if closed else b"")


def _file_part(name: str) -> bytes:
    return (
        f'Content-Disposition: form-data; name="fileToUpload"; filename="{name}"\r\n'
        "Content-Type: application/octet-stream"
    ).encode()


def _field(name: str) -> bytes:
    return f'Content-Disposition: form-data; name="{name}"'.encode()


@pytest.mark.parametrize("piece", [1, 7, 4096, 1 << 20])
@pytest.mark.parametrize(
    ("body", "stored"),
    [
        (_multipart([(_file_part("Near.Miss.1.0.0.zip"), NEAR_MISSES)]), NEAR_MISSES),
        (_multipart([(_file_part("Near.Miss.1.0.0.zip"), b"")]), b""),
        (_multipart([(_file_part("Near.Miss.1.0.0.zip"), b"ab\r\n")]), b"ab\r\n"),
        (
            _multipart(
                [
                    (_field("a"), b"x"),
                    (_file_part("Near.Miss.1.0.0.zip"), b"pkg"),
                    (_field("b"), b"y"),
                ]
            ),
            b"pkg",
        ),
        (b"preamble\r\n" + _multipart([(_file_part("Near.Miss.1.0.0.zip"), b"pp")]), b"pp"),
        # A body that ends (its Content-Length reached) without a closing delimiter: what
        # came is the part, as aiohttp's reader has it.
        (_multipart([(_file_part("Near.Miss.1.0.0.zip"), b"data")], closed=False), b"data\r\n"),
        (
            _multipart([(_file_part("Near.Miss.1.0.0.zip"), b"data")])[: -len(BOUNDARY) - 8],
            b"data",
        ),
    ],
    ids=["near-misses", "empty", "crlf-at-end", "fields-around", "preamble", "unclosed", "bare"],
)
def test_the_file_part_is_stored_exactly_however_the_body_is_cut(
    api: Api, body: bytes, stored: bytes, piece: int
) -> None:
    """The upload reads the part straight from the connection's buffers: a delimiter (or
    something like one) split across any two reads still ends the part exactly there."""

    def pieces() -> Iterator[bytes]:
        for at in range(0, len(body), piece):
            yield body[at : at + piece]

    resp = api.client.post(
        "/api/Spaces-1/packages/raw",
        params={"overwriteMode": "OverwriteExisting"},
        content=pieces(),
        headers={
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            "Content-Length": str(len(body)),
        },
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["Hash"] == hashlib.sha1(stored).hexdigest()
    assert resp.json()["PackageSizeBytes"] == len(stored)
    raw = api.client.get("/api/Spaces-1/packages/packages-Near.Miss.1.0.0/raw")
    assert raw.content == stored


def test_an_upload_cut_off_before_its_end_stores_nothing(api: Api) -> None:
    body = _multipart([(_file_part("Cut.Off.1.0.0.zip"), NEAR_MISSES)])
    head = (
        f"POST /{api.inst.slug}/api/Spaces-1/packages/raw HTTP/1.1\r\n"
        f"Host: 127.0.0.1\r\nX-Octopus-ApiKey: {api.inst.api_key}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    url = httpx.URL(api.inst.url)
    with socket.create_connection((url.host, url.port or 80)) as sock:
        sock.sendall(head + body[: len(body) - 100])
    time.sleep(0.3)
    gone = api.client.get("/api/Spaces-1/packages/packages-Cut.Off.1.0.0")
    assert gone.status_code == 404
    assert push(api, "Cut.Off.1.0.0.zip", b"whole").status_code == 201


class _Pieces:
    """What the connection's buffers hand over: these pieces, then the end of the body."""

    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = [p for p in pieces if p]  # a read never gives nothing before the end

    async def readany(self) -> bytes:
        return self.pieces.pop(0) if self.pieces else b""


def _part_body(pieces: list[bytes], delimiter: bytes) -> bytes:
    out: list[bytes] = []
    run = copy_part_body(_Pieces(pieces), delimiter, lambda b: out.append(bytes(b)))
    with pytest.raises(StopIteration):  # nothing to wait for: it runs to its end at once
        run.send(None)
    return b"".join(out)


@pytest.mark.parametrize("data", [b"", b"x", b"\r\n--odcm-test-bound", NEAR_MISSES[:800]])
def test_a_part_ends_at_its_delimiter_wherever_the_reads_split_it(data: bytes) -> None:
    """Every way of cutting the bytes after the part's headers in two or three reads, small
    ones (joined to what is held back) and big ones (passed on as they are), gives the part
    exactly; so does the body ending without a delimiter."""
    delimiter = f"\r\n--{BOUNDARY}".encode()
    body = data + delimiter + b"--\r\n"
    big = 4 * len(delimiter)
    for cut in range(len(body) + 1):
        assert _part_body([body[:cut], body[cut:]], delimiter) == data, cut
        padded = b"z" * big + body + b"y" * big  # the cut falls between two big reads
        got = _part_body([padded[: big + cut], padded[big + cut :]], delimiter)
        assert got == b"z" * big + data, cut
        if 0 < cut < len(body):
            three = [body[: cut // 2], body[cut // 2 : cut], body[cut:]]
            assert _part_body(three, delimiter) == data, cut
    assert _part_body([data[: len(data) // 2], data[len(data) // 2 :]], delimiter) == data
