"""The container probes, run exactly as docker-compose.yml and the Dockerfile run them, against a
real gunicorn started the way compose starts it, with the production settings of the README."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from tests.fixtures.processes import ROOT, free_port, wait_for_port
from tests.settings import TEST_DATABASE_URL, TEST_REDIS_URL

BIN = Path(sys.executable).parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def production_env(port: int, **overrides: str) -> dict[str, str]:
    """The README's production settings: DEBUG off, an https site behind a proxy, one host."""
    env = {
        "DJANGO_SETTINGS_MODULE": "odcm.settings",
        "ODCM_DEBUG": "false",
        "ODCM_SECRET_KEY": "production-like-secret-" + "k9Q2xW7p" * 6,
        "ODCM_ENCRYPTION_KEYS": os.environ["ODCM_ENCRYPTION_KEYS"],
        "ODCM_ALLOWED_HOSTS": "odcm.example.com",
        "ODCM_SITE_URL": "https://odcm.example.com",
        "ODCM_BEHIND_PROXY": "true",
        "ODCM_DATABASE_URL": TEST_DATABASE_URL,
        "ODCM_REDIS_URL": TEST_REDIS_URL,
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "PATH": f"{BIN}:/usr/bin:/bin",
    }
    env.update(overrides)
    return env


def compose_web_command() -> list[str]:
    command = list(COMPOSE["web"]["command"])
    assert command[0] == "gunicorn"
    return [str(BIN / "gunicorn"), *command[1:]]


def compose_probe() -> list[str]:
    test = list(COMPOSE["web"]["healthcheck"]["test"])
    assert test[0] == "CMD"
    return test[1:]


@pytest.fixture
def production_web(start_process, db):
    """Start the compose web command (gunicorn.conf.py) with production settings (the test
    database must exist: /readyz runs SELECT 1 in it)."""

    def _start(**overrides: str) -> dict[str, str]:
        port = free_port()
        env = production_env(port, **overrides)
        # start_process adds the test settings module; production_env puts odcm.settings back.
        server = start_process(compose_web_command(), name="web", **env)
        wait_for_port(port, process=server.process, timeout=30)
        return env

    return _start


def run_probe(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        compose_probe(), cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_the_dockerfile_healthcheck_is_the_compose_probe():
    dockerfile = (ROOT / "Dockerfile").read_text()
    line = next(x for x in dockerfile.splitlines() if x.strip().startswith('CMD ["python"'))
    assert json.loads(line.strip().removeprefix("CMD ")) == compose_probe()
    command = next(x for x in dockerfile.splitlines() if x.startswith("CMD "))
    assert json.loads(command.removeprefix("CMD ")) == COMPOSE["web"]["command"]


def test_the_compose_probe_passes_against_gunicorn_with_production_settings(production_web):
    env = production_web()
    result = run_probe(env)
    assert result.returncode == 0, result.stderr
    port = env["PORT"]
    # By address and over plain http, as a probe calls: no 400 for the host, no https redirect.
    live = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
    assert (live.status_code, live.json()) == (200, {"status": "ok"})
    # Every other path still gets the production rules.
    assert httpx.get(f"http://127.0.0.1:{port}/accounts/login/", timeout=10).status_code == 400
    proxied = httpx.get(
        f"http://127.0.0.1:{port}/accounts/login/", headers={"Host": "odcm.example.com"}
    )
    assert proxied.status_code == 301
    assert proxied.headers["location"].startswith("https://odcm.example.com/")


def test_the_compose_probe_fails_when_the_database_is_down_and_liveness_still_answers(
    production_web,
):
    env = production_web(ODCM_DATABASE_URL=f"postgres://postgres@127.0.0.1:{free_port()}/x")
    result = run_probe(env)
    assert result.returncode == 1
    assert "503" in result.stderr and "database" in result.stderr
    live = httpx.get(f"http://127.0.0.1:{env['PORT']}/healthz", timeout=10)
    assert live.status_code == 200


def test_the_probe_fails_when_nothing_listens():
    result = run_probe(production_env(free_port()))
    assert result.returncode == 1
    assert "did not answer" in result.stderr
