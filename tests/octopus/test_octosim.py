"""The client against octosim over real HTTP: paging, errors, faults and retries."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from octopus import (
    AsyncOctopusClient,
    AuthenticationFailed,
    NotFound,
    OctopusClient,
    PermissionDenied,
    RateLimited,
    RetryPolicy,
    ServerError,
    ServerTimeout,
    ServerUnavailable,
    Timeouts,
    ValidationFailed,
    VersionConflict,
    make_async_http_client,
)

from .conftest import FAST_RETRY, LOOPBACK

QUICK = Timeouts(connect=2.0, read=0.5, pool=5.0)


def client(sim: Any, *, key: str | None = None, **kwargs: Any) -> OctopusClient:
    kwargs.setdefault("retry", FAST_RETRY)
    kwargs.setdefault("timeouts", QUICK)
    return OctopusClient(sim.url, key or sim.api_key, policy=LOOPBACK, **kwargs)


def run_async(sim: Any, action: Any, **kwargs: Any) -> Any:
    kwargs.setdefault("retry", FAST_RETRY)
    kwargs.setdefault("timeouts", QUICK)

    async def main() -> Any:
        async with AsyncOctopusClient(sim.url, sim.api_key, policy=LOOPBACK, **kwargs) as c:
            return await action(c)

    return asyncio.run(main())


def requests(sim: Any, method: str, path: str) -> int:
    """How many times octosim saw ``method path`` (path below the instance's /api)."""
    return int(sim.stats()["by_path"].get(f"{method} /api{path}", 0))


def default_space(c: OctopusClient) -> str:
    return next(s["Id"] for s in c.spaces() if s.get("IsDefault"))


# -- root, version, health -------------------------------------------------------------


def test_root_reports_version_and_installation_id(sim_instance: Any) -> None:
    with client(sim_instance) as c:
        root = c.root()
    assert root.application == "Octopus Deploy"
    assert root.version == sim_instance.version
    assert root.installation_id == uuid.UUID(str(sim_instance.installation_id))
    assert run_async(sim_instance, lambda a: a.root()).version == sim_instance.version


def test_version_fault_is_parsed_as_prerelease(sim_instance: Any) -> None:
    sim_instance.set_faults(version="2020.5.0-rc0001")
    with client(sim_instance) as c:
        version = c.root().version
    assert version.is_prerelease and version < "2020.5.0" and version > "3.17.4"


def test_base_url_with_trailing_slash_or_api_suffix_works(sim_instance: Any) -> None:
    for url in (sim_instance.url + "/", sim_instance.url + "/api"):
        with OctopusClient(url, sim_instance.api_key, policy=LOOPBACK) as c:
            assert c.base_url == sim_instance.url
            assert c.root().version == sim_instance.version


def test_health_and_ping_report_unhealthy_and_draining(sim_instance: Any) -> None:
    with client(sim_instance) as c:
        assert c.health().ok and c.ping().ok
        sim_instance.set_faults(unhealthy=True)
        health = c.health()
        assert health.status == "unhealthy" and not health.ok
        sim_instance.clear_faults()
        sim_instance.set_faults(draining=True)
        assert c.ping().status == "draining"
    assert run_async(sim_instance, lambda a: a.ping()).status == "draining"


# -- paging and counting ---------------------------------------------------------------


def test_paging_follows_next_links_over_250_items(sim_instance: Any) -> None:
    with client(sim_instance) as c:
        space = default_space(c)
        path = f"/api/{space}/environments"
        before = c.count(path)
        for i in range(250):
            c.post(path, {"Name": f"Paging env {i:03d}"})
        sim_instance.reset_stats()
        items = list(c.paginate(path, page_size=30))
        pages = requests(sim_instance, "GET", f"/{space}/environments")
        sim_instance.reset_stats()
        assert c.count(path) == before + 250
        assert requests(sim_instance, "GET", f"/{space}/environments") == 1  # take=0 accepted
        assert c.count(path, partialName="Paging env") == 250
        assert len(c.get_all(path)) == before + 250
    names = [e["Name"] for e in items]
    assert len(items) == before + 250 and len(set(e["Id"] for e in items)) == len(items)
    assert sum(n.startswith("Paging env") for n in names) == 250
    assert pages == -(-len(items) // 30)

    async def collect(a: AsyncOctopusClient) -> list[Any]:
        return [item async for item in a.paginate(path, page_size=100)]

    assert [e["Id"] for e in run_async(sim_instance, collect)] == [e["Id"] for e in items]


def test_spaces_returns_every_space(make_sim_instance: Any) -> None:
    sim = make_sim_instance(spaces=5)
    with client(sim) as c:
        spaces = c.spaces()
    assert len(spaces) == 5 and sum(bool(s["IsDefault"]) for s in spaces) == 1
    assert len(run_async(sim, lambda a: a.spaces())) == 5


# -- HTTP errors -----------------------------------------------------------------------


def test_wrong_key_is_an_authentication_error_and_not_retried(sim_instance: Any) -> None:
    with (
        client(sim_instance, key="API-WRONGWRONGWRONGWRONGWRONG1") as c,
        pytest.raises(AuthenticationFailed, match="rejected the API key"),
    ):
        c.spaces()
    assert requests(sim_instance, "GET", "/spaces") == 1


def test_read_only_key_gets_permission_denied_naming_the_permission(sim_instance: Any) -> None:
    with client(sim_instance, key=sim_instance.read_only_api_key) as c:
        space = default_space(c)
        with pytest.raises(PermissionDenied) as caught:
            c.post(f"/api/{space}/environments", {"Name": "Nope"})
    assert caught.value.missing_permission == "EnvironmentCreate"
    assert "EnvironmentCreate" in str(caught.value)


def test_unknown_resource_is_not_found(sim_instance: Any) -> None:
    with client(sim_instance) as c:
        space = default_space(c)
        with pytest.raises(NotFound):
            c.get(f"/api/{space}/environments/Environments-99999")
    assert requests(sim_instance, "GET", f"/{space}/environments/Environments-99999") == 1


def test_invalid_body_is_a_validation_error_with_octopus_errors(sim_instance: Any) -> None:
    with client(sim_instance) as c:
        space = default_space(c)
        with pytest.raises(ValidationFailed) as caught:
            c.post(f"/api/{space}/environments", {"Description": "no name"})
    assert caught.value.status_code == 400 and not isinstance(caught.value, VersionConflict)
    assert caught.value.error_message


# -- variable sets: Version concurrency and sensitive values ---------------------------


def _library_set(c: OctopusClient, space: str) -> str:
    lvs = c.post(
        f"/api/{space}/libraryvariablesets",
        {"Name": f"Client test {uuid.uuid4().hex[:6]}", "ContentType": "Variables"},
    )
    return str(lvs["VariableSetId"])


def test_stale_variable_set_version_is_a_version_conflict(sim_instance: Any) -> None:
    with client(sim_instance) as c:
        space = default_space(c)
        path = f"/api/{space}/variables/{_library_set(c, space)}"
        stale = c.get(path)
        fresh = dict(stale, Variables=[{"Name": "A", "Value": "1", "Type": "String"}])
        saved = c.put(path, fresh)
        assert saved["Version"] > stale["Version"]
        with pytest.raises(VersionConflict, match="changed since it was read") as caught:
            c.put(path, dict(stale, Variables=[{"Name": "B", "Value": "2"}]))
    assert caught.value.status_code == 400
    assert requests(sim_instance, "PUT", f"/{space}/variables/{path.rsplit('/', 1)[1]}") == 2


def test_sensitive_values_are_never_read_back_and_kept_by_id(sim_instance: Any) -> None:
    with client(sim_instance) as c:
        space = default_space(c)
        path = f"/api/{space}/variables/{_library_set(c, space)}"
        doc = c.get(path)
        secret = {
            "Name": "Db.Password",
            "Value": "s3cret!",
            "Type": "Sensitive",
            "IsSensitive": True,
        }
        saved = c.put(path, dict(doc, Variables=[secret]))
        (var,) = saved["Variables"]
        assert var["Value"] is None and var["IsSensitive"] and var["Id"]
        # Round-tripping the masked variable (same Id, Value null) is accepted and keeps
        # it sensitive; the plain value is never returned by any read.
        kept = c.put(path, dict(saved, Variables=[dict(var, Value=None)]))
        assert kept["Variables"][0]["Id"] == var["Id"]
        assert kept["Variables"][0]["IsSensitive"] and kept["Variables"][0]["Value"] is None
        assert "s3cret!" not in str(c.get(path)) and "s3cret!" not in str(kept)


# -- faults: timeouts, refusals, server errors, rate limits ----------------------------


def test_hanging_server_times_out_and_reads_are_retried(sim_instance: Any) -> None:
    sim_instance.set_faults(offline="hang")
    with client(sim_instance) as c, pytest.raises(ServerTimeout, match="did not answer"):
        c.get("/api/spaces")
    assert requests(sim_instance, "GET", "/spaces") == 1 + FAST_RETRY.max_retries


def test_post_is_never_retried_after_a_read_timeout(sim_instance: Any) -> None:
    sim_instance.set_faults(offline="hang")
    with client(sim_instance) as c, pytest.raises(ServerTimeout):
        c.post("/api/spaces", {"Name": "Maybe created twice"})
    with pytest.raises(ServerTimeout):
        run_async(sim_instance, lambda a: a.post("/api/spaces", {"Name": "Maybe twice"}))
    assert requests(sim_instance, "POST", "/spaces") == 2  # once per client


def test_refused_connection_is_unavailable(make_sim_instance: Any) -> None:
    sim = make_sim_instance(dedicated_port=True)
    sim.set_faults(offline="refuse")
    with client(sim) as c, pytest.raises(ServerUnavailable) as caught:
        c.root()
    assert not isinstance(caught.value, ServerTimeout)
    assert sim.url in str(caught.value)
    with pytest.raises(ServerUnavailable):
        run_async(sim, lambda a: a.root())


def test_server_errors_map_to_server_error_without_retry(sim_instance: Any) -> None:
    sim_instance.set_faults(error_rate=1.0)
    with client(sim_instance) as c, pytest.raises(ServerError) as caught:
        c.get("/api/spaces")
    assert caught.value.status_code == 500
    assert "unexpected error" in str(caught.value)
    assert requests(sim_instance, "GET", "/spaces") == 1


def test_rate_limit_waits_for_retry_after_then_succeeds(sim_instance: Any) -> None:
    sim_instance.set_faults(rate_limit_retry_after=1, rate_limit_count=1)
    start = time.monotonic()
    with client(sim_instance) as c:
        assert c.spaces()
    assert time.monotonic() - start >= 1.0
    assert requests(sim_instance, "GET", "/spaces") == 2


def test_rate_limit_longer_than_allowed_is_raised_at_once(sim_instance: Any) -> None:
    sim_instance.set_faults(rate_limit_retry_after=120)
    start = time.monotonic()
    with pytest.raises(RateLimited) as caught:
        run_async(sim_instance, lambda a: a.get("/api/spaces"))
    assert caught.value.retry_after == 120 and time.monotonic() - start < 5
    assert requests(sim_instance, "GET", "/spaces") == 1


def test_body_stalling_longer_than_the_read_timeout_times_out(sim_instance: Any) -> None:
    # slow_body_ms=2000: ten chunks 0.2 s apart; QUICK has a 0.5 s read timeout (the margin
    # is wide because a loaded two-core machine delays reads by a few tenths of a second).
    sim_instance.set_faults(slow_body_ms=2000)
    with client(sim_instance) as c:
        assert c.spaces()  # 0.2 s gaps are within the per-read timeout
    sim_instance.set_faults(slow_body_ms=8000)  # 0.8 s gaps are not
    with pytest.raises(ServerTimeout, match="did not answer"):
        run_async(sim_instance, lambda a: a.get("/api/spaces"))
    assert requests(sim_instance, "GET", "/spaces") == 1 + 1 + FAST_RETRY.max_retries


def test_total_deadline_stops_a_trickling_body(sim_instance: Any) -> None:
    sim_instance.set_faults(slow_body_ms=3000)  # 0.3 s gaps, 3 s in all
    trickle = Timeouts(connect=2.0, read=1.0, total=1.0)
    none = RetryPolicy(max_retries=0)
    with (
        client(sim_instance, timeouts=trickle, retry=none) as c,
        pytest.raises(ServerTimeout, match="took more than 1 s"),
    ):
        c.get("/api/spaces")
    start = time.monotonic()
    with pytest.raises(ServerTimeout, match="took more than 1 s"):
        run_async(sim_instance, lambda a: a.get("/api/spaces"), timeouts=trickle, retry=none)
    assert time.monotonic() - start < 2.0


def test_latency_within_the_read_timeout_is_fine(sim_instance: Any) -> None:
    sim_instance.set_faults(latency_ms=200, jitter_ms=50)
    with client(sim_instance, retry=RetryPolicy(max_retries=0)) as c:
        assert c.root().version == sim_instance.version


def test_shared_async_pool_sweeps_many_instances(make_sim_instance: Any) -> None:
    sims = [make_sim_instance(spaces=1) for _ in range(20)]

    async def sweep() -> list[str]:
        http = make_async_http_client(LOOPBACK, max_connections=10)
        try:
            clients = [
                AsyncOctopusClient(s.url, s.api_key, policy=LOOPBACK, http=http) for s in sims
            ]
            roots = await asyncio.gather(*(c.root() for c in clients))
            return [str(r.installation_id) for r in roots]
        finally:
            await http.aclose()

    assert asyncio.run(sweep()) == [str(uuid.UUID(str(s.installation_id))) for s in sims]
