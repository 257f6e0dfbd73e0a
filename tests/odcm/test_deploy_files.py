"""docker-compose.yml, Procfile and the fresh-SQLite path the demo takes."""

import subprocess
import sys

import yaml

from tests.fixtures.processes import ROOT


def test_compose_defines_the_production_services_with_healthchecks():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "migrate", "web", "worker", "beat"}
    for name, service in services.items():
        assert "healthcheck" in service, name
        assert service["healthcheck"]["test"], name
    assert services["migrate"]["command"][-2:] == ["migrate", "--noinput"]
    assert services["web"]["command"][0] == "gunicorn"
    assert "worker" in services["worker"]["command"] and "beat" in services["beat"]["command"]
    for name in ("web", "worker", "beat"):
        assert services[name]["env_file"] == ".env"
        assert (
            services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        )


def test_env_example_names_only_odcm_and_compose_variables():
    names = [
        line.split("=", 1)[0].lstrip("# ")
        for line in (ROOT / ".env.example").read_text().splitlines()
        if "=" in line and not line.startswith("# ") or line.startswith("# ODCM_")
    ]
    assert names and all(n.startswith(("ODCM_", "POSTGRES_")) for n in names)


def test_procfile_runs_web_worker_and_beat_as_separate_processes():
    lines = dict(
        line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line
    )
    assert set(lines) == {"web", "worker", "beat"}
    assert "worker" in lines["worker"] and "beat" in lines["beat"]


def test_a_fresh_sqlite_database_migrates(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "odcm.settings",
        "ODCM_DEBUG": "true",
        "ODCM_VAR_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "odcm.sqlite3").stat().st_size > 0
