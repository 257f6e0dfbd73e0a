"""Connected promotion between two ODCM installations: this test process and its live server
are ODCM A (DevTest), with a real Celery worker; ODCM B (Prod) has its own PostgreSQL database
and its own web server process, and its steps run in its own processes. Certificates are
exchanged over the API and each side confirms the other's fingerprint; the bundle is pushed by
A's worker to B's inbox; B's own worker imports it, pulling each package from A (which streams
it from its instance's feed) and verifying it; B deploys and pushes the signed receipt back to
A. A worker of B killed in the middle of a package transfer leaves the next one to finish it,
once."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.test import Client

from octopus import OctopusClient
from octosim.testing import SimInstance
from promotions.models import Promotion, Receipt, Route, Trust
from promotions.services import bundles, identities, peers, routes, transfer
from tests.fixtures.processes import ROOT, free_port, wait_for_port
from tests.fixtures.processes import test_env as child_env
from tests.octopus.conftest import LOOPBACK
from tests.octopus.pipeline_helpers import QUICK_POLL, SPACE
from tests.sharing.conftest import enlist_sim, space_of, wait_for

from .test_air_gapped import DB_PASSWORD, source_release

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


SERVER = "postgres://postgres@127.0.0.1:5432"


def migrate(dsn: str) -> None:
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=child_env(ODCM_TEST_DATABASE_URL=dsn),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def drop_databases(*names: str) -> None:
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        for name in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def b_database() -> Iterator[Callable[[], str]]:
    """A fresh database for ODCM B, migrated, under a new name each time: the first one of
    the session runs ``migrate`` into a template, the next ones are copies of it (``CREATE
    DATABASE ... TEMPLATE``, well under a second instead of a whole migrate each). The one
    before is dropped in a thread (a DROP DATABASE waits for a checkpoint: seconds on a busy
    server); the last one and the template at the end."""
    base = str(settings.DATABASES["default"]["TEST"]["NAME"]) + "_b"
    template = f"{base}_template"
    made: list[str] = []
    drops: list[threading.Thread] = []

    def fresh() -> str:
        name = f"{base}{len(made) or ''}"
        with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if not made:
                conn.execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{template}"')
                made.append(template)
                migrate(f"{SERVER}/{template}")
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        if len(made) > 1:
            drops.append(threading.Thread(target=drop_databases, args=(made[-1],)))
            drops[-1].start()
        made.append(name)
        return f"{SERVER}/{name}"

    yield fresh
    for thread in drops:
        thread.join()
    drop_databases(*reversed(made))


def run_b(env: dict[str, str], step: str, *args: Any) -> Any:
    """One step of ``tests.promotions.odcm_b`` in a process of B's (its JSON answer)."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.promotions.odcm_b", step, json.dumps(args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


B_QUEUE = "odcm-b"


