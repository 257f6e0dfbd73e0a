"""Dashboard and report API benchmark on PostgreSQL.

Builds a throw-away database (created and dropped here) with 1,000 spaces on 100
instances and 1,000,000 finished deployments over 90 days, rolled up exactly as the pull
does; serves ODCM with gunicorn (as the Procfile does) and times each page and report
with 8 concurrent clients, printing p50/p95 and the number of SQL queries each makes (for
all 1,000 spaces and for a one-instance filter: the two must be equal).

    .venv/bin/python bench/dashboard.py [--spaces 1000] [--instances 100]
                                        [--deployments 1000000] [--clients 8] [--requests 160]
    .venv/bin/python bench/dashboard.py --large     # 5,000 spaces, 500 instances, 10,000,000

The deployments are generated inside PostgreSQL (one INSERT … SELECT over generate_series,
then the rollups with INSERT … SELECT … GROUP BY): no row crosses the wire, so even the
10-million run sets up in minutes. ``--keep DB`` builds into (or reuses) a named database and
leaves it there; ``--profile PATH`` prints one uncached request's queries and profile.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._cpu import cpu_seconds  # noqa: E402
from bench._machine import describe  # noqa: E402
from bench._monitoring_db import (  # noqa: E402
    ROOT,
    create_database,
    database_exists,
    database_url,
    drop_database,
    migrate,
    setup_django,
)

GENERATE = """
WITH ids AS (SELECT array_agg(id ORDER BY id) AS a, count(*)::int AS n FROM spaces_space)
INSERT INTO monitoring_deploymenttask (space_id, task_id, day, environment_id, state,
                                       duration_seconds)
SELECT ids.a[1 + (g %% ids.n)], 'ServerTasks-' || g,
       current_date - (g * 7919 %% 91)::int, 'Environments-' || (1 + g %% 4),
       (ARRAY['Success','Success','Success','Success','Success','Success','Failed',
              'Canceled','TimedOut','Success'])[1 + (g * 31 %% 10)],
       60 + (g * 13 %% 840)
FROM generate_series(1::bigint, %(count)s) AS g, ids
"""
ROLLUP_ENV = """
INSERT INTO monitoring_deploymentday (space_id, day, environment_id, succeeded, failed,
    canceled, timed_out, total_duration_seconds)
SELECT space_id, day, environment_id,
    count(*) FILTER (WHERE state = 'Success'), count(*) FILTER (WHERE state = 'Failed'),
    count(*) FILTER (WHERE state = 'Canceled'), count(*) FILTER (WHERE state = 'TimedOut'),
    sum(duration_seconds)
FROM monitoring_deploymenttask GROUP BY space_id, day, environment_id
"""
ROLLUP_SPACE = """
INSERT INTO monitoring_spaceday (space_id, day, succeeded, failed, canceled, timed_out,
    total_duration_seconds)
SELECT space_id, day, sum(succeeded), sum(failed), sum(canceled), sum(timed_out),
    sum(total_duration_seconds)
