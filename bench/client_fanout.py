"""Fan-out benchmark for the async Octopus client.

Starts octosim with N instances (default 1,000) that each answer after a fixed latency
(default 100 ms), then does one ``GET /api`` (``AsyncOctopusClient.root()``) per instance
with at most C requests in flight (default 100), sharing one httpx-aiohttp connection
pool. Prints wall time, the ideal (requests x latency / concurrency) and their ratio,
after one untimed warm-up sweep (octosim seeds each instance on first touch).

    .venv/bin/python bench/client_fanout.py [--instances 1000] [--latency-ms 100]
                                            [--concurrency 100] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._machine import describe  # noqa: E402
from octopus import AsyncOctopusClient, URLPolicy, make_async_http_client  # noqa: E402
from octosim.testing import SimServer  # noqa: E402

POLICY = URLPolicy(allow_http=True, allowed_networks=["127.0.0.0/8"])


async def sweep(
    instances: list[Any], concurrency: int, transport: str = "aiohttp"
) -> tuple[float, int]:
    """One GET /api per instance; returns (wall seconds, failures)."""
    if transport == "aiohttp":
        http = make_async_http_client(POLICY, max_connections=concurrency)
    else:  # httpx's own pool, for comparison only (no connect-time policy check)
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        http = httpx.AsyncClient(limits=limits, trust_env=False)
    gate = asyncio.Semaphore(concurrency)
    failures = 0

    async def one(instance: Any) -> None:
        nonlocal failures
        client = AsyncOctopusClient(instance.url, instance.api_key, policy=POLICY, http=http)
        async with gate:
            try:
                await client.root()
            except Exception as exc:  # noqa: BLE001 - counted and reported
                failures += 1
                if failures <= 3:
                    print(f"  failure: {exc}", file=sys.stderr)

    start = time.perf_counter()
    try:
        await asyncio.gather(*(one(instance) for instance in instances))
        return time.perf_counter() - start, failures
    finally:
        await http.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--transport",
        choices=["aiohttp", "httpx"],
        default="aiohttp",
        help="aiohttp: what ODCM uses; httpx: httpx's own pool, for comparison",
    )
    args = parser.parse_args()

    ideal = args.instances * args.latency_ms / 1000 / args.concurrency
    print(f"machine: {describe()}")
    start = time.perf_counter()
    with SimServer(instances=args.instances, spaces=1, latency_ms=args.latency_ms) as sim:
        instances = sim.instances
        print(f"octosim: {len(instances)} instances ready in {time.perf_counter() - start:.1f} s")
        print(
            f"sweep: {args.instances} x GET /api, latency {args.latency_ms} ms, "
            f"concurrency {args.concurrency}, transport {args.transport}, ideal {ideal:.2f} s"
        )
        # octosim builds an instance's content lazily on its first request (CPU in the
        # simulator, not the client), so one untimed warm-up sweep comes first.
        wall, failures = asyncio.run(sweep(instances, args.concurrency))
        print(f"warm-up (octosim seeds every instance): wall {wall:.2f} s, failures {failures}")
        ratios = []
        for run in range(1, args.runs + 1):
            # A new client pool per run: connections are opened afresh every time.
            wall, failures = asyncio.run(sweep(instances, args.concurrency, args.transport))
            ratios.append(wall / ideal)
            print(
                f"run {run}: wall {wall:.2f} s, ideal {ideal:.2f} s, ratio {wall / ideal:.2f}, "
                f"failures {failures}"
            )
        ratios.sort()
        print(f"median ratio {ratios[len(ratios) // 2]:.2f} (target <= 1.5)")
        print(
            f"bench: client_fanout ratio={ratios[len(ratios) // 2]:.2f} "
            f"instances={args.instances} concurrency={args.concurrency}"
        )


if __name__ == "__main__":
    main()
