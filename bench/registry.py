"""Registry benchmark on PostgreSQL.

1. Enlisting one octosim instance with 1,000 spaces (wall time, real HTTP).
2. The All spaces tiles page, the spaces API list and the switcher with 5,000 spaces on 200
   instances: server time (the request handled inside Django, no network) p50/p95, the
   number of SQL queries and the CPU per request of the Django process and of its
   PostgreSQL backend (what load does not distort), for an administrator and for a user
   who sees everything through group grants (the heavier access query), and again with 10
   times fewer spaces to show the query count does not grow.

The database (odcm_bench_registry) is created and dropped here.

    .venv/bin/python bench/registry.py [--spaces 5000] [--instances 200] [--requests 40]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._cpu import cpu_seconds  # noqa: E402
from bench._machine import describe  # noqa: E402

ADMIN_URL = os.environ.get("ODCM_BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
# Per process: two runs at once (several engineers share a machine) must not drop each other.
DB_NAME = f"odcm_bench_registry_{os.getpid()}"


def _db(sql: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.encode())


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["ODCM_TEST_DATABASE_URL"] = ADMIN_URL.rsplit("/", 1)[0] + "/" + DB_NAME
    os.environ["ODCM_TEST_REDIS_URL"] = os.environ.get(
        "ODCM_BENCH_REDIS_URL", "redis://127.0.0.1:6379/3"
    )
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"  # HTTP to 127.0.0.1 allowed
    os.environ.setdefault("ODCM_LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def bench_enlist(spaces: int) -> None:
    from octosim.testing import SimServer
    from spaces import services
    from spaces.models import Instance

    with SimServer(instances=0, seed=1) as sim:
        inst = sim.create_instance("big", spaces=spaces)
        started = time.perf_counter()
        import httpx

        httpx.get(inst.url + "/api", timeout=120, trust_env=False)  # octosim builds it lazily
        warm = time.perf_counter() - started
        started = time.perf_counter()
        row = services.enlist_instance(name="Big", base_url=inst.url, api_key=inst.api_key)
        took = time.perf_counter() - started
        count = row.spaces.count()
        requests = inst.stats()["total"]
        Instance.objects.filter(pk=row.pk).delete()
    print(f"enlist: {count} spaces in {took:.2f} s ({requests} HTTP requests to octosim; "
          f"octosim's own lazy generation beforehand: {warm:.2f} s)")  # fmt: skip


def build(spaces: int, instances: int, prefix: str) -> tuple[Any, Any]:
    from identity import services as identity_services
    from identity.models import Role, User
    from odcm.crypto import seal
    from spaces import services
    from spaces.models import Favourite, Instance, Space, Tag

    tags = [Tag.objects.get_or_create(name=n)[0] for n in ("prod", "test", "emea", "apac")]
    made = []
    for n in range(instances):
        inst = Instance(name=f"{prefix}-{n:03d}", slug=f"{prefix}-{n:03d}",
                        base_url=f"https://{prefix}-{n:03d}.example.com",
                        region=["EMEA", "APAC", "NA"][n % 3], version="2024.4.1234",
                        status=Instance.Status.ONLINE)  # fmt: skip
        seal(inst, "api_key", "API-BENCHBENCHBENCHBENCH00")
        made.append(inst)
    Instance.objects.bulk_create(made)
    for n, inst in enumerate(made):
        inst.tags.set([tags[n % 4], tags[(n + 1) % 4]])
    rows = [
        Space(instance=made[i % instances], octopus_id=f"Spaces-{i}", name=f"Space {i:05d}",
              slug=f"space-{i}", project_count=i % 17, target_count=i % 23)
        for i in range(spaces)
    ]  # fmt: skip
    Space.objects.bulk_create(rows, batch_size=1000)
    admin = User.objects.create_superuser(username=f"{prefix}-admin", password="x")
    viewer = User.objects.create_user(username=f"{prefix}-viewer", password="x")
    group = identity_services.create_group(name=f"{prefix} viewers", members=[viewer])
    for inst in made:
        identity_services.grant(group, Role.VIEWER, instance=inst)
    for user in (admin, viewer):
        Favourite.objects.bulk_create(Favourite(user=user, space=s) for s in rows[:20])
        for s in rows[:50]:
            services.record_visit(user, s)
    return admin, viewer


def _pages_read(sqls: list[str]) -> int:
    """Database pages (8 KiB, shared buffers hit or read) these SELECTs touch: a measure of
    the work a busy machine cannot distort."""
    from django.db import connection

    total = 0
    with connection.cursor() as cursor:
        for sql in sqls:
            if not sql.lstrip().upper().startswith("SELECT"):
                continue
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
            for (line,) in cursor.fetchall():
                if "Buffers:" in line:  # the top node's: the whole statement
                    counts = line.split(":", 1)[1].split()
                    total += sum(int(c.split("=")[1]) for c in counts if "=" in c)
                    break
    return total


def measure(user: Any, url: str, requests: int, api: bool) -> dict[str, Any]:
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    client: Any = APIClient() if api else Client()
    client.force_login(user)
    reset_queries()  # the log is a bounded deque: a full one would capture nothing
    with CaptureQueriesContext(connection) as ctx:
        answer = client.get(url)
    assert answer.status_code == 200, (url, answer.status_code)
    # Copied now: the next request's request_started signal empties the query log.
    sqls = [q["sql"] for q in ctx.captured_queries]
    times, cpu = [], []
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = int(cursor.fetchone()[0])
    pg_before = cpu_seconds([backend])  # 0 if PostgreSQL runs on another machine
    for _ in range(requests):
        started, used = time.perf_counter(), time.process_time()
        answer = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - used) * 1000)
    pg_cpu = (cpu_seconds([backend]) - pg_before) * 1000 / max(1, requests)
    times.sort()
    return {
        "p50": statistics.median(times),
        "p95": times[min(len(times) - 1, int(len(times) * 0.95))],
        "queries": len(sqls),
        "size": len(answer.content),
        "cpu": statistics.median(cpu),
        "pg_cpu": pg_cpu,
        "pages": _pages_read(sqls),
    }


PAGES = [
    ("tiles page", "/spaces/", False),
    ("spaces API (page of 50)", "/api/v1/spaces/", True),
    ("spaces API (page_size=500)", "/api/v1/spaces/?page_size=500", True),
    ("spaces API search", "/api/v1/spaces/?search=emea", True),
    ("switcher", "/spaces/switcher/", False),
    ("instances page", "/spaces/instances/", False),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spaces", type=int, default=5000)
    parser.add_argument("--instances", type=int, default=200)
    parser.add_argument("--enlist-spaces", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=40)
    args = parser.parse_args()
    print(f"machine: {describe()}")
    _db(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    _db(f'CREATE DATABASE "{DB_NAME}"')
    try:
        setup_django()
        if args.enlist_spaces:  # 0 skips it (octosim's lazy build is slow on a busy machine)
            bench_enlist(args.enlist_spaces)
        small = build(args.spaces // 10, args.instances // 10, "small")
        big = build(args.spaces, args.instances, "big")
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        print(
            f"\n{args.spaces} spaces on {args.instances} instances (queries: same at "
            f"{args.spaces // 10} spaces?), {args.requests} requests each, server time"
        )
        p95s: dict[tuple[str, str], float] = {}
        work: dict[tuple[str, str], dict[str, Any]] = {}
        for role, index in (("admin", 0), ("viewer via grants", 1)):
            for label, url, api in PAGES:
                got = measure(big[index], url, args.requests, api)
                small_queries = measure(small[index], url, 2, api)["queries"]
                same = "same" if small_queries == got["queries"] else f"DIFFERS: {small_queries}"
                p95s[(role, label)], work[(role, label)] = got["p95"], got
                print(f"  {role:18} {label:28} p50 {got['p50']:7.1f} ms  p95 {got['p95']:7.1f} ms"
                      f"  CPU {got['cpu']:6.1f} ms  PG CPU {got['pg_cpu']:5.1f} ms  "
                      f"{got['pages']:6d} pages  "
                      f"{got['queries']:2d} queries ({same})  "
                      f"{got['size'] / 1024:5.0f} KiB")  # fmt: skip
        page500, search = (
            ("admin", "spaces API (page_size=500)"),
            (
                "viewer via grants",
                "spaces API search",
            ),
        )
        print(
            f"bench: registry spaces={args.spaces} "
            f"spaces_page500_p95_ms={p95s[page500]:.1f} "
            f"grants_search_p95_ms={p95s[search]:.1f} "
            f"worst_p95_ms={max(p95s.values()):.1f} "
            f"spaces_page500_cpu_ms={work[page500]['cpu']:.1f} "
            f"grants_search_cpu_ms={work[search]['cpu']:.1f} "
            f"spaces_page500_pg_cpu_ms={work[page500]['pg_cpu']:.1f} "
            f"grants_search_pg_cpu_ms={work[search]['pg_cpu']:.1f} "
            f"spaces_page500_db_pages={work[page500]['pages']} "
            f"grants_search_db_pages={work[search]['pages']}"
        )
    finally:
        from django.db import connections

        connections.close_all()
        _db(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