def b_rows(dsn: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return list(conn.execute(sql).fetchall())


def b_bundle(dsn: str) -> tuple[str, str]:
    rows = b_rows(dsn, "SELECT state, last_error FROM promotions_inboundbundle")
    return (str(rows[0][0]), str(rows[0][1])) if rows else ("", "")


@dataclass
class World:
    sim_a: SimInstance
    sim_b: SimInstance
    env_b: dict[str, str]
    dsn_b: str
    url_b: str
    source: Any
    prod: Any
    pipe: Any
    route: Route
    lifecycle: str
    package: Path


@pytest.fixture
def w(
    make_sim_instance: Callable[..., SimInstance],
    tmp_path: Path,
    live_server: Any,
    start_process: Callable[..., Any],
    start_celery_worker: Callable[..., Any],
    admin_user: Any,
    b_database: Callable[[], str],
) -> World:
    """A (this process, its live server and a worker) and B (its own database, web server;
    its worker is the test's to start), with certificates exchanged over the API, both trusts
    confirmed, a release deployed to A's Development and Test, and the route to B's Prod."""
    sim_a, sim_b = make_sim_instance("promo-a", seed=31), make_sim_instance("promo-b", seed=32)
    for sim in (sim_a, sim_b):
        sim.set_faults(step_ms=20)
    # A's worker, started first: it gets ready while B is set up (it has nothing to do until
    # the promotion below).
    start_celery_worker()

    # ODCM B: its own database, migrated, its own web server and its own Celery queue.
    dsn_b = b_database()
    env_b = child_env(ODCM_TEST_DATABASE_URL=dsn_b, ODCM_CELERY_QUEUE=B_QUEUE)
    port = free_port()
    web_b = start_process(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "odcm.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
        ],
        name="odcm-b",
        **b_vars(env_b),
    )
    url_b = f"http://127.0.0.1:{port}"

    # ODCM A: the source space, its identity; each side fetches the other's certificate over
    # the API and confirms the fingerprint the other side read out. B's setup (its instance,
    # space and identity) and its trust in A run in one process of B's.
    inst_a = enlist_sim(sim_a, owners=[admin_user])
    source = space_of(inst_a)
    a_identity = identities.ensure(source)
    b = run_b(
        env_b,
        "setup_trusting",
        [sim_b.url, sim_b.api_key, sim_b.slug],
        [live_server.url, str(source.pk), a_identity.fingerprint],
    )
    wait_for_port(port, timeout=120, process=web_b.process)
    prod = transfer.fetch_remote(url_b, b["space_id"])
    trust = peers.propose(source, prod, Trust.Accepts.RECEIPTS)
    assert trust.state == Trust.State.PENDING
    peers.confirm(trust, b["fingerprint"])

    pipe, release_id = source_release(inst_a, tmp_path)
    route = routes.set_route(source, pipe.project["Id"], pipe.name, ["Development", "Test", prod])
    with OctopusClient(sim_b.url, sim_b.api_key, policy=LOOPBACK) as c_b:
        production = next(
            e["Id"] for e in c_b.get_all(f"/api/{SPACE}/environments") if e["Name"] == "Production"
        )
        lifecycle = c_b.create_lifecycle(
            SPACE,
            {
                "Name": "Prod only",
                "Phases": [
                    {
                        "Name": "Production",
                        "OptionalDeploymentTargets": [production],
                        "AutomaticDeploymentTargets": [],
                        "MinimumEnvironmentsBeforePromotion": 0,
                        "IsOptionalPhase": False,
                    }
                ],
            },
        )

    # Promote: A's worker pushes the bundle to B's inbox.
    promotion = transfer.promote(bundles.build(source, route, release_id, prod, actor=admin_user))
    assert promotion.state == Promotion.State.QUEUED
    wait_for(
        lambda: Promotion.objects.get(pk=promotion.pk).state == Promotion.State.DELIVERED,
        timeout=120,
    )
    package = tmp_path / f"{pipe.package_id}.1.0.0.zip"
    return World(
        sim_a, sim_b, env_b, dsn_b, url_b, source, prod, pipe, route, lifecycle["Id"], package
    )


def b_vars(env_b: dict[str, str], **more: str) -> dict[str, str]:
    return {**{k: v for k, v in env_b.items() if k.startswith("ODCM_")}, **more}


def feed_of(sim: SimInstance) -> dict[str, str]:
    """Package id.version -> SHA-1 in a simulated instance's built-in feed."""
    with OctopusClient(sim.url, sim.api_key, policy=LOOPBACK) as c:
        return {f"{p['PackageId']}.{p['Version']}": str(p["Hash"]) for p in c.packages(SPACE)}


def sha1_of(path: Path) -> str:
    import hashlib

    return hashlib.sha1(path.read_bytes(), usedforsecurity=False).hexdigest()


