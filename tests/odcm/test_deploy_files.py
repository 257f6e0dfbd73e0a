"""docker-compose.yml, Procfile and the fresh-SQLite path the demo takes."""

import subprocess
import sys

import pytest
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


@pytest.mark.slow
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


def test_the_image_compose_procfile_and_demo_start_gunicorn_with_the_one_config_file():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert compose["web"]["command"] == ["gunicorn", "--config", "gunicorn.conf.py"]
    procfile = dict(
        line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line
    )
    assert procfile["web"] == "gunicorn --config gunicorn.conf.py"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'CMD ["gunicorn", "--config", "gunicorn.conf.py"]' in dockerfile
    assert '"--config",\n                "gunicorn.conf.py",' in (ROOT / "odcm/demo.py").read_text()


def test_the_image_runs_as_a_user_without_compilers_from_hash_checked_requirements():
    stages = (ROOT / "Dockerfile").read_text().split("\nFROM ")
    assert len(stages) == 3, "a build stage and a final stage"
    build, final = stages[1], stages[2]
    assert "build-essential" in build and "--require-hashes" in build
    commands = "\n".join(line for line in final.splitlines() if not line.startswith("#"))
    for tool in ("build-essential", "gcc", "-dev ", "-dev\n", "curl", "pip install"):
        assert tool not in commands, tool
    assert "COPY --from=build /opt/odcm /opt/odcm" in final
    users = [line.split()[1] for line in final.splitlines() if line.startswith("USER ")]
    assert users == ["odcm"]
    assert final.index("USER odcm") < final.index("CMD ")
