"""Status-sweep benchmark: one full ``sweep_status`` over N octosim instances.

Starts octosim with N instances that answer after a fixed latency, enlists them in a
throw-away database (created and dropped here), runs one untimed warm-up sweep (octosim
builds each instance on first touch; every instance flips unknown -> online), then times
steady-state sweeps in a fresh child process and prints, per run: wall time, the ideal
(instances x requests per instance x latency / concurrency), their ratio, the child's CPU
seconds, and its peak memory; plus the CPU share of one core when sweeping every 60 s.

    .venv/bin/python bench/sweep.py [--instances 1000] [--latency-ms 100]
                                    [--concurrency 100] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._machine import describe  # noqa: E402
from bench._monitoring_db import create_database, drop_database, migrate, setup_django  # noqa: E402

# root document, health, ping; then the task queue: server nodes and active tasks
REQUESTS_PER_INSTANCE = 5


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of another process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def enlist(sims: list[Any]) -> None:
    from odcm.crypto import seal
    from spaces.models import Instance

    rows = []
    for sim in sims:
        inst = Instance(name=sim.name, slug=sim.slug, base_url=sim.url, region="bench")
        seal(inst, "api_key", sim.api_key)
        rows.append(inst)
    Instance.objects.bulk_create(rows, batch_size=500)


def child(runs: int) -> None:
    """Runs in a fresh process so CPU and peak memory are the sweep's own."""
    from monitoring.services.status import sweep_status

    results = []
    for _ in range(runs):
        cpu0 = time.process_time()
        wall0 = time.perf_counter()
        summary = sweep_status(force=True)
        results.append(
            {
                "wall": time.perf_counter() - wall0,
                "cpu": time.process_time() - cpu0,
                "summary": summary,
                "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    print(json.dumps(results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--db", default=f"odcm_bench_sweep_{os.getpid()}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ["ODCM_SWEEP_CONCURRENCY"] = str(args.concurrency)
    if args.child:
        setup_django(args.db)
        child(args.runs)
        return

    from octosim.testing import SimServer

    create_database(args.db)
    try:
        setup_django(args.db)
        migrate()
        with SimServer(instances=args.instances, seed=1, latency_ms=args.latency_ms) as sim:
            enlist(sim.instances)
            from monitoring.services.status import sweep_status

            started = time.perf_counter()
            warm = sweep_status(force=True)
            print(f"warm-up sweep: {time.perf_counter() - started:.2f}s {warm}")
            from django.db import connections

            connections.close_all()
            sim_cpu0 = process_cpu(sim.process.pid)  # type: ignore[union-attr]
            out = subprocess.run(
                [sys.executable, __file__, "--child", "--runs", str(args.runs), "--db", args.db,
                 "--concurrency", str(args.concurrency)],
                check=True, capture_output=True, text=True, env=dict(os.environ),
            )  # fmt: skip
            results = json.loads(out.stdout.strip().splitlines()[-1])
            sim_cpu = process_cpu(sim.process.pid) - sim_cpu0  # type: ignore[union-attr]
        ideal = args.instances * REQUESTS_PER_INSTANCE * args.latency_ms / 1000 / args.concurrency
        print(
            f"instances={args.instances} latency={args.latency_ms}ms "
            f"concurrency={args.concurrency} ideal={ideal:.2f}s; machine: {describe()}"
        )
        print(f"octosim (same machine) used {sim_cpu:.2f} CPU seconds over the {len(results)} runs")
        for n, r in enumerate(results, 1):
            print(
                f"run {n}: wall {r['wall']:.2f}s  ratio {r['wall'] / ideal:.2f}  "
                f"cpu {r['cpu']:.2f}s  peak {r['peak_mb']:.0f} MB  "
                f"one core every 60 s: {100 * r['cpu'] / 60:.1f}%  {r['summary']}"
            )
        ratio = statistics.median(r["wall"] / ideal for r in results)
        share = statistics.median(100 * r["cpu"] / 60 for r in results)
        peak = max(r["peak_mb"] for r in results)
        print(
            f"bench: sweep instances={args.instances} ratio={ratio:.2f} "
            f"cpu_share_60s={share:.1f}% peak_mb={peak:.0f}"
        )
    finally:
        from django.db import connections

        connections.close_all()
        drop_database(args.db)


if __name__ == "__main__":
    main()