@pytest.mark.timeout(900)
def test_connected_promotion_between_two_odcms(
    w: World,
    start_celery_worker: Callable[..., Any],
    admin_user: Any,
) -> None:
    key = f"{w.pipe.package_id}.1.0.0"
    assert key not in feed_of(w.sim_b)

    # B's worker imports: it pulls the package from A over the network and verifies it.
    start_celery_worker(name="odcm-b-worker", **b_vars(w.env_b))
    assert run_b(w.env_b, "queue_import", DB_PASSWORD, w.lifecycle) == {"state": "queued"}
    wait_for(lambda: b_bundle(w.dsn_b)[0] in ("imported", "failed"), timeout=180, every=0.5)
    assert b_bundle(w.dsn_b) == ("imported", "")
    assert feed_of(w.sim_b)[key] == sha1_of(w.package)

    (project_id,) = b_rows(w.dsn_b, "SELECT imported_project_id FROM promotions_inboundbundle")[0]
    with OctopusClient(w.sim_b.url, w.sim_b.api_key, policy=LOOPBACK) as c_b:
        name = c_b.get(f"/api/{SPACE}/projects/{project_id}")["Name"]
        assert name == f"{w.source.name}: {w.pipe.name}"
        started = c_b.deploy_release_v1(SPACE, name, "1.0.0", ["Production"])
        c_b.wait_for_tasks([t.task_id for t in started], SPACE, policy=QUICK_POLL)

    # B issues the signed receipt and pushes it to A, which verifies it against its trust.
    assert run_b(w.env_b, "receipts") == {"sent": ["delivered"]}
    got = Receipt.objects.get(direction=Receipt.Direction.IN)
    assert (got.environment, got.outcome, got.peer) == ("Production", "Success", w.prod)
    page = Client()
    page.force_login(admin_user)
    html = page.get(f"/promotions/routes/{w.route.pk}/?release=1.0.0").content.decode()
    assert f"{w.prod.name}: Production" in html and "Success" in html


@pytest.mark.timeout(900)
def test_a_worker_killed_mid_package_transfer_is_finished_once_by_the_next(
    w: World,
    tmp_path: Path,
    start_celery_worker: Callable[..., Any],
) -> None:
    key = f"{w.pipe.package_id}.1.0.0"
    scratch = tmp_path / "b-tmp"
    scratch.mkdir()
    fast = b_vars(w.env_b, ODCM_PROMOTIONS_CLAIM_SECONDS="5", TMPDIR=str(scratch))
    raw = f"/api/{SPACE}/packages/packages-{key}/raw"
    # A's feed sends the package slowly: the transfer is caught in flight.
    w.sim_a.set_faults(step_ms=20, slow_body_ms=8000)
    doomed = start_celery_worker(name="odcm-b-doomed", **fast)
    run_b(w.env_b, "queue_import", DB_PASSWORD, w.lifecycle)

    def in_flight() -> bool:
        # A (this process's live server) is relaying the package from its feed (slowly: 8 s)
        # to B's worker, which relays it on into B's feed as it arrives: B's upload is open.
        a, b = w.sim_a.stats()["by_path"], w.sim_b.stats()["by_path"]
        return a.get(f"GET {raw}", 0) >= 1 and b.get(f"POST /api/{SPACE}/packages/raw", 0) >= 1

    wait_for(in_flight, timeout=120, every=0.1)
    doomed.kill()  # SIGKILL, mid transfer
    assert key not in feed_of(w.sim_b)
    assert not any(scratch.rglob("*.part")), "the relay wrote the package to a file"
    assert b_bundle(w.dsn_b)[0] == "queued"

    w.sim_a.set_faults(step_ms=20)
    start_celery_worker(name="odcm-b-rescuer", **fast)

    # What beat does every ODCM_PROMOTIONS_SWEEP_SECONDS, here every half second in one
    # process of B's: the dead worker's lease runs out after 5 s and the queued import goes
    # to the living worker.
    assert run_b(w.env_b, "sweep_until_done", 180, 0.5)["state"] in ("imported", "failed")
    assert b_bundle(w.dsn_b) == ("imported", "")
    assert feed_of(w.sim_b)[key] == sha1_of(w.package)
    with OctopusClient(w.sim_b.url, w.sim_b.api_key, policy=LOOPBACK) as c_b:
        projects = [
            p for p in c_b.get_all(f"/api/{SPACE}/projects") if p["Name"].endswith(w.pipe.name)
        ]
        assert len(projects) == 1
        releases = c_b.project_releases(SPACE, projects[0]["Id"])
        assert [r["Version"] for r in releases] == ["1.0.0"]
    done = b_rows(
        w.dsn_b, "SELECT count(*) FROM audit_auditentry WHERE action = 'promotions.inbox.import'"
    )
    assert done == [(1,)]


