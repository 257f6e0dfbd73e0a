"""Request logs never carry the secrets a URL may hold: the development server's log and
gunicorn's access log mask secret-looking query parameters and password-reset keys."""

from __future__ import annotations

import contextlib
import sys
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from odcm.logging import redact
from tests.fixtures.processes import free_port, wait_for_port

SECRETS = "code=AUTHCODE123&state=STATE456&token=TOKEN789&page=2"


def test_redact_masks_secret_query_parameters_and_reset_keys() -> None:
    line = f"GET /accounts/oidc/x/login/callback/?{SECRETS} HTTP/1.1"
    cleaned = redact(line)
    for secret in ("AUTHCODE123", "STATE456", "TOKEN789"):
        assert secret not in cleaned
    assert "page=2" in cleaned and "/accounts/oidc/x/login/callback/" in cleaned
    reset = redact("GET /accounts/password/reset/key/3-c4f7a-0123456789abcdef/ HTTP/1.1")
    assert "0123456789abcdef" not in reset


def _fetch_and_read_log(process: Any, port: int) -> str:
    wait_for_port(port, timeout=60, process=process.process)
    url = f"http://127.0.0.1:{port}/healthz?{SECRETS}"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    # A 503 (no worker heartbeat) is logged all the same.
    with contextlib.suppress(urllib.error.HTTPError):
        opener.open(url, timeout=30).read()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        log = str(process.output())
        if "/healthz" in log:
            return log
        time.sleep(0.2)
    raise AssertionError(process.output())


@pytest.mark.django_db
def test_development_server_log_masks_secrets(start_process: Callable[..., Any]) -> None:
    port = free_port()
    server = start_process(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        name="runserver",
    )
    log = _fetch_and_read_log(server, port)
    assert "/healthz?" in log and "page=2" in log
    for secret in ("AUTHCODE123", "STATE456", "TOKEN789"):
        assert secret not in log, log


@pytest.mark.django_db
def test_gunicorn_access_log_masks_secrets(start_process: Callable[..., Any]) -> None:
    port = free_port()
    server = start_process(
        [sys.executable, "-m", "gunicorn", "odcm.wsgi", "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "--access-logfile", "-"],
        name="gunicorn",
    )  # fmt: skip
    log = _fetch_and_read_log(server, port)
    assert "page=2" in log
    for secret in ("AUTHCODE123", "STATE456", "TOKEN789"):
        assert secret not in log, log
