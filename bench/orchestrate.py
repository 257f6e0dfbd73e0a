"""Orchestrated deployments benchmark: one release deployed to many spaces across instances.

Starts octosim (50 instances x 10 spaces = 500 deployments) with 2 s simulated steps and
Octopus's default node cap of 5 tasks, gives every space the same project (a process of
``--steps`` steps) and release 1.0.0, then starts one run of a single wave and follows it in
this process, exactly as the Celery task does (``rollouts.services.orchestration.follow``,
one round every ``ODCM_RUNS_POLL_SECONDS``). It prints:

    octosim time   first task queued -> last task completed, from Octopus's own task times
    ODCM time      run started -> every outcome recorded by ODCM
    ratio          ODCM time / octosim time (what ODCM adds: starting deployments, polling)
    polls/s        requests ODCM sent while following (one per instance per round)
    CPU            CPU seconds of this process (the "worker") while following

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
        real_poll = orchestration.poll

        def counting_poll(run: Any) -> int:
            nonlocal polls
            sent = real_poll(run)
            polls += sent
            return sent

        orchestration.poll = counting_poll
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        started = time.time()
        run = orchestration.start_run(
            user=admin, project=PROJECT, release="1.0.0", environment="Development", waves=[spaces]
        )
        # What the worker does: follow, wait a poll interval, follow again.
        while True:
            outcome = orchestration.follow(run.pk)
            if outcome not in ("running", "busy"):
                break
            time.sleep(args.poll)
        odcm_time = time.time() - started
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)

        rows = list(RunDeployment.objects.filter(run=run).select_related("space__instance"))
        queued, completed = [], []
        by_instance: dict[Any, list[str]] = {}
        for row in rows:
            by_instance.setdefault(row.space.instance, []).append(row.task_id)
        for inst, ids in by_instance.items():
            with client_for(inst) as client:
                for status in client.tasks_by_ids(ids).values():
                    queued.append(when(status.raw["QueueTime"]))
                    completed.append(when(status.raw["CompletedTime"]))
        octosim_time = max(completed) - min(queued)
        states = {s: sum(1 for r in rows if r.state == s) for s in {r.state for r in rows}}
        state = DeploymentRun.objects.get(pk=run.pk).state

    ratio = odcm_time / octosim_time
    print(f"machine: {describe()}")
    print(
        f"{len(rows)} deployments on {args.instances} instances, {args.steps} steps of "
        f"{args.step_ms} ms, node cap 5, poll every {args.poll} s; run {state}, {states}"
    )
    print(f"{'octosim time':<16}{octosim_time:>10.1f} s")
    print(f"{'ODCM time':<16}{odcm_time:>10.1f} s")
    print(f"{'ratio':<16}{ratio:>10.3f}")
    print(f"{'poll requests':<16}{polls:>10d}  ({polls / odcm_time:.1f}/s)")
    print(f"{'worker CPU':<16}{cpu:>10.1f} s  ({100 * cpu / odcm_time:.0f}% of one core)")
    print(
        f"bench: orchestrate deployments={len(rows)} instances={args.instances} "
        f"octosim_s={octosim_time:.1f} odcm_s={odcm_time:.1f} ratio={ratio:.3f} "
        f"polls_per_s={polls / odcm_time:.1f} worker_cpu_s={cpu:.1f}"
    )


if __name__ == "__main__":
    main()
