"""Orchestrated deployments benchmark: one release deployed to many spaces across instances.

Starts octosim (50 instances x 10 spaces = 500 deployments) with 2 s simulated steps and
Octopus's default node cap of 5 tasks, gives every space the same project (a process of
``--steps`` steps) and release 1.0.0, then starts one run of a single wave and follows it in
this process, exactly as the Celery task does (``rollouts.services.orchestration.follow``,
rounds beginning ``ODCM_RUNS_POLL_SECONDS`` apart, the next at once after a round that overran
it: ``next_round_in``). It prints:

    octosim time   first task queued -> last task completed, from Octopus's own task times
    ODCM time      run started -> every outcome recorded by ODCM
    ratio          ODCM time / octosim time (what ODCM adds: starting deployments, polling)
    (a) start      run started -> the last deployment created in Octopus (its QueueTime), and
                   the first; round 1 (which starts the wave) with its database queries
    (b) end lag    octosim's last CompletedTime -> ODCM has recorded every outcome (at most a
                   poll interval plus one round)
    (c) rounds     each following round's wall time, of which poll(), its database queries
                   and its CPU: queries and CPU a round do not depend on the machine's load
    polls/s        requests ODCM sent while following (one per instance per round)
    (d) CPU        CPU seconds of this process (the "worker"): starting, following

The load average is printed at the start and the end: on a shared machine the wall-clock
figures (ratio, rounds, start phase) move with it; queries and CPU a round do not.

    .venv/bin/python bench/orchestrate.py [--instances 50] [--spaces 10] [--steps 5]
                                          [--step-ms 2000] [--poll 1]

Needs PostgreSQL and Redis (ODCM_BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/odcm_bench_orchestrate, created if missing and emptied;
ODCM_BENCH_REDIS_URL, default redis://127.0.0.1:6379/6, flushed).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._machine import describe  # noqa: E402

DB_URL = os.environ.get(
    "ODCM_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/odcm_bench_orchestrate"
)
REDIS_URL = os.environ.get("ODCM_BENCH_REDIS_URL", "redis://127.0.0.1:6379/6")
os.environ.update(
    {
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "ODCM_TEST_DATABASE_URL": DB_URL,
        "ODCM_TEST_REDIS_URL": REDIS_URL,
        "ODCM_VAR_DIR": str(ROOT / "var" / "bench"),
        "ODCM_LOG_LEVEL": "WARNING",
    }
)

PROJECT = "Bench"


def prepare_database() -> None:
    from bench.fanout import prepare_database as prepare

    prepare()


def give_project(client: Any, space: str, steps: int) -> None:
    group = client.get_all(f"/api/{space}/projectgroups")[0]["Id"]
    lifecycle = client.get_all(f"/api/{space}/lifecycles")[0]["Id"]
    project = client.post(
        f"/api/{space}/projects",
        {"Name": PROJECT, "ProjectGroupId": group, "LifecycleId": lifecycle},
    )
    process = client.project_deployment_process(space, project["Id"])
    process["Steps"] = [
        {
            "Name": f"Step {n}",
            "Properties": {},
            "Actions": [
                {
                    "Name": f"Step {n}",
                    "ActionType": "Octopus.Script",
                    "Properties": {"Octopus.Action.Script.ScriptBody": "echo"},
                }
            ],
        }
        for n in range(1, steps + 1)
    ]
    client.update_deployment_process(space, process)
    client.create_release_v1(space, PROJECT, version="1.0.0")


def when(value: Any) -> float:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=50)
    parser.add_argument("--spaces", type=int, default=10)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--step-ms", type=int, default=2000)
    parser.add_argument("--poll", type=int, default=1)
    args = parser.parse_args()
    os.environ["ODCM_RUNS_POLL_SECONDS"] = str(args.poll)

    prepare_database()
    from django.conf import settings
    from django.db import connection
    from django.utils.text import slugify

    from octosim.testing import SimServer
    from odcm.clients import client_for
    from odcm.crypto import seal
    from rollouts.models import DeploymentRun, RunDeployment
    from rollouts.services import orchestration
    from spaces.models import Instance, Space
    from tests.conftest import make_user

    settings.ODCM_RUNS_POLL_SECONDS = args.poll
    admin = make_user("bench-admin", admin=True)
    with SimServer(instances=0, seed=5) as sim:
        sims = [
            sim.create_instance(f"orch-{n:03d}", spaces=args.spaces) for n in range(args.instances)
        ]
        for one in sims:
            inst = Instance(name=one.slug, slug=one.slug, base_url=one.url)
            seal(inst, "api_key", one.api_key)
            inst.save()
            with client_for(inst) as client:
                for sp in client.spaces():
                    Space.objects.create(
                        instance=inst,
                        octopus_id=sp["Id"],
                        name=sp["Name"],
                        slug=slugify(sp["Name"]),
                    )
                    give_project(client, sp["Id"], args.steps)
            one.set_faults(step_ms=args.step_ms)
        spaces = list(Space.objects.values_list("pk", flat=True))

        polls = 0
        poll_times: list[float] = []
        real_poll = orchestration.poll

        def counting_poll(run: Any) -> int:
            nonlocal polls
            began = time.perf_counter()
            sent = real_poll(run)
            poll_times.append(time.perf_counter() - began)
            polls += sent
            return sent

        queries = 0

        def count_queries(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            nonlocal queries
            queries += 1
            return execute(sql, params, many, context)

        orchestration.poll = counting_poll
        load_before = os.getloadavg()[0]
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        started = time.time()
        rounds: list[tuple[float, int]] = []  # (seconds, database queries) of each round
        with connection.execute_wrapper(count_queries):
            run = orchestration.start_run(
                user=admin,
                project=PROJECT,
                release="1.0.0",
                environment="Development",
                waves=[spaces],
            )
            # What the worker does: a round, then the next one a poll interval after this one
            # began (at once when the round took longer), as follow() queues itself.
            while True:
                began, asked = time.perf_counter(), queries
                outcome = orchestration.follow(run.pk)
                took = time.perf_counter() - began
                rounds.append((took, queries - asked))
                if len(rounds) == 1:
                    cpu_start = resource.getrusage(resource.RUSAGE_SELF)
                if outcome not in ("running", "busy"):
                    break
                time.sleep(orchestration.next_round_in(took))
        ended = time.time()
        odcm_time = ended - started
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)

        def cpu_between(a: Any, b: Any) -> float:
            return float((b.ru_utime - a.ru_utime) + (b.ru_stime - a.ru_stime))

        cpu = cpu_between(cpu0, cpu1)
        cpu_first = cpu_between(cpu0, cpu_start)

        rows = list(RunDeployment.objects.filter(run=run).select_related("space__instance"))
        queued, begun, completed = [], [], []
        by_instance: dict[Any, list[str]] = {}
        for row in rows:
            by_instance.setdefault(row.space.instance, []).append(row.task_id)
        for inst, ids in by_instance.items():
            with client_for(inst) as client:
                for status in client.tasks_by_ids(ids).values():
                    queued.append(when(status.raw["QueueTime"]))
                    begun.append(when(status.raw["StartTime"]))
                    completed.append(when(status.raw["CompletedTime"]))
        octosim_time = max(completed) - min(queued)
        states = {s: sum(1 for r in rows if r.state == s) for s in {r.state for r in rows}}
        state = DeploymentRun.objects.get(pk=run.pk).state

    first_created = min(queued) - started
    start_phase = max(queued) - started
    end_lag = ended - max(completed)
    follow_rounds = rounds[1:] or rounds
    round_s = sorted(t for t, _ in follow_rounds)
    poll_s = sorted(poll_times[1:] or poll_times)
    per_round_queries = sum(q for _, q in follow_rounds) / len(follow_rounds)
    ratio = odcm_time / octosim_time
    load_after = os.getloadavg()[0]
    print(f"machine: {describe()}; load average {load_before:.1f} -> {load_after:.1f}")
    print(
        f"{len(rows)} deployments on {args.instances} instances, {args.steps} steps of "
        f"{args.step_ms} ms, node cap 5, poll every {args.poll} s; run {state}, {states}"
    )
    print(f"{'octosim time':<22}{octosim_time:>8.1f} s")
    runs = sorted(c - b for b, c in zip(begun, completed, strict=True))
    waits = sorted(b - q for q, b in zip(queued, begun, strict=True))
    print(
        f"{'  octosim tasks':<22}{runs[len(runs) // 2]:>8.1f} s median run ({runs[-1]:.1f} max), "
        f"{waits[len(waits) // 2]:.1f} s median queued ({waits[-1]:.1f} max)"
    )
    print(f"{'ODCM time':<22}{odcm_time:>8.1f} s")
    print(f"{'ratio':<22}{ratio:>8.3f}   (ODCM adds {odcm_time - octosim_time:.1f} s)")
    print(
        f"{'(a) start phase':<22}{start_phase:>8.1f} s  (run start -> last deployment created; "
        f"first created after {first_created:.2f} s; round 1 took {rounds[0][0]:.1f} s, "
        f"{rounds[0][1]} queries)"
    )
    print(f"{'(b) end lag':<22}{end_lag:>8.2f} s  (octosim's last completion -> ODCM recorded it)")
    print(
        f"{'(c) polling round':<22}{1000 * sum(round_s) / len(round_s):>8.0f} ms mean, "
        f"{1000 * round_s[len(round_s) // 2]:.0f} median, {1000 * round_s[-1]:.0f} max over "
        f"{len(round_s)} rounds, of which poll() {1000 * sum(poll_s) / len(poll_s):.0f} ms; "
        f"{per_round_queries:.0f} queries and {1000 * (cpu - cpu_first) / len(round_s):.0f} ms "
        "CPU a round"
    )
    print(f"{'poll requests':<22}{polls:>8d}    ({polls / odcm_time:.1f}/s)")
    print(
        f"{'(d) worker CPU':<22}{cpu:>8.1f} s  ({100 * cpu / odcm_time:.0f}% of one core; "
        f"{cpu_first:.1f} s starting, {cpu - cpu_first:.1f} s following)"
    )
    print(
        f"bench: orchestrate deployments={len(rows)} instances={args.instances} "
        f"octosim_s={octosim_time:.1f} odcm_s={odcm_time:.1f} ratio={ratio:.3f} "
        f"polls_per_s={polls / odcm_time:.1f} worker_cpu_s={cpu:.1f} start_s={start_phase:.1f} "
        f"end_lag_s={end_lag:.2f} round_ms={1000 * sum(round_s) / len(round_s):.0f} "
        f"load={load_before:.1f}-{load_after:.1f}"
    )


if __name__ == "__main__":
    main()
