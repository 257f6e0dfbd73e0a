"""Chaos: several nodes killed at random while the fleet misbehaves, and nothing is lost.

Real processes on the run's own PostgreSQL and Redis (restarted during the run): 2 web
servers (gunicorn.conf.py, production settings), 3 Celery workers, 2 beats (both running),
one octosim serving 50 instances whose faults switch on and off, and an SMTP server. While
status sweeps, alerts, deployment pulls, a shared variable set's fan-out and grant pushes
run, a random process is killed with SIGKILL every few seconds and started again. Then the
run settles and the verdicts are checked against octosim's ground truth and the inbox
(tests/chaos/scenario.py). The figures are printed; a verdict never depends on timing (every
wait is for a condition, with a generous limit).

Alone: ``.venv/bin/pytest tests/chaos -s -p no:cacheprovider`` (``-s`` shows the table).
``ODCM_CHAOS_SECONDS`` (60) sets how long the killing goes on; ``ODCM_CHAOS_SEED`` the dice.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import json
import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from octosim.testing import SimInstance, SimServer
from tests.chaos.servers import PostgresServer, RedisServer, postgres_bin
from tests.fixtures.processes import ROOT, ManagedProcess, free_port, wait_for_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP line

INSTANCES = 50
CHAOS_SECONDS = float(os.environ.get("ODCM_CHAOS_SECONDS") or 60)
SEED = int(os.environ.get("ODCM_CHAOS_SEED") or 13)
SETTLE_SECONDS = 240  # a limit, not a wait: the run moves on as soon as the work caught up
OFFLINE_POOL = 10  # instances 1..10 go offline now and then; 11..20 answer errors or slowly
BIN = Path(sys.executable).parent
LONGEST_LEASE = 60  # monitoring's periodic runs (identity's team pushes: 15 s), odcm.work.kept


# ----------------------------------------------------------------------------- the inbox


@dataclass
class Inbox:
    """What the SMTP server accepted: one entry per recipient per message."""

    received: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        message = email.message_from_bytes(
            envelope.original_content or b"", policy=email.policy.default
        )
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.received.append(
                    {"to": rcpt, "message_id": str(message["Message-ID"]).strip("<>")}
                )
        return "250 OK"

    def copy(self) -> list[dict[str, str]]:
        with self.lock:
            return list(self.received)


# ----------------------------------------------------------------------------- the nodes


@dataclass
class Node:
    """One web, worker or beat process, started again after each kill."""

    kind: str
    name: str
    args: list[str]
    env: dict[str, str]
    logs: Path
    port: int = 0
    runs: int = 0
    proc: ManagedProcess | None = None

    def start(self) -> None:
        self.runs += 1
        self.proc = ManagedProcess(self.args, self.env, self.logs / f"{self.name}-{self.runs}.log")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill(signal.SIGKILL)  # the whole process group: a worker and its pool
        self.proc.stop()

    def stop(self) -> None:
        """A warm shutdown: SIGTERM to the main process alone (a worker finishes its task and
        releases its claims; the whole group would kill the task mid-way)."""
        if self.proc is None:
            return
        process = self.proc.process
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                self.proc.kill(signal.SIGKILL)
        self.proc.kill(signal.SIGKILL)  # pool children left behind, if any
        self.proc.stop()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.process.poll() is None


def wait_until(
    predicate: Callable[[], Any], timeout: float, every: float = 1.0, what: str = ""
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            value = predicate()
            if value:
                return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f}s: {what}")
        time.sleep(every)


# ----------------------------------------------------------------------------- the run


class ChaosRun:
    def __init__(self, folder: Path, pg: PostgresServer, redis: RedisServer, smtp_port: int):
        self.folder = folder
        self.pg = pg
        self.redis = redis
        self.rng = random.Random(SEED)
        self.env = self._env(smtp_port)
        self.nodes: list[Node] = []
        self.kills: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.actions: Counter[str] = Counter()
        self.offline_windows: dict[str, list[list[float]]] = {}
        self.web_errors = 0
        self.last_disruption = time.monotonic()

    def _env(self, smtp_port: int) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ODCM_", "DJANGO_"))}
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "odcm.settings",
                "PYTHONPATH": str(ROOT),
                "PATH": f"{BIN}:{env.get('PATH', '/usr/bin:/bin')}",
                "ODCM_DEBUG": "false",
                "ODCM_SECRET_KEY": "chaos-secret-" + "Zq8wP3xL" * 6,
                "ODCM_ENCRYPTION_KEYS": "Y2hhb3Mta2V5LW5ld2VzdC0zMi1ieXRlcy1sb25nLS0=",
                "ODCM_ALLOWED_HOSTS": "127.0.0.1,localhost",
                "ODCM_SITE_URL": "http://127.0.0.1",
                "ODCM_DATABASE_URL": self.pg.url,
                "ODCM_REDIS_URL": self.redis.url,
                "ODCM_EMAIL_URL": f"smtp://127.0.0.1:{smtp_port}",
                "ODCM_VAR_DIR": str(self.folder / "var"),
                "ODCM_ALLOW_HTTP_INSTANCES": "true",
                "ODCM_ALLOWED_PRIVATE_NETWORKS": "127.0.0.0/8",
                "ODCM_METRICS_PUBLIC": "true",
                # octosim's history keeps tasks queued for long: queue alerts would join in.
                "ODCM_QUEUE_ALERT_MINUTES": "0",
                # Everything periodic comes round within seconds, so the run sees many rounds.
                "ODCM_SWEEP_SECONDS": "5",
                "ODCM_SWEEP_TIMEOUT": "4",
                "ODCM_OFFLINE_AFTER": "1",
                "ODCM_ALERT_DISPATCH_SECONDS": "3",
                "ODCM_ALERT_LEASE_SECONDS": "10",
                "ODCM_ALERT_RETRY_MAX_SECONDS": "5",
                "ODCM_DEPLOYMENTS_SECONDS": "10",
                "ODCM_DEPLOYMENTS_BACKFILL_DAYS": "3650",
                "ODCM_INVENTORY_SECONDS": "600",
                "ODCM_SHARING_SWEEP_SECONDS": "5",
                "ODCM_SHARING_CLAIM_SECONDS": "10",
                "ODCM_SHARING_REQUEUE_SECONDS": "10",
                "ODCM_SHARING_RETRY_BASE_SECONDS": "1",
                "ODCM_SHARING_RETRY_MAX_SECONDS": "5",
                "ODCM_TEAM_SYNC_RETRY_SWEEP_SECONDS": "3",
                "ODCM_TEAM_SYNC_RETRY_BASE_SECONDS": "1",
                "ODCM_TEAM_SYNC_RETRY_MAX_SECONDS": "5",
                "ODCM_RETENTION_SECONDS": "60",
                "ODCM_OCTOPUS_READ_TIMEOUT": "4",
                "ODCM_DASHBOARD_CACHE_SECONDS": "0",
            }
        )
        return env

    # --- Django side (a subprocess on the run's own settings)

    def scenario(self, *args: str, timeout: float = 300) -> Any:
        result = subprocess.run(
            [sys.executable, "-m", "tests.chaos.scenario", *args],
            cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"scenario {args[0]} failed:\n{result.stderr[-3000:]}")
        for line in result.stderr.splitlines():
            if line.startswith("timing: "):
                print(line, flush=True)
        return json.loads(result.stdout.strip().splitlines()[-1])

    def migrate(self) -> None:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=ROOT, env=self.env, capture_output=True, check=True, timeout=600,
        )  # fmt: skip

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        url = self.pg.url.replace("postgres://", "postgresql://")
        with psycopg.connect(url, connect_timeout=5) as conn:
            return conn.execute(query, params).fetchall()

    # --- the nodes

    def add_nodes(self) -> None:
        logs = self.folder / "logs"
        logs.mkdir()
        for n in range(2):
            port = free_port()
            env = {**self.env, "PORT": str(port), "WEB_CONCURRENCY": "1", "ODCM_WEB_THREADS": "4"}
            args = [str(BIN / "gunicorn"), "--config", "gunicorn.conf.py"]
            self.nodes.append(Node("web", f"web{n}", args, env, logs, port=port))
        for n in range(3):
            args = [
                sys.executable, "-m", "celery", "-A", "odcm", "worker", "--loglevel=INFO",
                "--concurrency=1", "--pool=prefork", f"--hostname=chaos{n}-{os.getpid()}@%h",
                "--without-gossip", "--without-mingle", "--without-heartbeat",
            ]  # fmt: skip
            self.nodes.append(Node("worker", f"worker{n}", args, self.env, logs))
        for n in range(2):
            schedule = self.folder / f"beat{n}-schedule"
            args = [
                sys.executable, "-m", "celery", "-A", "odcm", "beat", "--loglevel=INFO",
                f"--schedule={schedule}",
            ]  # fmt: skip
            self.nodes.append(Node("beat", f"beat{n}", args, self.env, logs))
        for node in self.nodes:
            node.start()

    def wait_for_web(self) -> None:
        for node in self.nodes:
            if node.kind == "web":
                assert node.proc is not None
                wait_for_port(node.port, timeout=180, process=node.proc.process)

    def kill_one(self) -> None:
        node = self.rng.choice(self.nodes)
        node.kill()
        self.kills[node.kind] += 1
        self.last_disruption = time.monotonic()
        node.start()

    def ensure_all_running(self) -> None:
        for node in self.nodes:
            if not node.alive():
                node.start()

    def stop_all(self) -> None:
        """Warm shutdowns, all at once (each worker finishes its task)."""
        for node in self.nodes:
            if node.alive():
                assert node.proc is not None
                node.proc.process.send_signal(signal.SIGTERM)
        for node in self.nodes:
            node.stop()

    # --- what people do meanwhile

    def web_call(self, method: str, path: str, token: str, body: Any = None) -> httpx.Response:
        """Through one web server, else the other (a killed one refuses connections)."""
        webs = [n for n in self.nodes if n.kind == "web"]
        self.rng.shuffle(webs)
        last: Exception | None = None
        for node in webs:
            try:
                response = httpx.request(
                    method, f"http://127.0.0.1:{node.port}{path}", json=body, timeout=30,
                    headers={"Authorization": f"Bearer {token}"},
                )  # fmt: skip
            except httpx.HTTPError as exc:
                last = exc
                self.web_errors += 1
                continue
            if response.status_code < 500:
                return response
            self.web_errors += 1
            last = RuntimeError(f"{response.status_code} {response.text[:200]}")
        raise RuntimeError(f"no web server answered {path}: {last}")

    def publish(self, item: str, token: str, number: int) -> None:
        body = {
            "content": {
                "variables": [
                    {"name": "Chaos.Revision", "value": str(number)},
                    {"name": "Region", "value": "emea", "scope": {"roles": ["web"]}},
                ]
            },
            "comment": f"chaos {number}",
        }

        def sent() -> bool:
            path = f"/api/v1/sharing/items/{item}/revisions/"
            response = self.web_call("POST", path, token, body)
            assert response.status_code in (200, 201), response.text
            return True

        # A request cut by a kill may have been saved: the same content again is no new
        # revision (the service compares with the latest), so retrying is safe.
        wait_until(sent, timeout=120, every=1.0, what=f"publishing revision {number}")
        self.actions["revisions"] += 1

    def change_access(self, setup: dict[str, Any], step: int) -> None:
        """Odd steps: one more of the crew joins the group; even steps: the group gains an
        instance. Both through the API; each change is pushed into Octopus teams."""
        token, group = setup["token"], setup["group"]
        joined = 1 + (step + 1) // 2
        if step % 2 and joined <= len(setup["crew"]):
            body: dict[str, Any] = {"members": setup["crew"][:joined]}
            call = ("PATCH", f"/api/v1/groups/{group}/", body)
        elif setup["ungranted"]:
            body = {"group": group, "role": "viewer", "instance": setup["ungranted"].pop(0)}
            call = ("POST", "/api/v1/grants/", body)
        else:
            return

        def sent() -> bool:
            response = self.web_call(*call[:2], token, call[2])
            # A grant whose first request was cut by a kill may exist already: a 400 says so.
            assert response.status_code in (200, 201) or "already" in response.text, response.text
            return True

        wait_until(sent, timeout=120, every=1.0, what=f"access change {step}")
        self.actions["access_changes"] += 1

    def status_of(self, slug: str) -> str:
        rows = self.sql("SELECT status FROM spaces_instance WHERE slug = %s", slug)
        return str(rows[0][0])


@pytest.fixture
def chaos_folder() -> Iterator[Path]:
    # Not pytest's tmp_path: its parent folders are private to root, and PostgreSQL runs as
    # the postgres user, which must reach its data folder.
    folder = Path(tempfile.mkdtemp(prefix="odcm-chaos-"))
    folder.chmod(0o755)
    yield folder
    if not os.environ.get("ODCM_CHAOS_KEEP"):
        subprocess.run(["rm", "-rf", str(folder)], check=False)


def test_nodes_killed_at_random_lose_nothing(chaos_folder: Path) -> None:
    if postgres_bin() is None:
        pytest.skip("no PostgreSQL server binaries (pg_ctl, initdb) to run the chaos database")
    pg_folder = chaos_folder / "pg"
    pg_folder.mkdir()
    pg_folder.chmod(0o755)
    pg, redis = PostgresServer(pg_folder), RedisServer(chaos_folder)
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    sim = SimServer(
        instances=INSTANCES, seed=SEED, spaces=2, projects=2, step_ms=200, nodes=2
    )  # fmt: skip
    run: ChaosRun | None = None
    started = time.monotonic()
    timings: dict[str, float] = {}
    try:
        pg.start()
        pg.create_database()
        redis.start()
        smtp.start()
        sim.start()
        run = ChaosRun(chaos_folder, pg, redis, smtp.port)
        run.migrate()
        sim_file = chaos_folder / "octosim.json"
        sim_file.write_text(
            json.dumps(
                [
                    {
                        "slug": i.slug,
                        "url": i.url,
                        "api_key": i.api_key,
                        "spaces": {k: v["name"] for k, v in i.truth()["spaces"].items()},
                    }
                    for i in sim.instances
                ]
            )
        )
        timings["start"] = time.monotonic() - started
        run.add_nodes()  # they start while the scenario is set up: its work flows at once
        setup = run.scenario("setup", str(sim_file))
        run.wait_for_web()
        timings["setup"] = time.monotonic() - started - timings["start"]
        chaos(run, sim.instances, setup)
        settle_started = time.monotonic()
        settle(run, sim.instances)
        settle_seconds = time.monotonic() - settle_started
        run.stop_all()
        evidence = {
            "offline_windows": run.offline_windows,
            "inbox": inbox.copy(),
            "control_url": sim.control_url,
        }
        evidence_file = chaos_folder / "evidence.json"
        evidence_file.write_text(json.dumps(evidence))
        # A lease left by a killed worker (or cut off by a restart) runs out within the
        # longest lease (LEASE_SECONDS); only a live claim after that is a claim left behind.
        time.sleep(max(0.0, run.last_disruption + LONGEST_LEASE + 5 - time.monotonic()))
        check_started = time.monotonic()
        verdict = run.scenario("check", str(evidence_file))
        timings["settle"] = settle_seconds
        timings["check"] = time.monotonic() - check_started
        timings["total"] = time.monotonic() - started
        report(run, setup, verdict, timings)
        failed = {k: v[:10] for k, v in verdict["failures"].items() if v}
        assert not failed, json.dumps(failed, indent=1)
    finally:
        if run is not None:
            run.stop_all()
        sim.stop()
        with contextlib.suppress(Exception):
            smtp.stop()
        redis.stop()
        pg.stop()


def chaos(run: ChaosRun, sims: list[SimInstance], setup: dict[str, Any]) -> None:
    """Kill and fault until CHAOS_SECONDS have passed, while people (a thread) publish
    revisions, change access and deploy."""
    rng = run.rng
    start = time.monotonic()
    end = start + CHAOS_SECONDS
    done = threading.Event()
    people = threading.Thread(target=act, args=(run, sims, setup, done), daemon=True)
    people.start()
    next_kill = start + 2
    next_fault = start + 1
    redis_at, postgres_at = start + CHAOS_SECONDS * 0.3, start + CHAOS_SECONDS * 0.6
    offline: dict[int, float] = {}  # instance index → when its offline spell began
    troubled: dict[int, float] = {}  # instance index → when its errors or latency end
    try:
        while (now := time.monotonic()) < end:
            if now >= next_kill:
                run.kill_one()
                next_kill = now + rng.uniform(2, 4)
            if redis_at and now >= redis_at:
                run.redis.kill_and_restart()
                run.last_disruption = time.monotonic()
                redis_at = 0
            if postgres_at and now >= postgres_at:
                run.pg.crash_and_restart()
                run.last_disruption = time.monotonic()
                postgres_at = 0
            if now >= next_fault:
                next_fault = now + rng.uniform(1.5, 3)
                n = rng.randrange(1, 2 * OFFLINE_POOL + 1)
                # A spell starts only on an instance ODCM sees online (not one still
                # recovering from its last spell), so each spell is one flip to offline.
                if (
                    n <= OFFLINE_POOL
                    and n not in offline
                    and _quietly(partial(run.status_of, sims[n].slug)) == "online"
                ):
                    sims[n].set_faults(offline="refuse")
                    offline[n] = time.time()
                    run.faults["offline"] += 1
                if n > OFFLINE_POOL and n not in troubled:
                    if rng.random() < 0.5:
                        sims[n].set_faults(error_rate=0.5, error_status=rng.choice([500, 503]))
                        run.faults["errors"] += 1
                    else:
                        sims[n].set_faults(latency_ms=rng.choice([300, 1500, 5000]))
                        run.faults["latency"] += 1
                    troubled[n] = now + rng.uniform(4, 12)
            # An offline spell lasts until ODCM has seen it (or 45 s): one flip each way.
            for n, since in list(offline.items()):
                seen = _quietly(partial(run.status_of, sims[n].slug)) == "offline"
                if seen or time.time() - since > 45:
                    sims[n].clear_faults()
                    if seen:
                        run.offline_windows.setdefault(sims[n].slug, []).append(
                            [since, time.time()]
                        )
                    del offline[n]
            for n, until in list(troubled.items()):
                if now >= until:
                    sims[n].clear_faults()
                    del troubled[n]
            time.sleep(0.3)
    finally:
        done.set()
        people.join(timeout=300)
    for n in list(offline) + list(troubled):
        sims[n].clear_faults()
        if n in offline and _quietly(partial(run.status_of, sims[n].slug)) == "offline":
            run.offline_windows.setdefault(sims[n].slug, []).append([offline[n], time.time()])


def act(
    run: ChaosRun, sims: list[SimInstance], setup: dict[str, Any], done: threading.Event
) -> None:
    """What people do during the run: publish a revision through the web servers, change the
    group's access (pushed into Octopus teams) and deploy on random instances."""
    rng = random.Random(SEED + 1)
    start = time.monotonic()
    next_publish, next_grant, next_deploy = start + 3, start + 5, start + 1
    revision = step = 0
    while not done.is_set():
        now = time.monotonic()
        if now >= next_publish:
            revision += 1
            run.publish(setup["item"], setup["token"], revision + 1)
            next_publish = time.monotonic() + rng.uniform(5, 10)
        if now >= next_grant:
            step += 1
            run.change_access(setup, step)
            next_grant = time.monotonic() + rng.uniform(5, 10)
        if now >= next_deploy:
            _quietly(lambda: sims[rng.randrange(INSTANCES)].add_activity(deployments=2))
            run.actions["deployments_started"] += 2
            next_deploy = now + rng.uniform(1, 3)
        done.wait(0.3)