FROM monitoring_deploymentday GROUP BY space_id, day
"""


def build(spaces: int, instances: int, deployments: int) -> None:
    from django.db import connection
    from django.utils import timezone

    from monitoring.models import InstanceMonitor, StatusFlip
    from odcm.crypto import seal
    from spaces.models import Instance, Space, Tag

    tag = Tag.objects.create(name="prod")
    now = timezone.now()
    made = []
    for n in range(instances):
        inst = Instance(
            name=f"octopus-{n:03d}",
            slug=f"octopus-{n:03d}",
            base_url=f"https://octopus-{n:03d}.example.com",
            region=["emea", "apac", "amer"][n % 3],
            status={8: "offline", 9: "maintenance"}.get(n % 10, "online"),
            status_since=now,
            version=["2024.4.1234", "2025.1.2001", "2023.3.13021"][n % 3],
        )
        seal(inst, "api_key", "API-BENCHMARK")
        made.append(inst)
    Instance.objects.bulk_create(made)
    tag.instances.add(*made)
    InstanceMonitor.objects.bulk_create(
        [InstanceMonitor(instance=i, pinned_version="2024.4.1234") for i in made]
    )
    flips = []
    for i in made:
        for k in range(20):  # a flappy quarter: 20 status changes per instance
            at = now - timedelta(hours=4 * 24 * 90 / 20 * (20 - k) / 4)
            flips.append(StatusFlip(instance=i, from_status="online", to_status="offline", at=at))
    StatusFlip.objects.bulk_create(flips, batch_size=2000)
    per = spaces // instances
    Space.objects.bulk_create(
        [
            Space(
                instance=inst,
                octopus_id=f"Spaces-{k}",
                name=f"Team {k:02d}",
                slug=f"{inst.slug}-team-{k:02d}",
                project_count=5 + k,
                target_count=10 + k,
                unhealthy_target_count=k % 3,
                environment_count=4,
                tenant_count=k,
            )
            for inst in made
            for k in range(1, per + 1)
        ],
        batch_size=1000,
    )
    with connection.cursor() as cursor:
        # Bulk load: no index to maintain row by row (rebuilt once afterwards, as a restore
        # would), no WAL for the scratch rows beyond what the database must write anyway.
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = "
            "'monitoring_deploymenttask' AND indexname NOT LIKE '%%pkey'"
        )
        indexes = cursor.fetchall()
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = "
            "'monitoring_deploymenttask'::regclass AND contype = 'u'"
        )
        uniques = cursor.fetchall()
        for name, _ in uniques:
            cursor.execute(f'ALTER TABLE monitoring_deploymenttask DROP CONSTRAINT "{name}"')
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX IF EXISTS "{name}"')
        cursor.execute(GENERATE, {"count": deployments})
        for name, definition in uniques:
            cursor.execute(
                f'ALTER TABLE monitoring_deploymenttask ADD CONSTRAINT "{name}" {definition}'
            )
        for _name, definition in indexes:
            if not any(_name == u for u, _ in uniques):
                cursor.execute(definition.replace("CREATE INDEX", "CREATE INDEX IF NOT EXISTS"))
        cursor.execute(ROLLUP_ENV)
        cursor.execute(ROLLUP_SPACE)
        cursor.execute("VACUUM ANALYZE")  # as autovacuum would: index-only scans


def query_counts(paths: dict[str, str]) -> dict[str, int]:
    """SQL queries per request on the uncached path."""
    from django.conf import settings
    from django.db import connection

    settings.ODCM_DASHBOARD_CACHE_SECONDS = 0
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from identity.models import User

    client = Client()
    client.force_login(User.objects.get(username="bench-admin"))
    counts = {}
    for name, path in paths.items():
        headers: dict[str, Any] = {"HTTP_HX_REQUEST": "true"} if "part=table" in path else {}
        client.get(path, **headers)  # warm
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(path, **headers)
        assert response.status_code == 200, (path, response.status_code)
        counts[name] = len(ctx.captured_queries)
    return counts


def _buffers(plan: list[str]) -> int:
    """Shared buffers (8 KiB pages) the whole statement touched: its top line's total."""
    for line in plan:
        if "Buffers:" in line:
            return sum(
                int(part.split("=")[1]) for part in line.split(":")[1].split() if "=" in part
            )
    return 0


