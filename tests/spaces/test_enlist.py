"""Enlisting instances against octosim: the happy path, paging, and every error case."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from audit.models import AuditEntry
from identity.models import User
from octosim.testing import SimInstance
from odcm.crypto import unseal
from spaces import services
from spaces.models import Instance, Space
from spaces.services import RegistryError
from tests.fixtures.processes import free_port

pytestmark = pytest.mark.django_db


def _nothing_saved() -> None:
    assert not Instance.objects.exists()
    assert not Space.objects.exists()
    assert not AuditEntry.objects.filter(action="instance.enlist").exists()


def _fails(code: str, admin: User, url: str, key: str, name: str = "x") -> RegistryError:
    with pytest.raises(RegistryError) as caught:
        services.enlist_instance(name=name, base_url=url, api_key=key, actor=admin)
    assert caught.value.code == code, caught.value.message
    return caught.value


def test_enlist_reads_version_installation_id_and_every_space(
    sim_instance: SimInstance, admin_user: User
) -> None:
    inst = services.enlist_instance(
        name="Brisbane", base_url=sim_instance.url + "/", api_key=sim_instance.api_key,
        region="APAC", tags=["prod", "apac"], actor=admin_user,
    )  # fmt: skip
    assert inst.base_url == sim_instance.url
    assert inst.version == sim_instance.version
    assert inst.installation_id == sim_instance.installation_id
    assert unseal(inst, "api_key") == sim_instance.api_key
    truth = sim_instance.truth()["spaces"]
    assert {s.octopus_id: s.name for s in inst.spaces.all()} == {
        k: v["name"] for k, v in truth.items()
    }
    assert inst.spaces.get(octopus_id="Spaces-1").is_default
    assert set(inst.spaces.values_list("state", flat=True)) == {Space.State.ENLISTED}
    assert sorted(inst.tags.values_list("name", flat=True)) == ["apac", "prod"]
    assert AuditEntry.objects.filter(action="instance.enlist", object_id=str(inst.pk)).exists()


def test_enlist_only_the_spaces_the_admin_picked(
    sim_instance: SimInstance, admin_user: User
) -> None:
    inst = services.enlist_instance(
        name="Picked", base_url=sim_instance.url, api_key=sim_instance.api_key,
        space_ids=["Spaces-2"], actor=admin_user,
    )  # fmt: skip
    states = dict(inst.spaces.values_list("octopus_id", "state"))
    assert states.pop("Spaces-2") == Space.State.ENLISTED
    assert set(states.values()) == {Space.State.NOT_ENLISTED}


def test_enlisting_200_spaces_follows_every_page(
    make_sim_instance: Callable[..., SimInstance], admin_user: User
) -> None:
    sim = make_sim_instance(spaces=200)
    inst = services.enlist_instance(name="Big", base_url=sim.url, api_key=sim.api_key,
                                    actor=admin_user)  # fmt: skip
    assert inst.spaces.count() == 200
    assert inst.spaces.filter(octopus_id="Spaces-200").exists()
    assert len(set(inst.spaces.values_list("slug", flat=True))) == 200
    assert sim.stats()["by_path"].get("GET /api/spaces", 0) >= 1


def test_unreachable_server_is_named_and_nothing_is_saved(admin_user: User) -> None:
    error = _fails("unreachable", admin_user, f"http://127.0.0.1:{free_port()}/octo", "API-X")
    assert "could not be reached" in error.message
    _nothing_saved()


def test_server_that_refuses_connections_is_unreachable(
    make_sim_instance: Callable[..., SimInstance], admin_user: User
) -> None:
    sim = make_sim_instance(dedicated_port=True)
    sim.set_faults(offline="refuse")
    _fails("unreachable", admin_user, sim.url, sim.api_key)
    _nothing_saved()


def test_hanging_server_times_out(
    sim_instance: SimInstance, admin_user: User, settings: Any
) -> None:
    settings.ODCM_OCTOPUS_READ_TIMEOUT = 1
    sim_instance.set_faults(offline="hang")
    error = _fails("timeout", admin_user, sim_instance.url, sim_instance.api_key)
    assert "did not answer in time" in error.message
    _nothing_saved()


def test_tls_failure_is_reported_as_such(sim_instance: SimInstance, admin_user: User) -> None:
    # octosim speaks plain HTTP: a TLS handshake with it fails.
    url = sim_instance.url.replace("http://", "https://")
    error = _fails("tls_error", admin_user, url, sim_instance.api_key)
    assert "TLS" in error.message
    _nothing_saved()


class _HTMLHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = b"<html><body>Welcome to nginx!</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def web_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HTMLHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_web_server_that_is_not_octopus_is_refused(web_server: str, admin_user: User) -> None:
    error = _fails("not_octopus", admin_user, web_server, "API-WHATEVER")
    assert "not an Octopus Deploy server" in error.message
    _nothing_saved()


def test_wrong_api_key_is_refused(sim_instance: SimInstance, admin_user: User) -> None:
    error = _fails("wrong_api_key", admin_user, sim_instance.url, "API-WRONGWRONGWRONGWRONG00")
    assert "refused the API key" in error.message
    _nothing_saved()


def test_key_without_enough_permission_is_refused(
    sim_instance: SimInstance, admin_user: User
) -> None:
    error = _fails("insufficient_permission", admin_user, sim_instance.url,
                   sim_instance.read_only_api_key)  # fmt: skip
    assert "SpaceCreate" in error.message
    _nothing_saved()


def test_url_policy_applies(sim_instance: SimInstance, admin_user: User,
                            settings: Any) -> None:  # fmt: skip
    settings.ODCM_ALLOWED_PRIVATE_NETWORKS = []
    _fails("url_not_allowed", admin_user, sim_instance.url, sim_instance.api_key)
    _nothing_saved()


def test_same_instance_twice_by_url_or_installation_id_is_refused(
    sim_instance: SimInstance, admin_user: User, enlist: Callable[..., Instance]
) -> None:
    first = enlist(sim_instance, name="First")
    error = _fails("already_enlisted", admin_user, sim_instance.url + "/", sim_instance.api_key)
    assert "First" in error.message and "same URL" in error.message
    other_spelling = sim_instance.url.replace("127.0.0.1", "localhost")
    error = _fails("already_enlisted", admin_user, other_spelling, sim_instance.api_key)
    assert "same InstallationId" in error.message
    assert Instance.objects.get() == first
    assert Space.objects.filter(instance=first).count() == 3


def test_octosim_driven_over_http_rejects_the_key_too(sim_instance: SimInstance) -> None:
    # Guard for the test above: the wrong key really is refused by the server itself.
    answer = httpx.get(sim_instance.url + "/api/spaces",
                       headers={"X-Octopus-ApiKey": "API-WRONG"})  # fmt: skip
    assert answer.status_code == 401