@pytest.mark.timeout(900)
def test_a_worker_killed_mid_import_is_finished_once_by_the_next(
    w: World,
    start_celery_worker: Callable[..., Any],
) -> None:
    """Killed after the packages, with the project created in the target but no release yet:
    the next worker finishes the import, and the target has one project and one release."""
    key = f"{w.pipe.package_id}.1.0.0"
    name = f"{w.source.name}: {w.pipe.name}"
    fast = b_vars(w.env_b, ODCM_PROMOTIONS_CLAIM_SECONDS="5")
    releases_before = w.sim_b.truth()["spaces"][SPACE]["releases"]
    # Every call to B's Octopus takes 0.75 s: the import's writes (project, process,
    # variables, release) are caught between two of them (six calls, 4.5 s at least, come
    # between the project and the release).
    w.sim_b.set_faults(step_ms=20, latency_ms=750)
    doomed = start_celery_worker(name="odcm-b-doomed", **fast)
    run_b(w.env_b, "queue_import", DB_PASSWORD, w.lifecycle)

    def project_created() -> bool:
        return name in w.sim_b.truth()["spaces"][SPACE]["project_names"]

    wait_for(project_created, timeout=240, every=0.1)
    doomed.kill()  # SIGKILL, mid import: the packages are in, the release is not
    truth = w.sim_b.truth()["spaces"][SPACE]
    assert truth["releases"] == releases_before, "killed too late: the release was made"
    assert b_bundle(w.dsn_b)[0] == "queued"

    w.sim_b.set_faults(step_ms=20)
    start_celery_worker(name="odcm-b-rescuer", **fast)

    # what beat does: the dead worker's lease runs out
    assert run_b(w.env_b, "sweep_until_done", 180, 0.5)["state"] in ("imported", "failed")
    assert b_bundle(w.dsn_b) == ("imported", "")
    assert feed_of(w.sim_b)[key] == sha1_of(w.package)
    with OctopusClient(w.sim_b.url, w.sim_b.api_key, policy=LOOPBACK) as c_b:
        projects = [p for p in c_b.get_all(f"/api/{SPACE}/projects") if p["Name"] == name]
        assert len(projects) == 1
        releases = c_b.project_releases(SPACE, projects[0]["Id"])
        assert [r["Version"] for r in releases] == ["1.0.0"]
        process = c_b.project_deployment_process(SPACE, projects[0]["Id"])
        assert [s["Name"] for s in process["Steps"]] == ["Deploy web", "Smoke test"]
        variables = c_b.variable_set(SPACE, projects[0]["VariableSetId"])["Variables"]
        scoped = [(v["Name"], json.dumps(v.get("Scope") or {}, sort_keys=True)) for v in variables]
        assert len(scoped) == len(set(scoped)), "a variable was written twice"
    assert w.sim_b.truth()["spaces"][SPACE]["releases"] == releases_before + 1
    done = b_rows(
        w.dsn_b, "SELECT count(*) FROM audit_auditentry WHERE action = 'promotions.inbox.import'"
    )
    assert done == [(1,)]
