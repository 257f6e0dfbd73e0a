"""The built-in feed over HTTP: push, hash, list, download, overwrite modes, delete."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from octosim.api_packages import parse_file_name
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
