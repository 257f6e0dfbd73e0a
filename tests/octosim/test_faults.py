"""Each injected fault, driven through the control API, and the request statistics.

Durations are only checked as lower bounds (an injected delay happened); nothing here
asserts how fast octosim is."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable

import httpx
import pytest

from octosim.testing import SimInstance, SimServer
from tests.octosim.conftest import Api


def test_latency_and_jitter_delay_every_answer(api: Api, sim_instance: SimInstance) -> None:
    sim_instance.set_faults(latency_ms=250, jitter_ms=50)
    started = time.monotonic()
    api.get("/api")
    assert time.monotonic() - started >= 0.25
    sim_instance.clear_faults()
    api.get("/api")


def test_offline_refuse_on_the_shared_port_drops_the_connection(
    api: Api, sim_instance: SimInstance
) -> None:
    sim_instance.set_faults(offline="refuse")
    with pytest.raises(httpx.TransportError):
        api.request("GET", "/api")
    sim_instance.clear_faults()
    assert api.get("/api")["Application"] == "Octopus Deploy"


def test_offline_refuse_on_a_dedicated_port_refuses_connections(
    make_sim_instance: Callable[..., SimInstance],
) -> None:
    inst = make_sim_instance(dedicated_port=True)
    api = Api(inst)
    assert api.get("/api")["InstallationId"] == inst.installation_id
    inst.set_faults(offline="refuse")
    with pytest.raises(httpx.TransportError):
        api.request("GET", "/api")  # the pooled connection is dropped
    with pytest.raises(httpx.ConnectError):
        httpx.get(inst.url + "/api", trust_env=False)  # and new ones are refused
    inst.clear_faults()
    assert api.get("/api")["InstallationId"] == inst.installation_id


def test_offline_hang_accepts_but_never_answers(api: Api, sim_instance: SimInstance) -> None:
    sim_instance.set_faults(offline="hang")
    with pytest.raises(httpx.ReadTimeout):
        api.client.get("/api", timeout=httpx.Timeout(5.0, read=0.5))
    sim_instance.clear_faults()
    api.get("/api")


def test_stopping_octosim_ends_hung_requests_instead_of_waiting_for_them() -> None:
    sim = SimServer(instances=1).start()
    proc = sim.process
    assert proc is not None
    inst = sim.instances[0]
    inst.set_faults(offline="hang")
    failures: list[Exception] = []

    def hung_call() -> None:
        try:
            httpx.get(inst.url + "/api", timeout=120, trust_env=False)
        except httpx.HTTPError as exc:
            failures.append(exc)

    thread = threading.Thread(target=hung_call, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while inst.stats()["total"] < 1:  # the request has reached octosim and hangs there
        assert time.monotonic() < deadline
        time.sleep(0.05)
    sim.stop()
    thread.join(timeout=30)
    # exit code 0: octosim ended by itself; SimServer's fallback after 15 s is a SIGKILL (-9)
    assert proc.returncode == 0
    assert not thread.is_alive() and len(failures) == 1
    assert isinstance(failures[0], httpx.RemoteProtocolError | httpx.ReadError)


def test_unhealthy_answers_418_on_health_only(api: Api, sim_instance: SimInstance) -> None:
    sim_instance.set_faults(unhealthy=True)
    resp = api.request("GET", "/api/serverstatus/health")
    assert resp.status_code == 418 and resp.json()["IsOperatingNormally"] is False
    api.get("/api/spaces")
    sim_instance.clear_faults()
    assert api.request("GET", "/api/serverstatus/health").status_code == 200


def test_draining_answers_418_on_ping(api: Api, sim_instance: SimInstance) -> None:
    sim_instance.set_faults(draining=True)
    assert api.request("GET", "/api/octopusservernodes/ping").status_code == 418
    health = api.request("GET", "/api/serverstatus/health").json()
    assert health["IsEntireClusterDrainingTasks"] is True
    sim_instance.clear_faults()
    assert api.request("GET", "/api/octopusservernodes/ping").status_code == 200


def test_error_rate_answers_500_with_an_octopus_body(api: Api, sim_instance: SimInstance) -> None:
    sim_instance.set_faults(error_rate=1.0)
    resp = api.request("GET", "/api/spaces")
    assert resp.status_code == 500 and resp.json()["ErrorMessage"]
    sim_instance.set_faults(error_rate=0.5)
    codes = Counter(api.request("GET", "/api/spaces").status_code for _ in range(40))
    assert codes[500] > 0 and codes[200] > 0
    sim_instance.clear_faults()


def test_rate_limit_answers_429_with_retry_after(api: Api, sim_instance: SimInstance) -> None:
    sim_instance.set_faults(rate_limit_retry_after=7, rate_limit_count=2)
    for _ in range(2):
        resp = api.request("GET", "/api/spaces")
        assert resp.status_code == 429 and resp.headers["Retry-After"] == "7"
    assert api.request("GET", "/api/spaces").status_code == 200
    sim_instance.set_faults(rate_limit_retry_after=3)  # until cleared
    assert [api.request("GET", "/api").status_code for _ in range(3)] == [429] * 3
    sim_instance.clear_faults()


def test_version_change_is_an_upgrade(api: Api, sim_instance: SimInstance) -> None:
    sim_instance.set_faults(version="2025.1.999")
    assert sim_instance.version == "2025.1.999"
    resp = api.request("GET", "/api")
    assert resp.json()["Version"] == "2025.1.999"
    assert resp.headers["Octopus-Node"].endswith("version=2025.1.999")
    sim_instance.clear_faults()
    assert api.get("/api")["Version"] == "2025.1.999"  # an upgrade stays


def test_slow_body_sends_headers_then_trickles_the_body(
    api: Api, sim_instance: SimInstance
) -> None:
    fast = api.get("/api/Spaces-1/projects")
    sim_instance.set_faults(slow_body_ms=400)
    started = time.monotonic()
    with api.client.stream("GET", "/api/Spaces-1/projects") as resp:
        headers_at = time.monotonic() - started
        body = resp.read()
    total = time.monotonic() - started
    assert resp.status_code == 200 and total >= 0.35 and total - headers_at >= 0.3
    assert httpx.Response(200, content=body).json() == fast
    sim_instance.clear_faults()


def test_unknown_fault_is_rejected(sim_instance: SimInstance) -> None:
    with pytest.raises(RuntimeError, match="unknown fault"):
        sim_instance.set_faults(latency=5)
    with pytest.raises(RuntimeError, match="offline"):
        sim_instance.set_faults(offline="sometimes")


def test_stats_count_requests_by_method_and_path(api: Api, sim_instance: SimInstance) -> None:
    sim_instance.reset_stats()
    api.get("/api")
    api.get("/api/spaces")
    api.get("/api/spaces")
    api.post("/api/Spaces-1/projectgroups", {"Name": "Stats group"})
    stats = sim_instance.stats()
    assert stats["total"] == 4
    assert stats["by_method"] == {"GET": 3, "POST": 1}
    assert stats["by_path"]["GET /api/spaces"] == 2
    assert stats["by_path"]["POST /api/Spaces-1/projectgroups"] == 1
    assert stats["by_status"] == {"200": 3, "201": 1}
    sim_instance.reset_stats()
    assert sim_instance.stats()["total"] == 0


def test_control_api_lists_and_deletes_instances(
    octosim_server: SimServer, make_sim_instance: Callable[..., SimInstance]
) -> None:
    inst = make_sim_instance("Control Test")
    assert inst.slug.startswith("control-test")
    listing = httpx.get(f"{octosim_server.control_url}/instances", trust_env=False).json()
    assert inst.slug in {i["slug"] for i in listing["instances"]}
    octosim_server.delete_instance(inst.slug)
    assert httpx.get(inst.url + "/api", trust_env=False).status_code == 404


@pytest.mark.parametrize("status", [502, 503, 504])
def test_error_status_answers_gateway_errors_at_the_error_rate(
    status: int, api: Api, sim_instance: SimInstance
) -> None:
    sim_instance.set_faults(error_rate=1.0, error_status=status)
    resp = api.request("GET", "/api/spaces")
    assert resp.status_code == status
    # as a reverse proxy in front of Octopus answers: HTML, no Octopus-Node header
    assert resp.headers["Content-Type"].startswith("text/html")
    assert f"<title>{status} " in resp.text and "Octopus-Node" not in resp.headers
    assert sim_instance.stats()["by_status"] == {str(status): 1}
    sim_instance.set_faults(error_rate=0.5)
    codes = Counter(api.request("GET", "/api").status_code for _ in range(40))
    assert set(codes) == {status, 200} and codes[status] > 0
    sim_instance.set_faults(error_rate=0.0)
    assert api.get("/api/spaces")["Items"]
    sim_instance.set_faults(error_rate=1.0, error_status=500)  # back to Octopus's own 500
    resp = api.request("GET", "/api/spaces")
    assert resp.status_code == 500 and resp.json()["ErrorMessage"]
    assert "Octopus-Node" in resp.headers
    sim_instance.clear_faults()
    assert api.get("/api/spaces")["Items"]


@pytest.mark.parametrize("bad", [404, 200, 600, "503", True])
def test_error_status_outside_5xx_is_refused(bad: object, sim_instance: SimInstance) -> None:
    with pytest.raises(RuntimeError, match="500 to 599"):
        sim_instance.set_faults(error_status=bad)
