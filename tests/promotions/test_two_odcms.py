"""Connected promotion between two ODCM installations: this test process and its live server
are ODCM A (DevTest), with a real Celery worker; ODCM B (Prod) has its own PostgreSQL database
and its own web server process, and its steps run in its own processes. Certificates are
exchanged over the API and each side confirms the other's fingerprint; the bundle is pushed by
A's worker to B's inbox; B imports, deploys, and pushes the signed receipt back to A."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.test import Client

from octopus import OctopusClient
from octosim.testing import SimInstance
from promotions.models import Promotion, Receipt, Trust
from promotions.services import bundles, identities, peers, routes, transfer
from tests.fixtures.processes import ROOT, free_port, wait_for_port
from tests.fixtures.processes import test_env as child_env
from tests.octopus.conftest import LOOPBACK
from tests.octopus.pipeline_helpers import QUICK_POLL, SPACE
from tests.sharing.conftest import enlist_sim, space_of, wait_for

from .test_air_gapped import DB_PASSWORD, source_release

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def b_database() -> str:
    url = str(settings.DATABASES["default"]["TEST"]["NAME"]) + "_b"
    with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{url}"')
    return f"postgres://postgres@127.0.0.1:5432/{url}"


def run_b(env: dict[str, str], step: str, *args: Any) -> Any:
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


def test_connected_promotion_between_two_odcms(
    make_sim_instance: Callable[..., SimInstance],
    tmp_path: Path,
    live_server: Any,
    start_process: Callable[..., Any],
    start_celery_worker: Callable[..., Any],
    admin_user: Any,
) -> None:
    sim_a, sim_b = make_sim_instance("promo-a", seed=31), make_sim_instance("promo-b", seed=32)
    for sim in (sim_a, sim_b):
        sim.set_faults(step_ms=20)

    # ODCM B: its own database, migrated, and its own web server.
    env_b = child_env(ODCM_TEST_DATABASE_URL=b_database(), ODCM_CELERY_EAGER="true")
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=env_b,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert migrate.returncode == 0, migrate.stderr
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
        **{k: v for k, v in env_b.items() if k.startswith("ODCM_")},
    )
    wait_for_port(port, timeout=120, process=web_b.process)
    url_b = f"http://127.0.0.1:{port}"
    b = run_b(env_b, "setup", sim_b.url, sim_b.api_key, sim_b.slug)

    # ODCM A: the source space, its identity; each side fetches the other's certificate over
    # the API and confirms the fingerprint the other side read out.
    inst_a = enlist_sim(sim_a, owners=[admin_user])
    source = space_of(inst_a)
    a_identity = identities.ensure(source)
    run_b(env_b, "trust", live_server.url, str(source.pk), a_identity.fingerprint)
    prod = transfer.fetch_remote(url_b, b["space_id"])
    trust = peers.propose(source, prod, Trust.Accepts.RECEIPTS)
    assert trust.state == Trust.State.PENDING
    peers.confirm(trust, b["fingerprint"])

    pipe, release_id = source_release(inst_a, tmp_path)
    route = routes.set_route(source, pipe.project["Id"], pipe.name, ["Development", "Test", prod])
    # Packages do not travel between ODCMs yet: both sides share the file (as an external feed).
    package = tmp_path / f"{pipe.package_id}.1.0.0.zip"
    with OctopusClient(sim_b.url, sim_b.api_key, policy=LOOPBACK) as c_b:
        c_b.upload_package(SPACE, package)
        lifecycle = c_b.create_lifecycle(
            SPACE,
            {
                "Name": "Prod only",
                "Phases": [
                    {
                        "Name": "Production",
                        "OptionalDeploymentTargets": [
                            next(
                                e["Id"]
                                for e in c_b.get_all(f"/api/{SPACE}/environments")
                                if e["Name"] == "Production"
                            )
                        ],
                        "AutomaticDeploymentTargets": [],
                        "MinimumEnvironmentsBeforePromotion": 0,
                        "IsOptionalPhase": False,
                    }
                ],
            },
        )

    # Promote: A's worker pushes the bundle to B's inbox.
    start_celery_worker()
    promotion = transfer.promote(bundles.build(source, route, release_id, prod, actor=admin_user))
    assert promotion.state == Promotion.State.QUEUED
    wait_for(
        lambda: Promotion.objects.get(pk=promotion.pk).state == Promotion.State.DELIVERED,
        timeout=120,
    )

    imported = run_b(env_b, "import_bundle", DB_PASSWORD, lifecycle["Id"])
    assert imported["state"] == "imported"
    with OctopusClient(sim_b.url, sim_b.api_key, policy=LOOPBACK) as c_b:
        name = c_b.get(f"/api/{SPACE}/projects/{imported['project']}")["Name"]
        assert name == f"{source.name}: {pipe.name}"
        started = c_b.deploy_release_v1(SPACE, name, "1.0.0", ["Production"])
        c_b.wait_for_tasks([t.task_id for t in started], SPACE, policy=QUICK_POLL)

    # B issues the signed receipt and pushes it to A, which verifies it against its trust.
    assert run_b(env_b, "receipts") == {"sent": ["delivered"]}
    got = Receipt.objects.get(direction=Receipt.Direction.IN)
    assert (got.environment, got.outcome, got.peer) == ("Production", "Success", prod)
    page = Client()
    page.force_login(admin_user)
    html = page.get(f"/promotions/routes/{route.pk}/?release=1.0.0").content.decode()
    assert f"{prod.name}: Production" in html and "Success" in html
