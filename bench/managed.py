"""Managed-spaces benchmark: a template project pushed to many spaces; a blueprint planned.

Starts octosim (50 instances x 10 spaces = 500 managed spaces, plus a management instance)
answering every request after a fixed latency, enlists them in a scratch PostgreSQL database,
builds a template project in the management space (30 steps, 200 variables of which every
tenth is sensitive, 3 runbooks), and starts one Celery worker with ``--concurrency``
processes. Then it measures three pushes, each until every downstream is in sync:

    first    revision 1: the project does not exist in any space yet
    update   revision 2: one step changed upstream (three-way merge, one PUT of the process)
    no-op    revision 2 pushed again: reads only

and a blueprint plan (8 kinds, read-only) over the same spaces from the web process. It
prints wall time, the ideal (requests x latency / concurrency), their ratio and requests per
space by method (from octosim's own counters).

    .venv/bin/python bench/managed.py [--instances 50] [--spaces 10] [--latency-ms 50]
                                      [--concurrency 4] [--steps 30] [--variables 200]

Needs PostgreSQL and Redis (ODCM_BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/odcm_bench_managed, created if missing and emptied; and
ODCM_BENCH_REDIS_URL, default redis://127.0.0.1:6379/6, flushed).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import _worker as bench_worker  # noqa: E402
from bench._machine import describe  # noqa: E402

DB_URL = os.environ.get(
    "ODCM_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/odcm_bench_managed"
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


def prepare_database() -> None:
    import psycopg

    name = urlsplit(DB_URL).path.lstrip("/")
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


def _kind(key: str) -> str:
    """``GET /api/Spaces-3/runbookProcesses/RunbookProcess-7?x=1`` -> ``GET runbookProcesses/{id}``:
    the resource kind a request read or wrote, whatever the space and ids."""
    method, _, path = key.partition(" ")
    parts = [p for p in path.split("?")[0].split("/") if p][1:]  # drop "api"
    if parts and re.fullmatch(r"Spaces-\d+", parts[0]):
        parts = parts[1:]
    parts = ["{id}" if re.search(r"-\d+$", p) else p for p in parts]
    return f"{method} {'/'.join(parts)}"


def _step(name: str, script: str) -> dict[str, Any]:
    action = {
        "Name": name,
        "ActionType": "Octopus.Script",
        "Properties": {"Octopus.Action.Script.ScriptBody": script},
    }
    return {"Name": name, "Actions": [action]}


def build_template(client: Any, steps: int, variables: int) -> None:
    s = "/api/Spaces-1"
    # Every space has the defaults: a template built on them has no missing dependency.
    group = next(
        g for g in client.get_all(f"{s}/projectgroups") if g["Name"] == "Default Project Group"
    )
    lifecycle = next(
        lc for lc in client.get_all(f"{s}/lifecycles") if lc["Name"] == "Default Lifecycle"
    )
    project = client.post(
        f"{s}/projects",
        {"Name": "Bench App", "ProjectGroupId": group["Id"], "LifecycleId": lifecycle["Id"]},
    )
    process = client.get(f"{s}/deploymentprocesses/{project['DeploymentProcessId']}")
    process["Steps"] = [_step(f"Step {n:02d}", f"echo {n}") for n in range(steps)]
    client.put(f"{s}/deploymentprocesses/{process['Id']}", process)
    for n in range(3):
        rb = client.post(f"{s}/runbooks", {"Name": f"Runbook {n}", "ProjectId": project["Id"]})
        rbp = client.get(f"{s}/runbookProcesses/{rb['RunbookProcessId']}")
        rbp["Steps"] = [_step(f"RB {n} step {m}", f"echo {m}") for m in range(3)]
        client.put(f"{s}/runbookProcesses/{rbp['Id']}", rbp)
    vset = client.get(f"{s}/variables/{project['VariableSetId']}")
    vset["Variables"] = [
        {"Name": f"Var.{n:03d}", "Value": f"v{n}", "IsSensitive": n % 10 == 0}
        | ({"Type": "Sensitive"} if n % 10 == 0 else {})
        for n in range(variables)
    ]
    client.put(f"{s}/variables/{vset['Id']}", vset)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=50)
    parser.add_argument("--spaces", type=int, default=10)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--variables", type=int, default=200)
    parser.add_argument("--timeout", type=int, default=1200, help="seconds per run before a stall")
    parser.add_argument("--worker-log", default=str(ROOT / "var" / "bench" / "managed-worker.log"))
    args = parser.parse_args()

    prepare_database()
    from django.utils.text import slugify

    from managed.models import Downstream
    from managed.services import blueprints, broker, templates
    from octosim.testing import SimServer
    from odcm.clients import client_for
    from odcm.crypto import seal
    from spaces.models import Instance, Space

    with SimServer(instances=0, seed=3) as sim:
        sims = [
            sim.create_instance(f"bench-{n:03d}", spaces=args.spaces) for n in range(args.instances)
        ]
        mgmt_sim = sim.create_instance("bench-mgmt", spaces=1)
        rows = []
        for one in [*sims, mgmt_sim]:
            inst = Instance(name=one.slug, slug=one.slug, base_url=one.url)
            seal(inst, "api_key", one.api_key)
            inst.save()
            with client_for(inst) as client:
                for sp in client.spaces():
                    rows.append(
                        Space(instance=inst, octopus_id=sp["Id"], name=f"{sp['Name']} {one.slug}",
                              slug=slugify(sp["Name"]))
                    )  # fmt: skip
                if one is mgmt_sim:
                    build_template(client, args.steps, args.variables)
        Space.objects.bulk_create(rows)
        mgmt = Space.objects.get(instance__slug=mgmt_sim.slug)
        targets = list(Space.objects.exclude(pk=mgmt.pk).select_related("instance"))
        template = templates.mark_template(mgmt, "Bench App")
        templates.set_secret_values(
            template, {f"Var.{n:03d}": f"secret-{n}" for n in range(0, args.variables, 10)}
        )
        for space in targets:
            templates.add_downstream(
                template, space, overrides={"variables": {"Var.001": space.slug}}
            )
        for one in sims:
            one.set_faults(latency_ms=args.latency_ms)

        # The worker logs to a file: a pipe nobody reads fills at 64 KiB and stalls a task.
        worker, log = bench_worker.start(
            args.worker_log, concurrency=args.concurrency, level="WARNING", env=ENV
        )
        time.sleep(4)  # worker start-up is not part of a push
        n = len(targets)
        ratios: dict[str, float] = {}
        per_space: dict[str, float] = {}
        max_per_kind: dict[str, float] = {}
        try:
            print(
                f"octosim: {args.instances} instances x {args.spaces} spaces = {n} managed "
                f"spaces, {args.latency_ms} ms latency; template: {args.steps} steps, "
                f"{args.variables} variables, 3 runbooks; {args.concurrency} worker processes"
            )
            print(
                f"{'run':8} {'wall s':>8} {'ideal s':>8} {'ratio':>6} {'req/space':>9}  by method"
            )

            def measure(label: str, action: Any, done: Any, concurrency: int) -> None:
                for one in sims:
                    one.reset_stats()
                started = time.monotonic()
                action()
                while not done():
                    if time.monotonic() - started > args.timeout:
                        raise bench_worker.Stalled(
                            f"{label}: not settled after {args.timeout} s: "
                            + bench_worker.diagnose(REDIS_URL, worker, args.worker_log)
                        )
                    time.sleep(0.05)
                wall = time.monotonic() - started
                methods: Counter[str] = Counter()
                kinds: Counter[str] = Counter()
                for one in sims:
                    stats = one.stats()
                    methods.update(stats["by_method"])
                    for key, count in stats["by_path"].items():
                        kinds[_kind(key)] += count
                requests = sum(methods.values())
                ideal = requests * args.latency_ms / 1000 / concurrency
                ratios[label] = wall / ideal if ideal else 0.0
                per_space[label] = requests / n
                split = " ".join(f"{m}={c / n:.1f}" for m, c in sorted(methods.items()))
                print(
                    f"{label:8} {wall:8.2f} {ideal:8.2f} {ratios[label]:6.2f} "
                    f"{requests / n:9.1f}  {split}"
                )
                max_per_kind[label] = max(kinds.values(), default=0) / n
                if label in ("no-op", "update"):
                    # Per space and kind: a no-op must read each kind at most once.
                    by_kind = ", ".join(f"{k}={c / n:g}" for k, c in sorted(kinds.items()))
                    print(f"         {label} per space by kind: {by_kind}")

            def settled(revision: int) -> Any:
                def check() -> bool:
                    rows = Downstream.objects.filter(template=template)
                    busy = rows.filter(status__in=["queued", "pushing"]).exists()
                    return not busy and rows.filter(applied_revision=revision).count() == n

                return check

            measure("first", lambda: templates.queue_push(template), settled(1), args.concurrency)
            with client_for(mgmt.instance) as client:
                project = client.get(f"/api/Spaces-1/projects/{template.octopus_project_id}")
                process = client.get(
                    f"/api/Spaces-1/deploymentprocesses/{project['DeploymentProcessId']}"
                )
                process["Steps"][0]["Actions"][0]["Properties"][
                    "Octopus.Action.Script.ScriptBody"
                ] = "echo changed"
                client.put(f"/api/Spaces-1/deploymentprocesses/{process['Id']}", process)
            measure("update", lambda: templates.snapshot(template), settled(2), args.concurrency)
            measure("no-op", lambda: templates.queue_push(template), settled(2), args.concurrency)
            failed = Downstream.objects.exclude(status="in_sync").count()
            print(f"downstreams not in sync: {failed}")

            bp = blueprints.create_blueprint(
                "Bench", {"environments": [{"name": "Development"}, {"name": "Staging"}]}
            )
            blueprints.assign(bp, targets)
            plan_concurrency = args.concurrency * 4
            measure(
                "plan", lambda: broker.plan_targets(bp, concurrency=plan_concurrency),
                lambda: True, plan_concurrency,
            )  # fmt: skip
            load1, load5, load15 = os.getloadavg()
            print(f"machine: {describe()}")
            print(f"load average: {load1:.1f} {load5:.1f} {load15:.1f} on {os.cpu_count()} CPUs")
            print(
                f"bench: managed spaces={n} first_ratio={ratios['first']:.2f} "
                f"update_ratio={ratios['update']:.2f} noop_ratio={ratios['no-op']:.2f} "
                f"first_req={per_space['first']:.1f} update_req={per_space['update']:.1f} "
                f"noop_req={per_space['no-op']:.1f} "
                f"noop_max_per_kind={max_per_kind['no-op']:g} plan_ratio={ratios['plan']:.2f} "
                f"plan_req={per_space['plan']:.1f} concurrency={args.concurrency}"
            )
        finally:
            bench_worker.stop(worker, log)


if __name__ == "__main__":
    main()