def work(paths: dict[str, str]) -> dict[str, tuple[int, int, float, float]]:
    """Work per uncached request that a busy machine cannot distort: SQL statements, the
    database pages they touched (EXPLAIN (ANALYZE, BUFFERS) of each captured statement) and
    the CPU time of this process serving it (the median of 5) and of its PostgreSQL backend
    (the mean of the same 5: /proc counts in 10 ms ticks)."""
    from django.conf import settings
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    from identity.models import User

    settings.ODCM_DASHBOARD_CACHE_SECONDS = 0
    admin = User.objects.get(username="bench-admin")
    page, api = Client(), APIClient()
    page.force_login(admin)
    api.force_authenticate(admin)
    out = {}
    print("work per uncached request (load-independent):")
    print(f"  {'endpoint':40} {'queries':>7} {'pages read':>10} {'CPU ms':>8} {'PG CPU ms':>8}")
    for name, path in paths.items():
        client: Any = api if path.startswith("/api/") else page
        headers: dict[str, Any] = {"HTTP_HX_REQUEST": "true"} if "part=table" in path else {}
        client.get(path, **headers)
        reset_queries()  # the log is a bounded deque: a full one would capture nothing
        with CaptureQueriesContext(connection) as ctx:
            client.get(path, **headers)
        # Copied now: the next request's request_started signal empties the query log.
        sqls = [q["sql"] for q in ctx.captured_queries]
        pages = 0
        with connection.cursor() as cursor:
            for sql in sqls:
                if sql.lstrip().upper().startswith("SELECT"):
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT TEXT) " + sql)
                    pages += _buffers([r[0] for r in cursor.fetchall()])
        cpu = []
        backend = _backend_pid()
        pg_before = cpu_seconds([backend])
        for _ in range(5):
            started = time.process_time()
            client.get(path, **headers)
            cpu.append(1000 * (time.process_time() - started))
        pg_ms = 1000 * (cpu_seconds([backend]) - pg_before) / 5
        out[name] = (len(sqls), pages, statistics.median(cpu), pg_ms)
        print(f"  {name:40} {out[name][0]:7d} {pages:10,d} {out[name][2]:8.1f} {pg_ms:8.1f}")
    return out


def _backend_pid() -> int:
    """This connection's PostgreSQL backend (its CPU is read from /proc: 0 when PostgreSQL
    runs on another machine)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def _rollup_rows(plan: list[str]) -> int:
    """Rows the plan's scans of the space/day rollups returned (rows x loops)."""
    total = 0
    for line in plan:
        if "on monitoring_spaceday" in line and "actual time" in line:
            actual = line.rsplit("(actual", 1)[1]
            rows = int(actual.split("rows=")[1].split()[0])
            loops = int(actual.split("loops=")[1].split(")")[0])
            total += rows * loops
    return total


def _explain(sql: str, params: Any) -> tuple[int, int, float]:
    """(pages touched, rollup rows read, fastest execution ms of 3) of one statement, by
    EXPLAIN (ANALYZE, BUFFERS)."""
    from django.db import connection

    best = float("inf")
    with connection.cursor() as cursor:
        for _ in range(3):
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
            plan = [r[0] for r in cursor.fetchall()]
            ms = next(float(x.split(":")[1].split()[0]) for x in plan if "Execution Time" in x)
            best = min(best, ms)
    return _buffers(plan), _rollup_rows(plan), best


def window_work() -> dict[str, int]:
    """The window sums both ways, per window length: the plain sum over the window's rollup
    rows (before issue 13) against the running totals (two probes per space). Pages touched
    do not depend on the machine's load; the milliseconds do."""
    from datetime import date, timedelta

    from django.db.models import F

    from identity.models import User
    from monitoring.services import dashboard, windows
    from spaces.models import Space

    admin = User.objects.get(username="bench-admin")
    visible = dashboard.spaces_for(admin, dashboard.Filters()).values("pk")
    inner, inner_params = visible.query.sql_with_params()
    plain = (
        "SELECT sum(succeeded), sum(failed + timed_out), sum(canceled) FROM monitoring_spaceday"
        f" WHERE day >= %s AND day <= %s AND space_id IN ({inner})"
    )
    running = windows._TOTALS.format(space="spaces_space", day="monitoring_spaceday", visible=inner)
    print("window sums over all spaces: rollup rows read, pages touched, fastest ms of 3")
    print(f"  {'window':7} {'totals: plain sum':>29} {'running totals':>29} "
          f"{'table by failed: plain':>29} {'running':>29}")  # fmt: skip
    out = {}
    today = date.today()

    def cell(figures: tuple[int, int, float]) -> str:
        return f"{figures[1]:8,d} r {figures[0]:6,d} p {figures[2]:6.1f} ms"

    for days in (1, 7, 30, 90, 400):
        first = today - timedelta(days=days)
        a = _explain(plain, [first, today, *inner_params])
        b = _explain(running, [today, first, *inner_params])
        rows = []
        for fast in (False, True):
            qs = (
                Space.objects.filter(pk__in=visible)
                .annotate(**windows.figures(first, today, fast=fast))
                .order_by(F("failed").desc(), "pk")  # type: ignore[misc]
                .values("pk", "succeeded", "failed", "canceled")[:100]
            )
            rows.append(_explain(*qs.query.sql_with_params()))
        print(f"  {days:4d} d {cell(a):>29} {cell(b):>29} {cell(rows[0]):>29} {cell(rows[1]):>29}")
        out[f"plain_{days}d"], out[f"running_{days}d"] = a[1], b[1]
    return out