def _quietly(call: Callable[[], Any]) -> Any:
    """A look while PostgreSQL restarts may fail: it is only a look."""
    try:
        return call()
    except Exception:
        return None


def settle(run: ChaosRun, sims: list[SimInstance]) -> dict[str, Any]:
    """Every node back, no faults: wait for the work to catch up."""
    run.ensure_all_running()
    for sim in sims:
        sim.clear_faults()

    last: dict[str, Any] = {}

    def caught_up() -> bool:
        nonlocal last
        now = run.scenario("settled")
        if now != last:
            print(f"settling: {now['waiting']}", flush=True)
        last = now
        return bool(last["done"])

    try:
        wait_until(caught_up, SETTLE_SECONDS, 3, "the work to catch up")
    except AssertionError:
        raise AssertionError(f"the run did not settle: {last.get('waiting')}") from None
    return last


def report(
    run: ChaosRun, setup: dict[str, Any], verdict: dict[str, Any], timings: dict[str, float]
) -> None:
    figures = verdict["figures"]
    checks = {name: "ok" if not failed else f"{len(failed)} FAILED"
              for name, failed in verdict["failures"].items()}  # fmt: skip
    rows = [
        ("machine", f"{os.cpu_count()} cores, {os.uname().sysname} {os.uname().release}"),
        ("instances / subscriptions", f"{INSTANCES} / {setup['subscriptions']}"),
        ("nodes", "2 web, 3 workers, 2 beats"),
        ("kills (SIGKILL)", ", ".join(f"{k} {v}" for k, v in sorted(run.kills.items()))),
        ("restarts", f"redis {run.redis.restarts}, postgres {run.pg.restarts}"),
        ("faults", ", ".join(f"{k} {v}" for k, v in sorted(run.faults.items()))),
        ("actions", ", ".join(f"{k} {v}" for k, v in sorted(run.actions.items()))),
        ("web calls retried", str(run.web_errors)),
        ("figures", ", ".join(f"{k} {v}" for k, v in sorted(figures.items()))),
        ("checks", ", ".join(f"{k} {v}" for k, v in checks.items())),
        ("seconds", f"start {timings['start']:.0f}, setup {timings['setup']:.0f}, "
                    f"chaos {CHAOS_SECONDS:.0f}, settle {timings['settle']:.0f}, "
                    f"check {timings['check']:.0f}, total {timings['total']:.0f}"),
    ]  # fmt: skip
    width = max(len(k) for k, _ in rows)
    print()
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    summary = {
        "kills_web": run.kills["web"],
        "kills_worker": run.kills["worker"],
        "kills_beat": run.kills["beat"],
        "redis_restarts": run.redis.restarts,
        "postgres_restarts": run.pg.restarts,
        "faults": sum(run.faults.values()),
        "flips": figures.get("flips", 0),
        "emails": figures.get("emails", 0),
        "revisions": figures.get("newest_revision", 0),
        "deployments": figures.get("deployments", 0),
        "checks_failed": sum(1 for failed in verdict["failures"].values() if failed),
        "settle_s": round(timings["settle"]),
        "total_s": round(timings["total"]),
    }
    print("chaos: " + " ".join(f"{k}={v}" for k, v in summary.items()))
