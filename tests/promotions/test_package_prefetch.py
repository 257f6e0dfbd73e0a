"""The target's worker pulls a bundle's packages from the source ODCM (this process's live
server, which relays them from octosim A's feed) one package ahead: while the import uploads
one package, the next one the target's feed lacks is already on its way; one the feed holds is
never fetched; a relay whose bytes do not match the feed's SHA-1 breaks off short."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from octopus import OctopusClient
from octosim.testing import SimInstance
from promotions import formats
from promotions.models import Promotion, RemoteSpace
from promotions.services import inbox
from promotions.services import packages as exchange_packages
from tests.octopus.conftest import LOOPBACK
from tests.sharing.conftest import enlist_sim, space_of, wait_for

from .conftest import Pair, claims, exchange, signed

pytestmark = pytest.mark.django_db(transaction=True)
SPACE = "Spaces-1"


def push(sim: SimInstance, folder: Path, name: str, data: bytes) -> dict[str, Any]:
    path = folder / f"{name}.1.0.0.zip"
    path.write_bytes(data)
    with OctopusClient(sim.url, sim.api_key, policy=LOOPBACK) as c:
        c.upload_package(SPACE, path)
    return {
        "id": name,
        "version": "1.0.0",
        "feed": "feeds-builtin",
        "sha1": hashlib.sha1(data, usedforsecurity=False).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "file_extension": ".zip",
    }


def promote(pair: Pair, manifest: list[dict[str, Any]], url: str) -> Any:
    """A promotion of ``manifest`` from pair.source, received in pair.target's inbox with the
    source ODCM at ``url``."""
    token = signed(pair.source_id, claims(pair, packages=manifest))
    Promotion.objects.create(
        id=uuid.UUID(str(formats.stored(token)[1]["jti"])),
        space=pair.source,
        target=pair.target_peer,
        project_id="Projects-1",
        project_name="Web",
        release_id="Releases-1",
        release_version="1.0.0",
        token=token,
        state=Promotion.State.DELIVERED,
    )
    RemoteSpace.objects.filter(pk=pair.source_peer.pk).update(url=url)
    bundle, _ = inbox.receive(token)
    return bundle


def downloads(sim: SimInstance, name: str) -> int:
    paths = sim.stats()["by_path"]
    return sum(n for k, n in paths.items() if k.endswith(f"/packages/packages-{name}.1.0.0/raw"))


@pytest.fixture
def world(make_sim_instance: Callable[..., SimInstance]) -> tuple[SimInstance, SimInstance, Pair]:
    sim_a, sim_b = make_sim_instance("pf-src", seed=51), make_sim_instance("pf-dst", seed=52)
    pair = exchange(space_of(enlist_sim(sim_a)), space_of(enlist_sim(sim_b)))
    return sim_a, sim_b, pair


def test_the_next_missing_package_is_fetched_while_one_is_handed_over(
    world: tuple[SimInstance, SimInstance, Pair], tmp_path: Path, live_server: Any
) -> None:
    sim_a, sim_b, pair = world
    data = {n: bytes([n]) * (300_000 + n) for n in range(4)}
    manifest = [push(sim_a, tmp_path, f"Pf.Pkg{n}", data[n]) for n in range(4)]
    # The target's feed already holds Pkg2: the import skips it, so nothing fetches it.
    push(sim_b, tmp_path, "Pf.Pkg2", data[2])
    bundle = promote(pair, manifest, live_server.url)

    source = exchange_packages.PeerSource(bundle)
    try:
        first = tmp_path / "got0.zip"
        assert source(manifest[0], first) == manifest[0]["sha256"]
        assert first.read_bytes() == data[0]
        # Nobody asked for Pkg1 yet: it is on its way all the same.
        wait_for(lambda: downloads(sim_a, "Pf.Pkg1") == 1, timeout=60)
        second = tmp_path / "got1.zip"
        assert source(manifest[1], second) == manifest[1]["sha256"]
        assert second.read_bytes() == data[1]
        assert downloads(sim_a, "Pf.Pkg1") == 1  # handed over, not fetched twice
        # After Pkg1 comes Pkg3 (Pkg2 is in the feed).
        wait_for(lambda: downloads(sim_a, "Pf.Pkg3") == 1, timeout=60)
        last = tmp_path / "got3.zip"
        assert source(manifest[3], last) == manifest[3]["sha256"]
        assert last.read_bytes() == data[3]
    finally:
        source.close()
    assert downloads(sim_a, "Pf.Pkg2") == 0


def test_closing_mid_import_removes_what_was_fetched_ahead(
    world: tuple[SimInstance, SimInstance, Pair], tmp_path: Path, live_server: Any
) -> None:
    sim_a, _, pair = world
    manifest = [push(sim_a, tmp_path, f"Pf.Cut{n}", bytes([n]) * 200_000) for n in range(2)]
    source = exchange_packages.PeerSource(promote(pair, manifest, live_server.url), ahead=True)
    source(manifest[0], tmp_path / "got0.zip")
    wait_for(lambda: downloads(sim_a, "Pf.Cut1") == 1, timeout=60)
    folder = source._folder
    assert folder is not None
    source.close()  # the import failed on the first package: the one ahead is dropped
    assert not folder.exists()


def test_a_relay_whose_bytes_differ_from_the_feeds_hash_breaks_off_short(
    world: tuple[SimInstance, SimInstance, Pair], tmp_path: Path, live_server: Any
) -> None:
    sim_a, _, pair = world
    pkg = push(sim_a, tmp_path, "Pf.Bad", b"x" * 400_000)
    wrong = {**pkg, "sha1": "0" * 40}  # the manifest says other bytes than the feed holds
    bundle = promote(pair, [wrong], live_server.url)
    url = live_server.url + exchange_packages.PACKAGE_PATH.format(
        bundle=bundle.pk, name="Pf.Bad.1.0.0"
    )
    token = exchange_packages.request_token(bundle, wrong)
    got = bytearray()
    with (
        pytest.raises(httpx.HTTPError),
        # Behind gunicorn the break closes the connection; Django's test server keeps it open
        # (the answer declared its length), so the client's read timeout ends the wait.
        httpx.stream(
            "GET", url, headers={"Authorization": f"Bearer {token}"}, timeout=5
        ) as response,
    ):
        assert response.status_code == 200
        for chunk in response.iter_raw():
            got += chunk
    assert 0 < len(got) < pkg["size"]