def server_times(paths: dict[str, str], rounds: int, cache_seconds: int = 0) -> dict[str, float]:
    """p95 of each request handled in-process one at a time (uncached unless
    ``cache_seconds``): the work a request costs, without the queueing that 8 clients on a
    shared 2-core machine add."""
    from django.conf import settings
    from django.test import Client
    from rest_framework.test import APIClient

    from identity.models import User

    settings.ODCM_DASHBOARD_CACHE_SECONDS = cache_seconds
    admin = User.objects.get(username="bench-admin")
    page, api = Client(), APIClient()
    page.force_login(admin)
    api.force_authenticate(admin)
    out = {}
    cache = f"cache {cache_seconds} s" if cache_seconds else "no cache"
    print(f"in-process, one request at a time, {cache} ({rounds} rounds):")
    for name, path in paths.items():
        client: Any = api if path.startswith("/api/") else page
        headers: dict[str, Any] = {"HTTP_HX_REQUEST": "true"} if "part=table" in path else {}
        client.get(path, **headers)
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            client.get(path, **headers)
            times.append(time.perf_counter() - started)
        out[name] = 1000 * percentile(times, 0.95)
        print(f"  {name:40} p50 {1000 * statistics.median(times):8.1f}  p95 {out[name]:8.1f}")
    return out


def profile(path: str) -> None:
    import cProfile
    import pstats

    from django.conf import settings
    from django.test import Client

    from identity.models import User

    settings.ODCM_DASHBOARD_CACHE_SECONDS = 0  # profile the uncached path
    client = Client()
    client.force_login(User.objects.get(username="bench-admin"))
    headers: dict[str, Any] = {"HTTP_HX_REQUEST": "true"} if "part=table" in path else {}
    if path.startswith("/api/"):
        from rest_framework.test import APIClient

        client = APIClient()
        client.force_authenticate(User.objects.get(username="bench-admin"))
    client.get(path, **headers)
    started = time.perf_counter()
    client.get(path, **headers)
    print(f"one GET {path}: {1000 * (time.perf_counter() - started):.0f} ms")
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        started = time.perf_counter()
        client.get(path, **headers)
        print(f"again: {1000 * (time.perf_counter() - started):.0f} ms")
    for q in ctx.captured_queries:
        print(f"  {float(q['time']) * 1000:7.1f} ms  {q['sql'][:150]}")
    if os.environ.get("BENCH_EXPLAIN"):
        with connection.cursor() as cursor:
            for q in ctx.captured_queries:
                if "monitoring_" in q["sql"] or "spaces_" in q["sql"]:
                    cursor.execute("EXPLAIN ANALYZE " + q["sql"])
                    print("\n".join(r[0] for r in cursor.fetchall()))
    with cProfile.Profile() as prof:
        client.get(path, **headers)
    pstats.Stats(prof).sort_stats("tottime").print_stats(15)


def timed(url: str, headers: dict[str, str], clients: int, total: int) -> list[float]:
    import httpx

    times: list[float] = []
    lock = threading.Lock()
    left = [total]

    def worker() -> None:
        with httpx.Client(headers=headers, timeout=60, trust_env=False) as http:
            http.get(url)  # warm this connection
            while True:
                with lock:
                    if left[0] <= 0:
                        return
                    left[0] -= 1
                started = time.perf_counter()
                response = http.get(url)
                elapsed = time.perf_counter() - started
                assert response.status_code == 200, (url, response.status_code)
                with lock:
                    times.append(elapsed)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return times


