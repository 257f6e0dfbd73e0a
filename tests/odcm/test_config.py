"""Production mode refuses unsafe configuration, in one line, and passes check --deploy."""

import subprocess
import sys

import pytest

from odcm.crypto import generate_key
from tests.fixtures.processes import ROOT

GOOD = {
    "ODCM_DEBUG": "false",
    "ODCM_SECRET_KEY": "k" * 20 + "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
    "ODCM_ALLOWED_HOSTS": "odcm.example.com",
    "ODCM_ENCRYPTION_KEYS": generate_key(),
    "ODCM_SITE_URL": "https://odcm.example.com",
    "ODCM_EMAIL_URL": "smtp+tls://mailer:pw@smtp.example.com:587",
    "ODCM_DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
    "ODCM_REDIS_URL": "redis://127.0.0.1:6379/0",
    "ODCM_METRICS_TOKEN": "scrape-" + "m3trics" * 6,
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "odcm.settings", **env}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    "change,variable",
    [
        ({"ODCM_SECRET_KEY": ""}, "ODCM_SECRET_KEY"),
        ({"ODCM_SECRET_KEY": "short"}, "ODCM_SECRET_KEY"),
        ({"ODCM_ALLOWED_HOSTS": ""}, "ODCM_ALLOWED_HOSTS"),
        ({"ODCM_ENCRYPTION_KEYS": ""}, "ODCM_ENCRYPTION_KEYS"),
        ({"ODCM_ENCRYPTION_KEYS": "bm90LTMyLWJ5dGVz"}, "ODCM_ENCRYPTION_KEYS"),
        ({"ODCM_DEBUG": "perhaps"}, "ODCM_DEBUG"),
    ],
)
def test_production_refuses_unsafe_configuration_in_one_line(change, variable):
    result = manage("check", **{**GOOD, **change})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("odcm: configuration error:")
    assert variable in lines[0]
    assert "Traceback" not in result.stderr


def test_check_deploy_passes_under_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **GOOD)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_warns_when_served_over_http():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        **{**GOOD, "ODCM_SITE_URL": "http://odcm.example.com"},
    )
    assert result.returncode != 0
    assert "odcm.W001" in result.stderr + result.stdout


def test_check_deploy_fails_when_metrics_are_open_to_anyone():
    open_metrics = {k: v for k, v in GOOD.items() if k != "ODCM_METRICS_TOKEN"}
    result = manage("check", "--deploy", **open_metrics)
    assert result.returncode != 0
    assert "odcm.E001" in result.stderr + result.stdout
    chosen = manage("check", "--deploy", "--fail-level", "WARNING",
                    **{**open_metrics, "ODCM_METRICS_PUBLIC": "true"})  # fmt: skip
    assert chosen.returncode == 0, chosen.stdout + chosen.stderr
