"""Sharing fan-out benchmark: one variable set pushed to many subscriber spaces.

Starts octosim (50 instances x 10 spaces = 500 subscriber spaces, plus a publisher instance)
answering every request after a fixed latency, enlists them in a scratch PostgreSQL database,
subscribes every space to a shared variable set of 200 variables (some sensitive, some scoped
by environment name) and starts one Celery worker with 4 processes. Then it measures three
pushes, each until every subscription is in sync:

    create   revision 1: the library variable sets do not exist yet
    update   revision 2: one value changed everywhere
    no-op    "push now" of revision 2 again: nothing to write

and prints wall time, the ideal (requests x latency / 100 requests in flight, issue 13), their
ratio (target <= 3 for update and no-op), requests per
delivery (from octosim's own counters) and the peak resident memory of each worker process.

    .venv/bin/python bench/fanout.py [--instances 50] [--spaces 10] [--variables 200]
                                     [--latency-ms 50] [--concurrency 4]

Needs PostgreSQL and Redis (ODCM_BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/odcm_bench_sharing, created if missing and emptied; and
ODCM_BENCH_REDIS_URL, default redis://127.0.0.1:6379/6, flushed).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import _worker as bench_worker  # noqa: E402
from bench._cpu import backends_of, children_of, cpu_seconds, idle_floor  # noqa: E402
from bench._machine import describe  # noqa: E402

DB_URL = os.environ.get(
    "ODCM_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/odcm_bench_sharing"
)
REDIS_URL = os.environ.get("ODCM_BENCH_REDIS_URL", "redis://127.0.0.1:6379/6")
ENV = {
    "DJANGO_SETTINGS_MODULE": "tests.settings",
    "ODCM_TEST_DATABASE_URL": DB_URL,
    "ODCM_TEST_REDIS_URL": REDIS_URL,
    "ODCM_VAR_DIR": str(ROOT / "var" / "bench"),
    "ODCM_LOG_LEVEL": "WARNING",
}
os.environ.update(ENV)
IN_FLIGHT = 100  # the ideal's requests in flight (issue 13)
TARGET_RATIO = 3.0


def prepare_database() -> None:
    import psycopg

    parts = urlsplit(DB_URL)
    name = parts.path.lstrip("/")
    admin = DB_URL.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()


def content(variables: int, value: str) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for n in range(variables):
        row: dict[str, Any] = {
            "key": f"v{n}",
            "name": f"Shared.Var{n:03d}",
            "value": f"{value}-{n}",
        }
        if n % 10 == 0:
            row.update(type="Sensitive", value=f"secret-{value}-{n}")
        if n % 3 == 1:
            row["scope"] = {"environments": ["Production"]}
        elif n % 3 == 2:
            row["scope"] = {"environments": ["Development", "Test"]}
        rows.append(row)
    return {"variables": rows}


def peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=50)
    parser.add_argument("--spaces", type=int, default=10)
    parser.add_argument("--variables", type=int, default=200)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--worker-log", default=str(ROOT / "var" / "bench" / "fanout-worker.log"))
    args = parser.parse_args()

    prepare_database()
    from django.conf import settings
    from django.utils.text import slugify

    from octosim.testing import SimServer
    from odcm.crypto import seal
    from sharing.models import SharedItem, Subscription, Trust
    from sharing.services import items, subscriptions
    from spaces.models import Instance, Space

    with SimServer(instances=0, seed=3) as sim:
        sims = [
            sim.create_instance(f"bench-{n:03d}", spaces=args.spaces) for n in range(args.instances)
        ]
        publisher_sim = sim.create_instance("bench-publisher", spaces=1)

        def enlist(one: Any) -> Instance:
            inst = Instance(name=one.slug, slug=one.slug, base_url=one.url)
            seal(inst, "api_key", one.api_key)
            inst.save()
            return inst

        from odcm.clients import client_for

        spaces = []
        for one in [*sims, publisher_sim]:
            inst = enlist(one)
            with client_for(inst) as client:  # also makes octosim seed the instance now
                for sp in client.spaces():
                    spaces.append(
                        Space(
                            instance=inst,
                            octopus_id=sp["Id"],
                            name=sp["Name"],
                            slug=slugify(sp["Name"]),
                        )
                    )
        Space.objects.bulk_create(spaces)
        publisher = Space.objects.get(instance__slug=publisher_sim.slug)
        targets = list(Space.objects.exclude(pk=publisher.pk))
        Trust.objects.bulk_create(
            Trust(publisher=publisher, subscriber=s, state=Trust.State.ACCEPTED) for s in targets
        )
        for one in sims:
            one.set_faults(latency_ms=args.latency_ms)

        item = items.create_item(publisher, SharedItem.Kind.VARIABLE_SET, "Bench set")
        for space in targets:
            subscriptions.subscribe(item, space)  # nothing to deliver yet (no revision)

        worker, log = bench_worker.start(
            args.worker_log, concurrency=args.concurrency, level="WARNING", env=ENV
        )
        # Worker start-up is not part of a push: wait until it consumes (never a sleep).
        ready_s = bench_worker.wait_ready(worker, REDIS_URL, args.worker_log)
        try:
            print(
                f"octosim: {args.instances} instances x {args.spaces} spaces = "
                f"{len(targets)} subscriber spaces, {args.latency_ms} ms latency; "
                f"{args.variables} variables; {args.concurrency} worker processes "
                f"(ready, answering a ping, after {ready_s:.1f} s: not in any figure)"
            )
            print(
                f"{'push':8} {'wall s':>8} {'ideal s':>8} {'ratio':>6} {'req/deliv':>10}   "
                "peak/inst   CPU s: workers octosim postgres bench"
            )
            groups = {
                "workers": lambda: [worker.pid, *children_of(worker.pid)],
                "octosim": lambda: [sim.process.pid] if sim.process else [],
                # only the backends of this database (the server is shared with others)
                "postgres": lambda: backends_of(urlsplit(DB_URL).path.lstrip("/")),
                "bench": lambda: [os.getpid()],
            }

            ratios: dict[str, float] = {}
            cpu_figures: dict[str, dict[str, float]] = {}
            peaks_in_flight: dict[str, int] = {}

            def push(label: str, action: Any, revision: int) -> None:
                for one in sims:
                    one.reset_stats()
                cpu_before = {k: cpu_seconds(f()) for k, f in groups.items()}
                started = time.monotonic()
                action()
                while True:
                    done = Subscription.objects.filter(
                        item=item, status=Subscription.Status.IN_SYNC, delivered_revision=revision
                    ).count()
                    if done == len(targets):
                        break
                    if time.monotonic() - started > 600:
                        raise bench_worker.Stalled(
                            f"{label}: {done}/{len(targets)} in sync after 600 s: "
                            + bench_worker.diagnose(REDIS_URL, worker, args.worker_log)
                        )
                    time.sleep(0.05)
                wall = time.monotonic() - started
                stats = [one.stats() for one in sims]
                requests = sum(one["total"] for one in stats)
                peak = max(one.get("peak_in_flight", 0) for one in stats)
                peaks_in_flight[label] = peak
                ideal = requests * args.latency_ms / 1000 / IN_FLIGHT
                used = {k: cpu_seconds(f()) - cpu_before[k] for k, f in groups.items()}
                cpu = " ".join(f"{v:7.1f}" for v in used.values())
                ratios[label] = wall / ideal
                deliveries = len(targets)
                cpu_figures[label] = {
                    "worker_ms_per_delivery": 1000 * used["workers"] / deliveries,
                    "octosim_ms_per_request": 1000 * used["octosim"] / max(1, requests),
                    "postgres_ms_per_delivery": 1000 * used["postgres"] / deliveries,
                    "idle_ratio_estimate": idle_floor(used, ideal, args.concurrency) / ideal,
                }
                print(
                    f"{label:8} {wall:8.2f} {ideal:8.2f} {wall / ideal:6.2f} "
                    f"{requests / len(targets):10.2f} {peak:9d}   {cpu}"
                )

            push("create", lambda: items.save_revision(item, content(args.variables, "one")), 1)
            push("update", lambda: items.save_revision(item, content(args.variables, "two")), 2)
            push("no-op", lambda: subscriptions.push_now(item), 2)
            for label in ("update", "no-op"):
                verdict = "OK" if ratios[label] <= TARGET_RATIO else "MISSED"
                print(f"target {label} ratio <= {TARGET_RATIO:.0f}: {verdict}")
            print(
                f"\n{'push':8} {'worker CPU ms/delivery':>23} {'octosim CPU ms/request':>23} "
                f"{'postgres CPU ms/delivery':>25} {'idle ratio (estimate)':>22}"
            )
            for label, fig in cpu_figures.items():
                print(
                    f"{label:8} {fig['worker_ms_per_delivery']:23.2f} "
                    f"{fig['octosim_ms_per_request']:23.2f} "
                    f"{fig['postgres_ms_per_delivery']:25.2f} {fig['idle_ratio_estimate']:22.2f}"
                )
            print(
                "CPU time is read from /proc (user+system) and is what load does not distort. "
                "idle ratio (estimate) = the CPU-bound floor on an idle machine of this size "
                "divided by the ideal: floor = max(ideal, octosim CPU (one process), worker CPU / "
                f"min({args.concurrency} processes, cores), all CPU / cores); not measured."
            )
            limit = settings.ODCM_OCTOPUS_PER_INSTANCE_CONCURRENCY
            print(
                "peak/inst: the most requests one Octopus instance answered at once "
                f"(limit ODCM_OCTOPUS_PER_INSTANCE_CONCURRENCY={limit} per worker process)"
            )
            load1, load5, load15 = os.getloadavg()
            print(f"machine: {describe()}")
            print(f"load average: {load1:.1f} {load5:.1f} {load15:.1f} on {os.cpu_count()} CPUs")
            peaks = [peak_mb(pid) for pid in children_of(worker.pid)]
            print(
                "peak RSS per worker process (MB): " + ", ".join(f"{p:.0f}" for p in sorted(peaks))
            )
            print(
                f"bench: fanout create_ratio={ratios['create']:.2f} "
                f"update_ratio={ratios['update']:.2f} noop_ratio={ratios['no-op']:.2f} "
                f"concurrency={args.concurrency} peak_worker_mb={max(peaks, default=0):.0f} "
                f"peak_in_flight_per_instance={max(peaks_in_flight.values())} "
                f"worker_cpu_ms_per_delivery={cpu_figures['update']['worker_ms_per_delivery']:.2f} "
                "noop_worker_cpu_ms_per_delivery="
                f"{cpu_figures['no-op']['worker_ms_per_delivery']:.2f} "
                f"octosim_cpu_ms_per_request={cpu_figures['update']['octosim_ms_per_request']:.2f} "
                "update_idle_ratio_estimate="
                f"{cpu_figures['update']['idle_ratio_estimate']:.2f} "
                f"noop_idle_ratio_estimate={cpu_figures['no-op']['idle_ratio_estimate']:.2f} "
                f"worker_ready_s={ready_s:.1f}"
            )
        finally:
            bench_worker.stop(worker, log)


if __name__ == "__main__":
    main()
