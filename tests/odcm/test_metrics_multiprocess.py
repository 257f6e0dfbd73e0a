"""Under gunicorn's several workers a scrape adds up every worker's counters (multiprocess mode,
set up by gunicorn.conf.py), whichever worker answers it."""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import yaml

from tests.fixtures.processes import ROOT, free_port, wait_for_port

REQUESTS = 40
LOGIN_COUNT = re.compile(
    r'^odcm_http_requests_total\{method="GET",status="200",view="account_login"\} (\S+)$',
    re.MULTILINE,
)


def test_every_scrape_counts_the_requests_of_every_gunicorn_worker(start_process, tmp_path, db):
    command = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["web"][
        "command"
    ]
    port = free_port()
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    # Two single-threaded workers: a busy worker takes no connection, so the requests sent
    # eight at a time spread over both.
    server = start_process(
        [gunicorn, *command[1:], "--bind", f"127.0.0.1:{port}"],
        name="web",
        WEB_CONCURRENCY="2",
        ODCM_WEB_THREADS="1",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
    )
    wait_for_port(port, process=server.process, timeout=30)
    url = f"http://127.0.0.1:{port}"

    def fetch(_: int) -> int:
        return httpx.get(f"{url}/accounts/login/", timeout=30).status_code

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(fetch, range(REQUESTS))) == {200}
    for _ in range(6):
        text = httpx.get(f"{url}/metrics", timeout=30).text
        found = LOGIN_COUNT.search(text)
        assert found is not None, text[-2000:]
        assert float(found.group(1)) == REQUESTS
    assert "odcm_build_info{" in text
    assert "# TYPE odcm_alerts_pending gauge" in text

    # A worker that dies (gunicorn starts another) takes none of its counts with it.
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
    os.kill(int(children[0]), signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        replaced = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
        if len(replaced) == 2 and children[0] not in replaced:
            break
        time.sleep(0.2)
    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(fetch, range(REQUESTS))) == {200}
    for _ in range(4):
        found = LOGIN_COUNT.search(httpx.get(f"{url}/metrics", timeout=30).text)
        assert found is not None and float(found.group(1)) == 2 * REQUESTS
