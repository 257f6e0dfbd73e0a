"""``python -m octosim``: output, options, state file and clean shutdown."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


def start(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "octosim", "--port", "0", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> int:
    proc.send_signal(sig)
    try:
        code = proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    stderr = proc.stderr.read()
    proc.stderr.close()
    assert "Traceback" not in stderr, stderr
    return code


def first_line(proc: subprocess.Popen[str]) -> Any:
    assert proc.stdout is not None
    return json.loads(proc.stdout.readline())


def get(inst: dict[str, Any], path: str) -> Any:
    resp = httpx.get(
        inst["url"] + path, headers={"X-Octopus-ApiKey": inst["api_key"]}, trust_env=False
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_json_output_names_spaces_and_versions() -> None:
    proc = start(
        "--json",
        "--names", "brisbane,us-east,europe",
        "--spaces", "3-6",
        "--versions", "2023.2.13,2024.1.100,2024.4.1234",
        "--seed", "7",
    )  # fmt: skip
    try:
        instances = first_line(proc)
        assert [i["name"] for i in instances] == ["brisbane", "us-east", "europe"]
        assert [i["version"] for i in instances] == ["2023.2.13", "2024.1.100", "2024.4.1234"]
        keys = {"name", "url", "api_key", "version", "read_only_api_key", "slug", "installation_id"}
        keys.add("no_permission_api_key")
        for inst in instances:
            assert keys <= set(inst)
            three = {inst["api_key"], inst["read_only_api_key"], inst["no_permission_api_key"]}
            assert len(three) == 3
            assert ":0/" not in inst["url"] and inst["url"].endswith("/" + inst["slug"])
            root = get(inst, "/api")
            assert root["Version"] == inst["version"]
            assert root["InstallationId"] == inst["installation_id"]
            assert 3 <= get(inst, "/api/spaces")["TotalResults"] <= 6
        assert len({i["api_key"] for i in instances}) == 3
    finally:
        assert stop(proc) == 0


def test_plain_output_lists_name_url_and_key_and_ctrl_c_exits_cleanly() -> None:
    proc = start("--instances", "2", "--latency-ms", "5")
    try:
        assert proc.stdout is not None
        header = proc.stdout.readline()
        assert header.startswith("octosim listening on http://127.0.0.1:")
        lines = [proc.stdout.readline().split() for _ in range(2)]
        assert [line[0] for line in lines] == ["octopus-1", "octopus-2"]
        assert all(line[1].startswith("http://127.0.0.1:") for line in lines)
        assert all(line[2].startswith("API-") for line in lines)
    finally:
        assert stop(proc, signal.SIGINT) == 0


def test_state_file_keeps_changes_across_restarts(tmp_path: Path) -> None:
    state = tmp_path / "octosim.json"
    proc = start("--json", "--instances", "1", "--state-file", str(state), "--save-every", "0.2")
    try:
        inst = first_line(proc)[0]
        resp = httpx.post(
            inst["url"] + "/api/Spaces-1/environments",
            json={"Name": "Kept Across Restarts"},
            headers={"X-Octopus-ApiKey": inst["api_key"]},
            trust_env=False,
        )
        assert resp.status_code == 201
        deadline = time.monotonic() + 10
        while "Kept Across Restarts" not in (state.read_text() if state.exists() else ""):
            assert time.monotonic() < deadline, "--save-every did not write the state file"
            time.sleep(0.1)
    finally:
        assert stop(proc) == 0
    again = start("--json", "--instances", "1", "--state-file", str(state))
    try:
        inst2 = first_line(again)[0]
        assert inst2["api_key"] == inst["api_key"]
        assert inst2["no_permission_api_key"] == inst["no_permission_api_key"]
        names = [e["Name"] for e in get(inst2, "/api/Spaces-1/environments/all")]
        assert "Kept Across Restarts" in names
    finally:
        assert stop(again) == 0


@pytest.mark.parametrize("option", [("--spaces", "6-3"), ("--error-status", "404")])
def test_bad_option_is_rejected(option: tuple[str, str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "octosim", *option],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2 and option[0] in proc.stderr


def test_error_status_flag_sets_what_the_error_rate_answers() -> None:
    proc = start("--json", "--instances", "1", "--error-rate", "1", "--error-status", "503")
    try:
        inst = first_line(proc)[0]
        resp = httpx.get(inst["url"] + "/api", trust_env=False)
        assert resp.status_code == 503 and "503 Service Unavailable" in resp.text
    finally:
        assert stop(proc) == 0


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.slow
def test_a_thousand_instances_with_latency_fit_in_2_gib() -> None:
    proc = start("--json", "--instances", "1000", "--latency-ms", "100")
    try:
        instances = first_line(proc)
        assert len(instances) == 1000 and len({i["slug"] for i in instances}) == 1000

        async def touch_all() -> list[int]:
            async with aiohttp.ClientSession() as session:

                async def touch(inst: dict[str, Any]) -> int:
                    headers = {"X-Octopus-ApiKey": inst["api_key"]}
                    url = inst["url"] + "/api/Spaces-1/projects"
                    async with session.get(url, headers=headers) as resp:
                        await resp.read()
                        return resp.status

                return await asyncio.gather(*(touch(i) for i in instances))

        assert set(asyncio.run(touch_all())) == {200}
        assert rss_mib(proc.pid) < 2048  # every instance generated, well under 2 GiB
    finally:
        assert stop(proc) == 0


def test_live_activity_flag_keeps_deploying_on_touched_instances() -> None:
    proc = start("--json", "--instances", "1", "--live-activity", "0.2")
    try:
        inst = first_line(proc)[0]
        before = get(inst, "/api/tasks?take=0")["TotalResults"]
        deadline = time.monotonic() + 10
        while get(inst, "/api/tasks?take=0")["TotalResults"] < before + 2:
            assert time.monotonic() < deadline, "no live activity within 10 s"
            time.sleep(0.2)
    finally:
        assert stop(proc) == 0


def test_projects_and_steps_options_shape_the_generated_content() -> None:
    from octosim.testing import SimServer

    with SimServer(instances=1, spaces=1, projects=12, steps=10) as server:
        inst = server.instances[0]
        headers = {"X-Octopus-ApiKey": inst.api_key}
        with httpx.Client(base_url=inst.url, headers=headers, trust_env=False) as client:
            projects = client.get("/api/Spaces-1/projects/all").json()
            assert len(projects) == 12
            process = client.get(f"/api/Spaces-1/projects/{projects[-1]['Id']}/deploymentprocesses")
            assert len(process.json()["Steps"]) == 10
            again = client.get(
                f"/api/Spaces-1/deploymentprocesses/{projects[-1]['DeploymentProcessId']}"
            )
            assert again.json()["Steps"] == process.json()["Steps"]  # generated the same again
