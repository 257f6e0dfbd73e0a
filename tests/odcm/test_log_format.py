"""ODCM_LOG_FORMAT=json: one JSON object per log line, secrets still masked."""

import json
import subprocess
import sys

from tests.fixtures.processes import ROOT
from tests.fixtures.processes import test_env as child_env

LOG_A_LINE = (
    "import django, logging; django.setup(); "
    "logging.getLogger('odcm.example')"
    ".warning('instance %s answered', 'key API-ABCDEFGHIJKLMNOPQRST')"
)


def log_a_line(log_format: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", LOG_A_LINE],
        cwd=ROOT,
        env=child_env(ODCM_LOG_FORMAT=log_format),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_json_log_lines_are_objects_with_the_message_and_no_secret():
    result = log_a_line("json")
    assert result.returncode == 0, result.stderr
    entry = json.loads(result.stderr.strip().splitlines()[-1])
    assert entry["level"] == "WARNING" and entry["logger"] == "odcm.example"
    assert entry["message"] == "instance key [redacted] answered"
    assert entry["time"].endswith("+00:00")


def test_plain_is_the_default_and_an_unknown_format_is_refused():
    assert "WARNING odcm.example instance key [redacted]" in log_a_line("plain").stderr
    refused = log_a_line("xml")
    assert refused.returncode != 0
    assert "ODCM_LOG_FORMAT must be 'plain' or 'json'" in refused.stderr


def test_gunicorn_started_with_its_config_logs_json_too(start_process, db):
    import re
    from pathlib import Path

    import httpx

    from tests.fixtures.processes import free_port, wait_for_port

    port = free_port()
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    server = start_process(
        [gunicorn, "--config", "gunicorn.conf.py"],
        name="web",
        PORT=str(port),
        WEB_CONCURRENCY="1",
        ODCM_LOG_FORMAT="json",
    )
    wait_for_port(port, process=server.process, timeout=30)
    assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200
    assert httpx.get(f"http://127.0.0.1:{port}/no/such/page", timeout=10).status_code == 404
    server.stop()
    lines = server.log.read_text(errors="replace").splitlines()
    entries = [json.loads(line) for line in lines if line.startswith("{")]
    assert not [line for line in lines if re.match(r"^\[\d{4}-|^\d{4}-\d\d-\d\d ", line)]
    loggers = {entry["logger"] for entry in entries}
    assert {"gunicorn.error", "gunicorn.access", "django.request"} <= loggers
    access = [e["message"] for e in entries if e["logger"] == "gunicorn.access"]
    assert any('"GET /no/such/page HTTP/1.1" 404' in message for message in access)
