"""Package push and download through the client against octosim over real HTTP."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from octopus import (
    AsyncOctopusClient,
    DuplicateVersion,
    NotFound,
    OctopusClient,
    PackageChanged,
    StreamedUpload,
    StreamMismatch,
    UnexpectedResponse,
)

from .conftest import FAST_RETRY, LOOPBACK, PlainServer, json_reply


def client(sim: Any) -> OctopusClient:
    return OctopusClient(sim.url, sim.api_key, policy=LOOPBACK, retry=FAST_RETRY)


def make_package(folder: Path, name: str, size: int, seed: int = 0) -> tuple[Path, bytes]:
    data = hashlib.sha256(str(seed).encode()).digest() * (size // 32 + 1)
    data = data[:size]
    path = folder / name
    path.write_bytes(data)
    return path, data


def test_pushed_package_has_the_hash_of_its_bytes_and_downloads_unchanged(
    sim_instance: Any, tmp_path: Path
) -> None:
    path, data = make_package(tmp_path, "Acme.Web.1.2.3.zip", 3 * 1024 * 1024 + 17)
    with client(sim_instance) as c:
        pushed = c.upload_package("Spaces-1", path)
        assert pushed.verified
        assert pushed.sent.sha1 == hashlib.sha1(data).hexdigest()
        assert pushed.sent.sha256 == hashlib.sha256(data).hexdigest()
        assert pushed.package["PackageId"] == "Acme.Web"
        assert pushed.package["Version"] == "1.2.3"
        assert pushed.package["PackageSizeBytes"] == len(data)

        stored = c.package("Spaces-1", pushed.package["Id"])
        assert stored["Hash"] == pushed.sent.sha1

        target = tmp_path / "back" / "copy.zip"
        target.parent.mkdir()
        got = c.download_package("Spaces-1", stored["Id"], target, expected_sha1=stored["Hash"])
    assert target.read_bytes() == data
    assert got.received == pushed.sent
    assert os.listdir(target.parent) == ["copy.zip"]


def test_async_push_and_download_of_a_file_object(sim_instance: Any, tmp_path: Path) -> None:
    _, data = make_package(tmp_path, "unused", 2 * 1024 * 1024 + 5, seed=2)

    async def main() -> tuple[Any, Any, bytes]:
        async with AsyncOctopusClient(
            sim_instance.url, sim_instance.api_key, policy=LOOPBACK, retry=FAST_RETRY
        ) as c:
            pushed = await c.upload_package(
                "Spaces-1", io.BytesIO(data), file_name="Acme.Api.2.0.0-beta.1.tar.gz"
            )
            out = io.BytesIO()
            got = await c.download_package("Spaces-1", pushed.package["Id"], out)
            return pushed, got, out.getvalue()

    pushed, got, back = asyncio.run(main())
    assert pushed.verified and pushed.package["Version"] == "2.0.0-beta.1"
    assert back == data
    assert got.received.sha256 == hashlib.sha256(data).hexdigest()


def test_overwrite_modes_refuse_keep_or_replace_an_existing_version(
    sim_instance: Any, tmp_path: Path
) -> None:
    first, _ = make_package(tmp_path, "Acme.Db.1.0.0.zip", 1000, seed=1)
    with client(sim_instance) as c:
        original = c.upload_package("Spaces-1", first)
        second, data = make_package(tmp_path, "Acme.Db.1.0.0.zip", 2000, seed=3)
        with pytest.raises(DuplicateVersion) as refused:
            c.upload_package("Spaces-1", second)
        assert refused.value.status_code == 409

        kept = c.upload_package("Spaces-1", second, overwrite_mode="IgnoreIfExists")
        assert kept.package["Hash"] == original.sent.sha1 and not kept.verified

        replaced = c.upload_package("Spaces-1", second, overwrite_mode="OverwriteExisting")
        assert replaced.verified and replaced.package["PackageSizeBytes"] == len(data)
        versions = c.package_versions("Spaces-1", "Acme.Db")
        assert [v["Version"] for v in versions] == ["1.0.0"]

        with pytest.raises(ValueError, match="overwrite_mode"):
            c.upload_package("Spaces-1", second, overwrite_mode="Sometimes")


def test_package_listing_versions_and_delete(sim_instance: Any, tmp_path: Path) -> None:
    with client(sim_instance) as c:
        for version in ("1.0.0", "1.10.0", "1.2.0"):
            path, _ = make_package(tmp_path, f"Acme.Svc.{version}.zip", 100)
            c.upload_package("Spaces-1", path)
        versions = [v["Version"] for v in c.package_versions("Spaces-1", "Acme.Svc")]
        assert versions == ["1.10.0", "1.2.0", "1.0.0"]
        latest = c.packages("Spaces-1", filter="Acme.Svc", latest=True)
        assert [(p["PackageId"], p["Version"]) for p in latest] == [("Acme.Svc", "1.10.0")]
        c.delete_package("Spaces-1", "packages-Acme.Svc.1.2.0")
        with pytest.raises(NotFound):
            c.package("Spaces-1", "packages-Acme.Svc.1.2.0")
        with pytest.raises(NotFound):
            c.download_package("Spaces-1", "packages-Acme.Svc.1.2.0", tmp_path / "gone.zip")
    assert not (tmp_path / "gone.zip").exists()


def test_push_and_download_never_hold_the_package_in_memory(
    sim_instance: Any, tmp_path: Path
) -> None:
    size = 48 * 1024 * 1024
    path, _ = make_package(tmp_path, "Acme.Big.1.0.0.zip", size)
    with client(sim_instance) as c:
        c.root()  # connections and imports warmed up before measuring
        tracemalloc.start()
        try:
            pushed = c.upload_package("Spaces-1", path)
            _, upload_peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            got = c.download_package("Spaces-1", pushed.package["Id"], tmp_path / "copy.zip")
            _, download_peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert got.received == pushed.sent
    assert upload_peak < size / 8, upload_peak
    assert download_peak < size / 8, download_peak


def test_download_that_breaks_midway_is_retried_from_the_start(
    plain_server: PlainServer, tmp_path: Path
) -> None:
    data = os.urandom(200_000)
    attempts = []

    def route() -> tuple[int, dict[str, str], bytes]:
        attempts.append(1)
        if len(attempts) == 1:  # promise the whole body, send half, hang up
            headers = {"Content-Length": str(len(data)), "Connection": "close"}
            return 200, headers, data[: len(data) // 2]
        return 200, {"Content-Type": "application/octet-stream"}, data

    plain_server.routes["/api/Spaces-1/packages/packages-A.1.0.0/raw"] = route
    target = tmp_path / "a.zip"
    with OctopusClient(plain_server.url, "API-X" * 5, policy=LOOPBACK, retry=FAST_RETRY) as c:
        got = c.download_package("Spaces-1", "packages-A.1.0.0", target)
    assert len(attempts) == 2
    assert target.read_bytes() == data
    assert got.received.sha1 == hashlib.sha1(data).hexdigest()
    assert os.listdir(tmp_path) == ["a.zip"]


def test_a_push_retried_after_429_sends_the_whole_file_again(
    plain_server: PlainServer, tmp_path: Path
) -> None:
    path, data = make_package(tmp_path, "Acme.Retry.1.0.0.zip", 300_000, seed=7)
    answers = [
        json_reply(429, {"ErrorMessage": "slow down"}, **{"Retry-After": "0"}),
        json_reply(
            201, {"Id": "packages-Acme.Retry.1.0.0", "Hash": hashlib.sha1(data).hexdigest()}
        ),
    ]
    plain_server.routes["/api/Spaces-1/packages/raw"] = lambda: answers.pop(0)
    with OctopusClient(plain_server.url, "API-X" * 5, policy=LOOPBACK, retry=FAST_RETRY) as c:
        pushed = c.upload_package("Spaces-1", path)
    assert pushed.verified and pushed.sent.size == len(data)
    first, second = plain_server.bodies
    assert first == second and data in first
    assert plain_server.seen[0][1] == "/api/Spaces-1/packages/raw?overwriteMode=FailIfExists"
    assert plain_server.seen[0][2]["Content-Length"] == str(len(first))


def test_a_push_whose_stored_hash_differs_is_an_error(
    plain_server: PlainServer, tmp_path: Path
) -> None:
    path, _ = make_package(tmp_path, "Acme.Bad.1.0.0.zip", 1000)
    plain_server.routes["/api/Spaces-1/packages/raw"] = lambda: json_reply(
        201, {"Id": "packages-Acme.Bad.1.0.0", "Hash": "0" * 40}
    )
    with (
        OctopusClient(plain_server.url, "API-X" * 5, policy=LOOPBACK, retry=FAST_RETRY) as c,
        pytest.raises(UnexpectedResponse, match="damaged on the way"),
    ):
        c.upload_package("Spaces-1", path)


def test_a_download_with_the_wrong_hash_is_discarded(
    plain_server: PlainServer, tmp_path: Path
) -> None:
    plain_server.routes["/api/Spaces-1/packages/packages-A.1.0.0/raw"] = lambda: (
        200,
        {"Content-Type": "application/octet-stream"},
        b"tampered bytes",
    )
    target = tmp_path / "a.zip"
    with (
        OctopusClient(plain_server.url, "API-X" * 5, policy=LOOPBACK, retry=FAST_RETRY) as c,
        pytest.raises(UnexpectedResponse, match="discarded"),
    ):
        c.download_package("Spaces-1", "packages-A.1.0.0", target, expected_sha1="ab" * 20)
    assert list(tmp_path.iterdir()) == []


def test_the_async_client_retries_a_broken_download_from_the_start(
    plain_server: PlainServer, tmp_path: Path
) -> None:
    data = os.urandom(3 * 1024 * 1024 + 11)  # several of the async client's MiB writes
    attempts = []

    def route() -> tuple[int, dict[str, str], bytes]:
        attempts.append(1)
        if len(attempts) == 1:
            headers = {"Content-Length": str(len(data)), "Connection": "close"}
            return 200, headers, data[: 2 * 1024 * 1024 + 5]
        return 200, {"Content-Type": "application/octet-stream"}, data

    plain_server.routes["/api/Spaces-1/packages/packages-A.1.0.0/raw"] = route
    target = tmp_path / "a.zip"

    async def main() -> Any:
        async with AsyncOctopusClient(
            plain_server.url, "API-X" * 5, policy=LOOPBACK, retry=FAST_RETRY
        ) as c:
            return await c.download_package("Spaces-1", "packages-A.1.0.0", target)

    got = asyncio.run(main())
    assert len(attempts) == 2
    assert target.read_bytes() == data
    assert got.received.sha256 == hashlib.sha256(data).hexdigest()
    assert os.listdir(tmp_path) == ["a.zip"]


def test_a_relayed_package_arrives_in_pieces_and_whole(sim_instance: Any, tmp_path: Path) -> None:
    path, data = make_package(tmp_path, "Acme.Relay.1.0.0.zip", 5 * 1024 * 1024 + 3, seed=5)
    with client(sim_instance) as c:
        pushed = c.upload_package("Spaces-1", path)
        pieces = list(
            c.iter_package("Spaces-1", pushed.package["Id"], expected_sha1=pushed.sent.sha1)
        )
    assert b"".join(pieces) == data
    assert len(pieces) > 1  # streamed, never gathered whole
    assert max(len(p) for p in pieces) < len(data) / 4


def test_a_relayed_package_with_the_wrong_hash_breaks_off_before_its_last_bytes(
    plain_server: PlainServer,
) -> None:
    data = os.urandom(300_000)
    plain_server.routes["/api/Spaces-1/packages/packages-A.1.0.0/raw"] = lambda: (
        200,
        {"Content-Type": "application/octet-stream"},
        data,
    )
    relayed = bytearray()
    with OctopusClient(plain_server.url, "API-X" * 5, policy=LOOPBACK, retry=FAST_RETRY) as c:
        with pytest.raises(UnexpectedResponse, match="were not passed on"):
            for piece in c.iter_package("Spaces-1", "packages-A.1.0.0", expected_sha1="ab" * 20):
                relayed += piece
        assert len(relayed) < len(data)
        # The right hash: every byte, the same ones.
        good = hashlib.sha1(data).hexdigest()
        assert b"".join(c.iter_package("Spaces-1", "packages-A.1.0.0", expected_sha1=good)) == data


def test_a_relayed_package_that_is_missing_is_not_found(sim_instance: Any) -> None:
    with client(sim_instance) as c, pytest.raises(NotFound):
        next(c.iter_package("Spaces-1", "packages-Nope.9.9.9"))


def _pieces(data: bytes, size: int = 64 * 1024) -> Any:
    return (data[i : i + size] for i in range(0, len(data), size))


def test_a_streamed_package_is_uploaded_as_it_arrives_hashed_once(
    sim_instance: Any, tmp_path: Path
) -> None:
    _, data = make_package(tmp_path, "x", 2 * 1024 * 1024 + 5, seed=7)
    body = StreamedUpload(
        _pieces(data),
        file_name="Acme.Relay.1.0.0.zip",
        size=len(data),
        expected_sha256=hashlib.sha256(data).hexdigest(),
    )
    assert body.headers()["Content-Length"] == str(body.content_length)
    with client(sim_instance) as c:
        pushed = c.upload_package("Spaces-1", body)
        assert pushed.verified and pushed.sent.sha1 == hashlib.sha1(data).hexdigest()
        assert c.package("Spaces-1", "packages-Acme.Relay.1.0.0")["PackageSizeBytes"] == len(data)
    with pytest.raises(PackageChanged, match="cannot be sent again"):
        next(iter(body.chunks()))


@pytest.mark.parametrize("change", ["bytes", "longer", "shorter"])
def test_streamed_bytes_that_differ_never_finish_uploading(
    sim_instance: Any, tmp_path: Path, change: str
) -> None:
    _, data = make_package(tmp_path, "x", 1024 * 1024, seed=8)
    sent = {"bytes": data[:-1] + b"!", "longer": data + b"!", "shorter": data[:-1]}[change]
    body = StreamedUpload(
        _pieces(sent),
        file_name="Acme.Altered.1.0.0.zip",
        size=len(data),
        expected_sha256=hashlib.sha256(data).hexdigest(),
    )
    with client(sim_instance) as c:
        with pytest.raises(StreamMismatch):
            c.upload_package("Spaces-1", body)
        assert not c.packages("Spaces-1", filter="Acme.Altered")
