"""The release-pipeline parts of bench/octosim.py: package transfer and many deployments.

Both drive octosim through ODCM's own client (``octopus``), so the figures are what ODCM
would see: the package through ``upload_package``/``download_package`` (streamed and
hashed), the deployments through the executions API and ``wait_for_tasks``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from octopus import (
    AsyncOctopusClient,
    OctopusClient,
    PollPolicy,
    URLPolicy,
    make_async_http_client,
)

LOOPBACK = URLPolicy(allow_http=True, allowed_networks=["127.0.0.0/8"])
MIB = 1024 * 1024


def _status_mib(pid: int | str) -> tuple[float, float]:
    """Current and peak resident set size in MiB (``VmRSS``, ``VmHWM``)."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)


def _reset_peak(pid: int | str) -> bool:
    """Reset a process's peak RSS (Linux ``clear_refs`` 5); False where not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _write_package(path: Path, size_mb: int) -> None:
    block = os.urandom(MIB)
    with open(path, "wb") as out:
        for n in range(size_mb):
            out.write(n.to_bytes(8, "big") + block[8:])  # no two MiBs alike


def _timed(action: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = action()
    return result, time.perf_counter() - started


def _curl(
    inst: dict[str, Any], src: Path, package_id: str, work: Path
) -> tuple[float, float] | None:
    """Seconds curl takes for the same upload and download (None without curl)."""
    if shutil.which("curl") is None:
        return None
    key = f"X-Octopus-ApiKey: {inst['api_key']}"
    api = f"{inst['url']}/api/Spaces-1/packages"
    up = ["curl", "-sf", "-o", "/dev/null", "-H", key, "-F", f"fileToUpload=@{src}",
          f"{api}/raw?overwriteMode=OverwriteExisting"]  # fmt: skip
    down = ["curl", "-sf", "-o", str(work / "curl-down"), "-H", key, f"{api}/{package_id}/raw"]
    _, up_s = _timed(lambda: subprocess.run(up, check=True))
    _, down_s = _timed(lambda: subprocess.run(down, check=True))
    return up_s, down_s


def packages_bench(inst: dict[str, Any], server_pid: int, size_mb: int) -> dict[str, Any]:
    """Push and download one ``size_mb`` package; compare with ``cp`` on the same disk."""
    work = Path(tempfile.mkdtemp(prefix="odcm-bench-packages-"))
    try:
        src = work / f"Bench.Package.1.0.{int(time.time())}.zip"
        _write_package(src, size_mb)
        _, cp_s = _timed(lambda: subprocess.run(["cp", src, work / "cp-copy"], check=True))
        (work / "cp-copy").unlink()
        me = os.getpid()
        rss = {"client": _status_mib(me)[0], "server": _status_mib(server_pid)[0]}
        reset = _reset_peak(me) and _reset_peak(server_pid)
        with OctopusClient(inst["url"], inst["api_key"], policy=LOOPBACK) as client:
            pushed, up_s = _timed(lambda: client.upload_package("Spaces-1", src))
            got, down_s = _timed(
                lambda: client.download_package("Spaces-1", pushed.package["Id"], work / "down")
            )
            growth = {who: _status_mib(pid)[1] - rss[who] for who, pid in
                      (("client", me), ("server", server_pid))}  # fmt: skip
            curl = _curl(inst, src, pushed.package["Id"], work)
            client.delete_package("Spaces-1", pushed.package["Id"])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ok = pushed.verified and got.received == pushed.sent
    print(f"packages: {size_mb} MiB on {work.parent} (cp took {cp_s:.2f} s)")
    for label, seconds in (("upload", up_s), ("download", down_s)):
        print(
            f"  {label}: {size_mb / seconds:.0f} MiB/s, {seconds / cp_s:.1f} x cp "
            f"(target <= 2), SHA-1 and SHA-256 computed on the way"
        )
    if curl is not None:
        print(
            f"  curl against the same server (what octosim itself allows): upload "
            f"{curl[0] / cp_s:.1f} x cp, download {curl[1] / cp_s:.1f} x cp"
        )
    note = "" if reset else " (peak could not be reset: figures include earlier peaks)"
    print(
        f"  peak RSS growth during both: client {growth['client']:.0f} MiB, "
        f"octosim {growth['server']:.0f} MiB{note}; hashes match: {ok}"
    )
    return {
        "package_mib": size_mb,
        "upload_mibps": round(size_mb / up_s),
        "download_mibps": round(size_mb / down_s),
        "upload_cp_ratio": round(up_s / cp_s, 2),
        "download_cp_ratio": round(down_s / cp_s, 2),
        "package_client_peak_mib": round(growth["client"]),
        "package_server_peak_mib": round(growth["server"]),
        **(
            {
                "curl_upload_cp_ratio": round(curl[0] / cp_s, 2),
                "curl_download_cp_ratio": round(curl[1] / cp_s, 2),
            }
            if curl is not None
            else {}
        ),  # fmt: skip
    }


STEPS = 2  # script steps per deployment process
STEP_MS = 1000


def _prepare(inst: dict[str, Any], control_url: str, step_ms: int) -> tuple[str, str]:
    """A project with a two-step process and release 1.0.0; returns (project, environment)."""
    faults = f"{control_url}/instances/{inst['slug']}/faults"
    request = urllib.request.Request(
        faults, data=json.dumps({"step_ms": step_ms}).encode(), method="PUT"
    )
    request.add_header("Content-Type", "application/json")
    urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=30).read()
    with OctopusClient(inst["url"], inst["api_key"], policy=LOOPBACK) as c:
        lifecycle = next(lc for lc in c.lifecycles("Spaces-1") if lc.get("Phases"))
        first = lifecycle["Phases"][0]
        env_id = (first["OptionalDeploymentTargets"] + first["AutomaticDeploymentTargets"])[0]
        env = c.get(f"/api/Spaces-1/environments/{env_id}")["Name"]
        group = c.get("/api/Spaces-1/projectgroups/all")[0]["Id"]
        name = f"Bench {uuid.uuid4().hex[:8]}"
        project = c.post(
            "/api/Spaces-1/projects",
            {"Name": name, "ProjectGroupId": group, "LifecycleId": lifecycle["Id"]},
        )
        process = c.project_deployment_process("Spaces-1", project["Id"])
        process["Steps"] = [
            {"Name": f"Step {n}", "Actions": [{"Name": f"Step {n}", "ActionType": "Octopus.Script",
             "Properties": {"Octopus.Action.Script.ScriptBody": "echo"}}]}
            for n in range(1, STEPS + 1)
        ]  # fmt: skip
        c.update_deployment_process("Spaces-1", process)
        c.create_release_v1("Spaces-1", name, version="1.0.0")
    return name, env


async def _sample(
    clients: list[AsyncOctopusClient],
    task_ids: list[list[str]],
    stop: asyncio.Event,
    peaks: dict[str, int],
) -> None:
    """Most tasks running on one node (any task, as Octopus counts them) and most of our
    tasks waiting in Queued on one instance."""
    while not stop.is_set():
        summaries = await asyncio.gather(*(c.server_nodes_summary() for c in clients))
        pages = await asyncio.gather(
            *(
                c.get("/api/Spaces-1/tasks", {"ids": ",".join(ids), "take": 0})
                for c, ids in zip(clients, task_ids, strict=True)
            )
        )
        for summary in summaries:
            for node in summary.get("Nodes") or []:
                peaks["Executing"] = max(peaks["Executing"], int(node.get("RunningTaskCount", 0)))
        for page in pages:
            queued = int((page.get("TotalCounts") or {}).get("Queued", 0))
            peaks["Queued"] = max(peaks["Queued"], queued)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.25)


async def deployments_bench(
    instances: list[dict[str, Any]], control_url: str, total: int, step_ms: int = STEP_MS
) -> dict[str, Any]:
    """Start ``total`` deployments at once across ``instances``; time until all complete."""
    per = max(1, total // len(instances))
    prepared = await asyncio.gather(
        *(asyncio.to_thread(_prepare, inst, control_url, step_ms) for inst in instances)
    )
    http = make_async_http_client(LOOPBACK, max_connections=200)
    clients = [
        AsyncOctopusClient(i["url"], i["api_key"], policy=LOOPBACK, http=http) for i in instances
    ]
    policy = PollPolicy(initial=0.25, factor=1.5, maximum=1.0, timeout=600)
    peaks = {"Executing": 0, "Queued": 0}
    stop = asyncio.Event()
    try:
        started = time.perf_counter()
        runs = await asyncio.gather(
            *(
                c.deploy_release_v1("Spaces-1", name, "1.0.0", [env])
                for c, (name, env) in zip(clients, prepared, strict=True)
                for _ in range(per)
            )
        )
        queued_s = time.perf_counter() - started
        task_ids: list[list[str]] = [[] for _ in clients]
        for n, run in enumerate(runs):
            task_ids[n // per].append(run[0].task_id)
        sampler = asyncio.create_task(_sample(clients, task_ids, stop, peaks))
        results = await asyncio.gather(
            *(c.wait_for_tasks(ids, "Spaces-1", policy=policy)
              for c, ids in zip(clients, task_ids, strict=True))
        )  # fmt: skip
        took = time.perf_counter() - started
        stop.set()
        await sampler
    finally:
        await http.aclose()
    states: dict[str, int] = {}
    for result in results:
        for status in result.values():
            states[status.state] = states.get(status.state, 0) + 1
    cap = 5
    waves = -(-per // cap)
    ideal = waves * STEPS * step_ms / 1000
    count = per * len(instances)
    print(
        f"deployments: {count} started at once on {len(instances)} instances ({per} each, "
        f"{STEPS} steps of {step_ms} ms, one node capped at {cap} tasks); all requests "
        f"answered in {queued_s:.1f} s"
    )
    print(
        f"  all complete after {took:.1f} s; the cap allows no less than {ideal:.1f} s "
        f"({waves} waves); outcomes {states}; largest Executing on one node "
        f"{peaks['Executing']}, largest Queued {peaks['Queued']} (polled every <= 1 s)"
    )
    return {
        "deployments": count,
        "deploy_s": round(took, 1),
        "deploy_ideal_s": round(ideal, 1),
        "deploy_max_executing": peaks["Executing"],
        "deploy_max_queued": peaks["Queued"],
        "deploy_succeeded": states.get("Success", 0),
    }
