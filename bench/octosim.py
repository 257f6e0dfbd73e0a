"""Benchmark octosim: requests per second and memory with many instances, package
transfer through ODCM's client, and many deployments at once.

    .venv/bin/python bench/octosim.py [--instances 1000] [--duration 5] [--concurrency 32]
        [--package-mb 200] [--deployments 500] [--deploy-instances 50]

Starts ``python -m octosim`` as a subprocess, touches every instance (which generates its
content), reads the server's resident memory from /proc, then measures how many requests
per second it serves for ``GET /api`` and for a paged list (``GET /api/Spaces-1/deployments``)
from an aiohttp client running on the same machine. Then (``bench/_octosim_pipeline.py``)
it pushes and downloads a package with ``octopus.OctopusClient`` against ``cp`` of the same
file on the same disk, and starts deployments on many instances at once and waits for them.
Prints figures, ending with one ``bench: octosim key=value ...`` line; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._machine import describe  # noqa: E402
from bench._octosim_pipeline import deployments_bench, packages_bench  # noqa: E402


def rss_mib(pid: int) -> tuple[float, float]:
    """Current and peak resident set size of ``pid`` in MiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)


def start_server(instances: int, latency_ms: int) -> tuple[subprocess.Popen[str], list[Any], str]:
    cmd = [sys.executable, "-m", "octosim", "--port", "0", "--json", "--instances", str(instances)]
    if latency_ms:
        cmd += ["--latency-ms", str(latency_ms)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    described = json.loads(proc.stdout.readline())
    control_url = json.loads(proc.stdout.readline())["control_url"]
    return proc, described, control_url


async def touch_all(
    session: aiohttp.ClientSession, instances: list[Any], concurrency: int
) -> float:
    sem = asyncio.Semaphore(concurrency)

    async def touch(inst: dict[str, Any]) -> None:
        async with sem:
            headers = {"X-Octopus-ApiKey": inst["api_key"]}
            async with session.get(inst["url"] + "/api/Spaces-1/projects", headers=headers) as r:
                await r.read()
                assert r.status == 200, r.status

    started = time.perf_counter()
    await asyncio.gather(*(touch(i) for i in instances))
    return time.perf_counter() - started


async def hammer(
    session: aiohttp.ClientSession,
    instances: list[Any],
    path: str,
    duration: float,
    concurrency: int,
) -> tuple[float, float]:
    """Requests per second and mean latency (ms) for ``path`` on random instances."""
    done = 0
    latency = 0.0
    stop_at = time.perf_counter() + duration
    rng = random.Random(1)

    async def worker() -> None:
        nonlocal done, latency
        while time.perf_counter() < stop_at:
            inst = rng.choice(instances)
            t0 = time.perf_counter()
            headers = {"X-Octopus-ApiKey": inst["api_key"]}
            async with session.get(inst["url"] + path, headers=headers) as resp:
                await resp.read()
                assert resp.status == 200, resp.status
            latency += time.perf_counter() - t0
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return done / elapsed, 1000 * latency / max(done, 1)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    figures: dict[str, Any] = {"instances": args.instances}
    print(f"machine: {describe()}")
    print(
        f"octosim: {args.instances} instances, latency {args.latency_ms} ms; "
        "the client runs on the same machine"
    )
    proc, instances, control_url = start_server(args.instances, args.latency_ms)
    try:
        before, _ = rss_mib(proc.pid)
        print(f"memory before touching: {before:.0f} MiB RSS")
        connector = aiohttp.TCPConnector(limit=args.concurrency * 2)
        async with aiohttp.ClientSession(connector=connector) as session:
            took = await touch_all(session, instances, args.concurrency)
            rss, peak = rss_mib(proc.pid)
            print(
                f"memory after touching all {len(instances)} instances: {rss:.0f} MiB RSS "
                f"(peak {peak:.0f} MiB; {1024 * rss / len(instances):.0f} KiB per instance); "
                f"touching took {took:.1f} s"
            )
            for label, path in (
                ("GET /api", "/api"),
                ("GET /api/Spaces-1/deployments (page of 30)", "/api/Spaces-1/deployments"),
            ):
                rps, mean = await hammer(session, instances, path, args.duration, args.concurrency)
                print(
                    f"{label}: {rps:.0f} requests/s, mean latency {mean:.1f} ms "
                    f"(concurrency {args.concurrency}, {args.duration:.0f} s)"
                )
                figures["root_rps" if path == "/api" else "list_rps"] = round(rps)
            rss, peak = rss_mib(proc.pid)
            figures["rss_mib"] = round(rss)
            print(f"memory at the end: {rss:.0f} MiB RSS (peak {peak:.0f} MiB)")
        if args.package_mb:
            figures |= await asyncio.to_thread(
                packages_bench, instances[0], proc.pid, args.package_mb
            )
        if args.deployments:
            figures |= await deployments_bench(
                instances[: args.deploy_instances], control_url, args.deployments
            )
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=60)
            print(f"octosim exited with {code} after SIGTERM")
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
            print("octosim did not exit within 60 s of SIGTERM; killed")
        if proc.stdout is not None:
            proc.stdout.close()
    return figures


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--instances", type=int, default=1000)
    p.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--latency-ms", type=int, default=0, help="injected latency (0 = none)")
    p.add_argument("--package-mb", type=int, default=200, help="package size (0 = skip)")
    p.add_argument("--deployments", type=int, default=500, help="deployments (0 = skip)")
    p.add_argument("--deploy-instances", type=int, default=50)
    args = p.parse_args()
    if args.deployments and args.instances < args.deploy_instances:
        p.error("--instances must be at least --deploy-instances")
    figures = asyncio.run(run(args))
    print("bench: octosim " + " ".join(f"{k}={v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