def serve(db: str, workers: int, cache_seconds: str) -> tuple[subprocess.Popen[bytes], int]:
    import httpx

    from tests.fixtures.processes import free_port

    port = free_port()
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        ODCM_TEST_DATABASE_URL=database_url(db),
        ODCM_DASHBOARD_CACHE_SECONDS=cache_seconds,
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "odcm.wsgi", "--bind", f"127.0.0.1:{port}",
         "--workers", str(workers), "--threads", "4", "--log-level", "warning",
         "--access-logfile", "/dev/null"],
        cwd=ROOT, env=env, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 180  # a busy machine boots three workers slowly
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10, trust_env=False)
            return server, port
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                server.kill()
                raise
            time.sleep(0.3)


def run_endpoints(
    port: int,
    paths: dict[str, str],
    token: str,
    session_key: str,
    args: argparse.Namespace,
    all_counts: dict[str, int],
    one: dict[str, int],
) -> dict[str, float]:
    """Measure each endpoint; returns its p95 in ms."""
    p95: dict[str, float] = {}
    print(f"{'endpoint':40} {'p50 ms':>8} {'p95 ms':>8} {'queries':>8} {'1-instance':>10}")
    for name, path in paths.items():
        headers = {"Host": "127.0.0.1"}
        if path.startswith("/api/"):
            headers["Authorization"] = f"Bearer {token}"
        else:
            headers["Cookie"] = f"sessionid={session_key}"
        if "part=table" in path:
            headers["HX-Request"] = "true"
        times = timed(f"http://127.0.0.1:{port}{path}", headers, args.clients, args.requests)
        p95[name] = 1000 * percentile(times, 0.95)
        print(
            f"{name:40} {1000 * statistics.median(times):8.1f} "
            f"{1000 * percentile(times, 0.95):8.1f} {all_counts[name]:8d} {one[name]:10d}"
        )
    return p95


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spaces", type=int, default=1000)
    parser.add_argument("--instances", type=int, default=100)
    parser.add_argument("--deployments", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=160)
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers")
    parser.add_argument("--rounds", type=int, default=30, help="in-process timings per path")
    parser.add_argument(
        "--large",
        action="store_true",
        help="the fleet-size run: 5,000 spaces on 500 instances, 10,000,000 deployments",
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="skip gunicorn and the concurrent clients: in-process figures only (a busy machine)",
    )
    parser.add_argument("--profile", help="profile one in-process GET of this path, then stop")
    parser.add_argument(
        "--keep",
        metavar="DB",
        help="build into (or reuse) this database and keep it: for profiling again and again",
    )
    args = parser.parse_args()
    if args.large:
        args.spaces, args.instances, args.deployments = 5000, 500, 10_000_000
    db = args.keep or f"odcm_bench_dashboard_{os.getpid()}"
    reuse = bool(args.keep) and database_exists(db)
    if not reuse:
        create_database(db)
    server: Any = None
    try:
        setup_django(db, os.environ.get("ODCM_TEST_REDIS_URL", "redis://127.0.0.1:6379/4"))
        migrate()
        if reuse:
            from django.db import connection

            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE")  # a migration may have rewritten rows
        if not reuse:
            started = time.perf_counter()
            build(args.spaces, args.instances, args.deployments)
            print(f"built {args.spaces} spaces, {args.deployments:,} deployments in "
                  f"{time.perf_counter() - started:.1f}s")  # fmt: skip
        from django.contrib.sessions.backends.db import SessionStore

        from identity.models import User
        from identity.services.tokens import create_token
        from monitoring.models import DeploymentDay, SpaceDay

        print(f"rollups: {DeploymentDay.objects.count():,} space/day/environment rows, "
              f"{SpaceDay.objects.count():,} space/day rows")  # fmt: skip
        admin = User.objects.filter(username="bench-admin").first() or (
            User.objects.create_superuser("bench-admin", "bench@example.com", "x" * 20)
        )
        token = create_token(admin, name="bench")[1]
        session = SessionStore()
        session["_auth_user_id"] = str(admin.pk)
        session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
        session["_auth_user_hash"] = admin.get_session_auth_hash()
        session.create()
        paths = {
            "dashboard page (30 d)": "/?tf=30d",
            "dashboard refresh (htmx table, 30 d)": "/?tf=30d&part=table",
            "report API spaces (90 d)": "/api/v1/reports/spaces/?tf=90d",
            "report API deployments (90 d)": "/api/v1/reports/deployments/?tf=90d",
            "report API versions": "/api/v1/reports/versions/",
        }
        if args.profile:
            profile(args.profile)
            return
        all_counts = query_counts(paths)
        one = query_counts({k: v + ("&" if "?" in v else "?") + "instance=octopus-001"
                            for k, v in paths.items()})  # fmt: skip
        print(f"machine: {describe()}; load average before: {os.getloadavg()[0]:.1f}")
        sums = window_work()
        effort = work(paths)
        alone = server_times(paths, args.rounds)
        page, apis = "dashboard page (30 d)", [k for k in paths if k.startswith("report API")]
        if args.in_process:
            cached = server_times({page: paths[page]}, args.rounds, cache_seconds=30)
            print(
                f"bench: dashboard spaces={args.spaces} deployments={args.deployments} "
                f"mode=in-process "
                f"uncached_page_p95_ms={alone[page]:.1f} "
                f"uncached_api_p95_ms={max(alone[k] for k in apis):.1f} "
                f"cached_page_p95_ms={cached[page]:.1f} "
                f"page_db_pages={effort[page][1]} api_db_pages={max(effort[k][1] for k in apis)} "
                f"page_cpu_ms={effort[page][2]:.1f} "
                f"api_cpu_ms={max(effort[k][2] for k in apis):.1f} "
                f"page_pg_cpu_ms={effort[page][3]:.1f} "
                f"api_pg_cpu_ms={max(effort[k][3] for k in apis):.1f} "
                f"sum90d_rows_plain={sums['plain_90d']} sum90d_rows_running={sums['running_90d']}"
            )
            return
        from django.db import connections

        connections.close_all()

        print(f"machine: {describe()}")
        print(f"{args.clients} concurrent clients; {args.requests} requests per endpoint; "
              f"gunicorn {args.workers} workers x 4 threads; {os.cpu_count()} cores; "
              f"load average before: {os.getloadavg()[0]:.1f}")  # fmt: skip
        figures: dict[str, dict[str, float]] = {}
        for cache_seconds in ("30", "0"):
            label = "cached figures (default)" if cache_seconds != "0" else "no cache"
            print(f"-- {label}: ODCM_DASHBOARD_CACHE_SECONDS={cache_seconds}")
            server = serve(db, args.workers, cache_seconds)
            try:
                figures[cache_seconds] = run_endpoints(
                    server[1], paths, token, session.session_key or "", args, all_counts, one
                )
            finally:
                server[0].terminate()
                try:
                    server[0].wait(timeout=120)  # a saturated machine stops workers slowly
                except subprocess.TimeoutExpired:
                    server[0].kill()
                    server[0].wait()
        server = None
        print(
            f"bench: dashboard spaces={args.spaces} deployments={args.deployments} "
            f"uncached_page_p95_ms={figures['0'][page]:.1f} "
            f"uncached_api_p95_ms={max(figures['0'][k] for k in apis):.1f} "
            f"cached_page_p95_ms={figures['30'][page]:.1f} "
            f"uncached_page_server_p95_ms={alone[page]:.1f} "
            f"uncached_api_server_p95_ms={max(alone[k] for k in apis):.1f} "
            f"page_db_pages={effort[page][1]} api_db_pages={max(effort[k][1] for k in apis)} "
            f"page_cpu_ms={effort[page][2]:.1f} api_cpu_ms={max(effort[k][2] for k in apis):.1f} "
            f"page_pg_cpu_ms={effort[page][3]:.1f} "
            f"api_pg_cpu_ms={max(effort[k][3] for k in apis):.1f} "
            f"sum90d_rows_plain={sums['plain_90d']} sum90d_rows_running={sums['running_90d']}"
        )
    finally:
        if server is not None:
            server[0].terminate()
        from django.db import connections

        connections.close_all()
        if not args.keep:
            drop_database(db)


if __name__ == "__main__":
    main()
