"""The import relays a package from its source straight into the target feed's upload: hashed
once on the way, the last chunk held back until the SHA-256 matches the manifest. Bytes that
do not match, or a source that breaks off, leave the upload unfinished: the feed never holds
the package, so nothing can deploy it; a package already there with the same SHA-1 is not
fetched at all."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from octopus import OctopusClient
from octosim.testing import SimInstance
from promotions.errors import PromotionError
from promotions.services import importing
from tests.octopus.conftest import LOOPBACK

SPACE = "Spaces-1"
UPLOAD = f"POST /api/{SPACE}/packages/raw"


def manifest(name: str, data: bytes) -> dict[str, Any]:
    return {
        "id": name,
        "version": "1.0.0",
        "feed": "feeds-builtin",
        "sha1": hashlib.sha1(data, usedforsecurity=False).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "file_extension": ".zip",
    }


def uploads(sim: SimInstance) -> int:
    return int(sim.stats()["by_path"].get(UPLOAD, 0))


def feed(sim: SimInstance) -> dict[str, str]:
    with OctopusClient(sim.url, sim.api_key, policy=LOOPBACK) as c:
        return {f"{p['PackageId']}.{p['Version']}": str(p["Hash"]) for p in c.packages(SPACE)}


class Broken:
    """A source that sends some bytes, then fails (the source ODCM went away)."""

    def __call__(self, pkg: dict[str, Any], path: Path) -> str:
        raise AssertionError("the import relays; it does not ask for a file")

    def stream(self, pkg: dict[str, Any]) -> Iterator[bytes]:
        yield b"a" * 300_000
        yield b"b" * 300_000
        raise PromotionError("The source went away.")


@pytest.fixture
def sim(make_sim_instance: Callable[..., SimInstance]) -> SimInstance:
    return make_sim_instance("relay", seed=61)


def test_a_matching_package_is_relayed_into_the_feed_and_skipped_the_next_time(
    sim: SimInstance, tmp_path: Path
) -> None:
    data = bytes(range(256)) * 5_000  # 1.28 MB: several chunks
    pkg = manifest("Relay.Good", data)
    (tmp_path / "Relay.Good.1.0.0.zip").write_bytes(data)
    source = importing.archive_source(tmp_path)
    with OctopusClient(sim.url, sim.api_key, policy=LOOPBACK) as c:
        assert importing.transfer_package(c, SPACE, pkg, source) == "copied"
        assert feed(sim)["Relay.Good.1.0.0"] == pkg["sha1"]
        before = uploads(sim)
        assert importing.transfer_package(c, SPACE, pkg, Broken()) == "present"
    assert uploads(sim) == before


def test_bytes_that_differ_from_the_manifest_never_finish_uploading(
    sim: SimInstance, tmp_path: Path
) -> None:
    good = b"g" * 700_000
    pkg = manifest("Relay.Bad", good)
    (tmp_path / "Relay.Bad.1.0.0.zip").write_bytes(b"g" * 699_999 + b"x")  # same size
    with (
        OctopusClient(sim.url, sim.api_key, policy=LOOPBACK) as c,
        pytest.raises(PromotionError, match="does not match the bundle's manifest") as err,
    ):
        importing.transfer_package(c, SPACE, pkg, importing.archive_source(tmp_path))
    assert "SHA-256" in str(err.value)
    assert uploads(sim) == 1  # the upload was under way ...
    assert "Relay.Bad.1.0.0" not in feed(sim)  # ... and never completed


def test_a_source_that_breaks_off_leaves_nothing_in_the_feed(sim: SimInstance) -> None:
    pkg = manifest("Relay.Cut", b"c" * 1_000_000)
    with (
        OctopusClient(sim.url, sim.api_key, policy=LOOPBACK) as c,
        pytest.raises(PromotionError, match="The source went away"),
    ):
        importing.transfer_package(c, SPACE, pkg, Broken())
    assert uploads(sim) == 1
    assert "Relay.Cut.1.0.0" not in feed(sim)
