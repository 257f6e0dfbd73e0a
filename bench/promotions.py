"""Promotions benchmark: a big release promoted, connected, between two ODCMs and two octosims.

A release with ``--steps`` steps (default 50), ``--variables`` variables (2,000; every 100th
sensitive) and ``--packages`` packages (20) totalling ``--size`` (1 GB) is promoted from ODCM A
(the source, DevTest on octosim A) to ODCM B (the target, Prod on octosim B), as two connected
ODCM installations would do it:

    build    A builds and signs the bundle (reads the release and its snapshots, streams every
             package from octosim A's feed to hash it), in this process
    deliver  A pushes the bundle to B's inbox (``transfer.deliver``, in this process; B's web
             server verifies signature, trust, schema and replay)
    packages B's worker (a real Celery process) pulls each package from A's web server (which
             streams it from octosim A's feed) and relays it into its upload to octosim B as
             it arrives, the last chunk held back until the SHA-256 matches the signed
             manifest; then Octopus's SHA-1 is checked
    import   the same task then writes the project, its process, its variables and the release

The ideal is measured in the same run on the same files: reading and hashing the package bytes
once on each side (SHA-256 of every file, twice) plus one copy of every file. It is measured
twice, just before the timed phases and just after them, and the ratio is taken against the
faster of the two: on a machine shared with other work one sample alone varied threefold
between runs (the copy's cost depends on how much the kernel still has to write back), and
the faster one is the stricter yardstick. The bench prints
wall and CPU seconds of each phase (CPU of every process involved, from /proc: the machine may
be shared), the ratio whole/ideal, and the peak RSS (``VmHWM``) of B's worker, of A's web server
and of this process.

    .venv/bin/python bench/promotions.py [--size 1G] [--packages 20] [--steps 50]
                                         [--variables 2000] [--timeout 3600]
    .venv/bin/python bench/promotions.py --size 64M        # a quick check

Needs PostgreSQL and Redis (ODCM_BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/odcm_bench_promotions, and the same name with ``_b`` for
ODCM B, both dropped and created; ODCM_BENCH_REDIS_URL, default redis://127.0.0.1:6379/12,
flushed). Package files are written under ``var/bench/promotions/`` and removed at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import _cpu  # noqa: E402
from bench import _worker as bench_worker  # noqa: E402
from bench._machine import describe  # noqa: E402

DB_URL = os.environ.get(
    "ODCM_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/odcm_bench_promotions"
)
DB_URL_B = DB_URL + "_b"
REDIS_URL = os.environ.get("ODCM_BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
WORK = ROOT / "var" / "bench" / "promotions"
ENV = {
    "DJANGO_SETTINGS_MODULE": "tests.settings",
    "ODCM_TEST_DATABASE_URL": DB_URL,
    "ODCM_TEST_REDIS_URL": REDIS_URL,
    "ODCM_VAR_DIR": str(ROOT / "var" / "bench"),
    "ODCM_LOG_LEVEL": "WARNING",
}
os.environ.update(ENV)
# ODCM B: its own database and its own Celery queue on the same Redis.
B_QUEUE = "odcm-bench-b"
ENV_B = {**ENV, "ODCM_TEST_DATABASE_URL": DB_URL_B, "ODCM_CELERY_QUEUE": B_QUEUE}
SPACE = "Spaces-1"
MIB = 1024 * 1024
SECRET = "bench-secret-value"


def parse_size(text: str) -> int:
    """``1G``, ``300M``, ``512k`` or a number of bytes."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kKmMgG]?)[bB]?", text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (e.g. 1G, 64M)")
    scale = {"": 1, "k": 1024, "m": MIB, "g": 1024 * MIB}[match[2].lower()]
    return int(float(match[1]) * scale)


def create_database(url: str) -> None:
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def prepare_databases() -> None:
    create_database(DB_URL)
    create_database(DB_URL_B)
    migrate_b = subprocess.Popen(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env={**os.environ, **ENV_B, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    if migrate_b.wait(timeout=900) != 0:
        raise SystemExit("migrating ODCM B's database failed")
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()


def write_packages(folder: Path, count: int, total: int) -> list[Path]:
    """``count`` package files of ``total`` bytes together: a zip's local header, then bytes
    that do not repeat between MiBs (so nothing along the way can compress or deduplicate)."""
    folder.mkdir(parents=True, exist_ok=True)
    block = bytearray(os.urandom(MIB))
    paths = []
    each = max(1, total // count)
    for n in range(count):
        path = folder / f"Bench.Pkg{n:02d}.1.0.0.zip"
        left = each
        with open(path, "wb") as out:
            out.write(b"PK\x03\x04")
            left -= 4
            serial = 0
            while left > 0:
                block[:16] = f"{n:04d}{serial:012d}".encode()
                out.write(block[: min(MIB, left)])
                left -= min(MIB, left)
                serial += 1
        paths.append(path)
    return paths


def ideal_seconds(paths: list[Path], scratch: Path) -> tuple[float, float]:
    """Reading and hashing every package once on each side plus one copy: SHA-256 of each
    file, a copy of it, SHA-256 of the copy. Returns (wall seconds, CPU seconds)."""
    scratch.mkdir(parents=True, exist_ok=True)
    cpu0, started = time.process_time(), time.perf_counter()
    for path in paths:
        for one in (path, None):
            if one is None:
                one = scratch / path.name
                shutil.copyfile(path, one)
            h = hashlib.sha256()
            with open(one, "rb") as f:
                while chunk := f.read(MIB):
                    h.update(chunk)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu0
    shutil.rmtree(scratch, ignore_errors=True)
    return wall, cpu


def build_release(client: Any, packages: list[Path], steps: int, variables: int) -> str:
    """Upload the packages; a project with ``steps`` steps (one per package first, then
    scripts) and ``variables`` variables; release 1.0.0 with every package. Its id."""
    for path in packages:
        client.upload_package(SPACE, path)
    envs = {e["Name"]: e["Id"] for e in client.get_all(f"/api/{SPACE}/environments")}
    lifecycle = client.create_lifecycle(
        SPACE,
        {
            "Name": "Bench lifecycle",
            "Phases": [
                {"Name": name, "OptionalDeploymentTargets": [envs[name]],
                 "AutomaticDeploymentTargets": [], "MinimumEnvironmentsBeforePromotion": 0,
                 "IsOptionalPhase": False}
                for name in ("Development", "Test", "Production")
            ],
        },
    )  # fmt: skip
    group = client.get(f"/api/{SPACE}/projectgroups/all")[0]
    project = client.post(
        f"/api/{SPACE}/projects",
        {"Name": "Bench App", "ProjectGroupId": group["Id"], "LifecycleId": lifecycle["Id"]},
    )
    names = [p.name[: -len(".1.0.0.zip")] for p in packages]
    process = client.project_deployment_process(SPACE, project["Id"])
    process["Steps"] = [_package_step(f"Deploy {n:02d}", pkg) for n, pkg in enumerate(names)] + [
        _script_step(f"Script {n:02d}") for n in range(len(names), steps)
    ]
    client.update_deployment_process(SPACE, process)
    vset = client.variable_set(SPACE, project["VariableSetId"])
    env_ids = [envs["Development"], envs["Test"], envs["Production"]]
    vset["Variables"] = [_variable(n, env_ids) for n in range(variables)]
    client.update_variable_set(SPACE, vset)
    client.create_release_v1(
        SPACE,
        project["Name"],
        version="1.0.0",
        packages=[f"Deploy {n:02d}:1.0.0" for n in range(len(names))],
    )
    return str(client.project_releases(SPACE, project["Id"])[0]["Id"])


def _package_step(name: str, package_id: str) -> dict[str, Any]:
    action = {
        "Name": name,
        "ActionType": "Octopus.TentaclePackage",
        "Properties": {"Octopus.Action.Package.DownloadOnTentacle": "False"},
        "Packages": [{"Name": "", "PackageId": package_id, "FeedId": "feeds-builtin"}],
    }
    return {
        "Name": name,
        "Properties": {"Octopus.Action.TargetRoles": "web-server"},
        "Actions": [action],
    }


def _script_step(name: str) -> dict[str, Any]:
    body = f"echo '{name}'\n" + "Write-Host 'step body line'\n" * 20
    action = {
        "Name": name,
        "ActionType": "Octopus.Script",
        "Properties": {"Octopus.Action.Script.ScriptBody": body},
    }
    return {"Name": name, "Actions": [action]}


def _variable(n: int, env_ids: list[str]) -> dict[str, Any]:
    if n % 100 == 0:
        return {
            "Name": f"Secret.{n:04d}",
            "Value": SECRET,
            "IsSensitive": True,
            "Type": "Sensitive",
        }
    scope = {"Environment": [env_ids[n % 3]]} if n % 4 else {}
    return {"Name": f"Var.{n:04d}", "Value": f"value {n} " + "x" * 40, "Scope": scope}


def run_b(step: str, *args: Any) -> Any:
    """One step of ODCM B, in its own process on its own database."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.promotions.odcm_b", step, json.dumps(args)],
        cwd=ROOT,
        env={**os.environ, **ENV_B, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"ODCM B step {step} failed:\n{done.stdout}{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def b_rows(sql: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(DB_URL_B, autocommit=True) as conn:
        return list(conn.execute(sql).fetchall())


def start_web(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    """A gunicorn for one ODCM (long timeout: a package response may stream for minutes)."""
    return subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn", "odcm.wsgi", "--bind", f"127.0.0.1:{port}",
            "--workers", "1", "--timeout", "1800",
        ],
        cwd=ROOT,
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
        start_new_session=True,
    )  # fmt: skip


def stop_process(proc: subprocess.Popen[Any] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def ours(packages: list[dict[str, Any]]) -> dict[str, str]:
    """The bench's packages in a feed (octosim seeds a few of its own): id -> SHA-1."""
    return {p["PackageId"]: p["Hash"] for p in packages if p["PackageId"].startswith("Bench.Pkg")}


def sha1_of(path: Path) -> str:
    h = hashlib.sha1(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(MIB):
            h.update(chunk)
    return h.hexdigest()


def tree(pid: int) -> list[int]:
    """``pid`` and its children (a gunicorn or Celery master and its workers)."""
    return [pid, *_cpu.children_of(pid)]


def peak_mib(pid: int) -> float:
    """The peak resident set (``VmHWM``) of one process, in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Meter:
    """CPU seconds of each group of processes, sampled at phase boundaries."""

    def __init__(self, groups: dict[str, Any]) -> None:
        self.groups = groups  # name -> callable returning pids (re-read: workers fork)
        self.last = self.sample()

    def sample(self) -> dict[str, float]:
        out = {name: _cpu.cpu_seconds(pids()) for name, pids in self.groups.items()}
        out["bench"] = sum(os.times()[:2])
        return out

    def phase(self) -> dict[str, float]:
        now = self.sample()
        spent = {k: max(0.0, now[k] - self.last.get(k, 0.0)) for k in now}
        self.last = now
        return spent


def main() -> None:  # noqa: PLR0915 - one linear script
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=parse_size, default=parse_size("1G"), help="e.g. 1G, 64M")
    parser.add_argument("--packages", type=int, default=20)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--variables", type=int, default=2000)
    parser.add_argument("--timeout", type=int, default=3600, help="seconds before a stall")
    parser.add_argument("--worker-log", default=str(WORK / "worker-b.log"))
    args = parser.parse_args()
    if args.steps < args.packages:
        parser.error("--steps must be at least --packages (one package step per package)")

    from tests.fixtures.processes import free_port, wait_for_port

    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    load_before = os.getloadavg()
    prepare_databases()

    from octopus import OctopusClient, URLPolicy
    from octosim.testing import SimServer
    from promotions.models import InboundBundle, Promotion, Trust
    from promotions.services import bundles, identities, peers, routes, transfer
    from tests.sharing.conftest import enlist_sim, space_of

    loopback = URLPolicy(allow_http=True, allowed_networks=["127.0.0.0/8"])
    started_gen = time.perf_counter()
    paths = write_packages(WORK / "packages", args.packages, args.size)
    total = sum(p.stat().st_size for p in paths)
    print(f"packages written: {len(paths)} files, {total / MIB:.0f} MiB in "
          f"{time.perf_counter() - started_gen:.1f} s")  # fmt: skip

    web_a = web_b = worker = None
    worker_log = None
    # Two octosim processes, one instance each: the source's feed and the target's.
    with SimServer(seed=41) as server_a, SimServer(seed=42) as server_b:
        try:
            sim_a = server_a.create_instance("bench-devtest", spaces=1)
            sim_b = server_b.create_instance("bench-prod", spaces=1)
            assert server_a.process is not None and server_b.process is not None
            port_a, port_b = free_port(), free_port()
            web_a = start_web(ENV, port_a, WORK / "web-a.log")
            web_b = start_web(ENV_B, port_b, WORK / "web-b.log")
            url_a, url_b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
            wait_for_port(port_a, timeout=300, process=web_a)
            wait_for_port(port_b, timeout=300, process=web_b)

            with OctopusClient(sim_a.url, sim_a.api_key, policy=loopback) as c_a:
                release_id = build_release(c_a, paths, args.steps, args.variables)
                project_id = c_a.release(SPACE, release_id)["ProjectId"]
            with OctopusClient(sim_b.url, sim_b.api_key, policy=loopback) as c_b:
                production = next(
                    e["Id"]
                    for e in c_b.get_all(f"/api/{SPACE}/environments")
                    if e["Name"] == "Production"
                )
                lifecycle = c_b.create_lifecycle(
                    SPACE,
                    {
                        "Name": "Prod only",
                        "Phases": [
                            {"Name": "Production", "OptionalDeploymentTargets": [production],
                             "AutomaticDeploymentTargets": [],
                             "MinimumEnvironmentsBeforePromotion": 0, "IsOptionalPhase": False}
                        ],
                    },
                )["Id"]  # fmt: skip

            # ODCM B: its space and identity; A and B exchange certificates over their APIs
            # and confirm each other's fingerprint.
            b = run_b("setup", sim_b.url, sim_b.api_key, sim_b.slug)
            source = space_of(enlist_sim(sim_a))
            a_identity = identities.ensure(source)
            run_b("trust", url_a, str(source.pk), a_identity.fingerprint)
            prod = transfer.fetch_remote(url_b, b["space_id"])
            peers.confirm(peers.propose(source, prod, Trust.Accepts.RECEIPTS), b["fingerprint"])
            route = routes.set_route(source, project_id, "Bench App", ["Development", "Test", prod])

            worker, worker_log = bench_worker.start(
                args.worker_log, concurrency=1, level="WARNING", env=ENV_B
            )
            ready = bench_worker.wait_ready(worker, REDIS_URL, args.worker_log)
            pool = _cpu.children_of(worker.pid)
            assert server_a.process is not None and server_b.process is not None
            ideal_before = ideal_seconds(paths, WORK / "ideal")
            pid_a, pid_b = server_a.process.pid, server_b.process.pid
            meter = Meter(
                {
                    "octosim A": lambda: [pid_a],
                    "octosim B": lambda: [pid_b],
                    "web A": lambda: tree(web_a.pid),
                    "web B": lambda: tree(web_b.pid),
                    "worker B": lambda: tree(worker.pid),
                    "postgres": lambda: (
                        _cpu.backends_of(urlsplit(DB_URL).path.lstrip("/"))
                        + _cpu.backends_of(urlsplit(DB_URL_B).path.lstrip("/"))
                    ),
                }
            )
            print(f"worker B ready after {ready:.1f} s (pool pids {pool})")

            # -- timed phases ------------------------------------------------------------
            wall: dict[str, float] = {}
            cpu: dict[str, dict[str, float]] = {}
            t0 = time.perf_counter()
            promotion = bundles.build(source, route, release_id, prod, check_route=False)
            wall["build"] = time.perf_counter() - t0
            cpu["build"] = meter.phase()
            bundle_kib = len(promotion.token) / 1024

            t0 = time.perf_counter()
            transfer.promote(promotion)  # queued for A's worker: this process plays it
            if transfer.deliver(str(promotion.pk)) != "delivered":
                failed = Promotion.objects.get(pk=promotion.pk)
                raise RuntimeError(f"delivery failed: {failed.last_error}")
            wall["deliver"] = time.perf_counter() - t0
            cpu["deliver"] = meter.phase()

            # B's values still needed are supplied (not timed: a person types them), then
            # B queues the import for its worker.
            run_b("supply_values", SECRET)
            meter.phase()
            t0 = time.perf_counter()
            t0_wall = time.time()
            run_b("queue_import_only", lifecycle)
            feed_done = None
            deadline = time.monotonic() + args.timeout
            with OctopusClient(sim_b.url, sim_b.api_key, policy=loopback) as c_b:
                while True:
                    if feed_done is None and len(ours(c_b.packages(SPACE))) >= len(paths):
                        feed_done = time.time()
                        cpu["packages"] = meter.phase()
                    state, error, imported_at = b_rows(
                        "SELECT state, last_error, imported_at FROM promotions_inboundbundle"
                    )[0]
                    if state in (InboundBundle.State.IMPORTED, InboundBundle.State.FAILED):
                        break
                    if time.monotonic() > deadline:
                        raise bench_worker.Stalled(
                            "import not finished: "
                            + bench_worker.diagnose(REDIS_URL, worker, args.worker_log)
                        )
                    time.sleep(0.2)
            ended = time.perf_counter()
            cpu["import"] = meter.phase()
            if state != InboundBundle.State.IMPORTED:
                raise RuntimeError(f"the import failed: {error}")
            # Timestamps of B itself: when the import was queued and when it finished.
            queued_at = b_rows(
                "SELECT at FROM audit_auditentry WHERE action = 'promotions.inbox.import_queued'"
            )[0][0]
            import_total = ended - t0
            if feed_done is None:
                feed_done = imported_at.timestamp()
                cpu.setdefault("packages", {})
            wall["packages"] = feed_done - max(t0_wall, queued_at.timestamp())
            wall["import"] = imported_at.timestamp() - feed_done
            worker_peak = max((peak_mib(p) for p in _cpu.children_of(worker.pid)), default=0.0)
            worker_master_peak = peak_mib(worker.pid)
            web_a_peak = max(peak_mib(pid) for pid in tree(web_a.pid))
            bench_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            with OctopusClient(sim_b.url, sim_b.api_key, policy=loopback) as c_b:
                feed_b = ours(c_b.packages(SPACE))
                projects = [
                    p
                    for p in c_b.get_all(f"/api/{SPACE}/projects")
                    if p["Name"].endswith("Bench App")
                ]
                releases = c_b.project_releases(SPACE, projects[0]["Id"]) if projects else []
            expected = {p.name[: -len(".1.0.0.zip")]: sha1_of(p) for p in paths}
            imported_ok = feed_b == expected and len(projects) == 1 and len(releases) == 1

            ideal_after = ideal_seconds(paths, WORK / "ideal")
            ideal, ideal_cpu = min(ideal_before, ideal_after)
            whole = wall["build"] + wall["deliver"] + wall["packages"] + wall["import"]
            load_after = os.getloadavg()

            print(
                f"release: {args.steps} steps, {args.variables} variables, {len(paths)} "
                f"packages, {total / MIB:.0f} MiB; bundle {bundle_kib:.0f} KiB; "
                f"import queued to done as seen by the bench {import_total:.1f} s"
            )
            groups = ["bench", "octosim A", "web A", "web B", "worker B", "octosim B", "postgres"]
            head = " ".join(f"{g:>10}" for g in groups)
            print(f"{'phase':9} {'wall s':>8} {'cpu s':>8}  cpu s by process: {head}")
            for phase in ("build", "deliver", "packages", "import"):
                spent = cpu.get(phase, {})
                row = " ".join(f"{spent.get(g, 0.0):10.2f}" for g in groups)
                print(f"{phase:9} {wall[phase]:8.2f} {sum(spent.values()):8.2f}  {'':18}{row}")
            cpu_whole = sum(sum(cpu.get(p, {}).values()) for p in cpu)
            print(f"{'whole':9} {whole:8.2f} {cpu_whole:8.2f}")
            print(f"{'ideal':9} {ideal:8.2f} {ideal_cpu:8.2f}  (SHA-256 of each file, a copy, "
                  "SHA-256 of the copy; the faster of: before the timed phases "
                  f"{ideal_before[0]:.2f} s wall {ideal_before[1]:.2f} s cpu, after them "
                  f"{ideal_after[0]:.2f} s wall {ideal_after[1]:.2f} s cpu)")  # fmt: skip
            print(
                f"ratio whole/ideal {whole / ideal:.2f} (wall), {cpu_whole / ideal_cpu:.2f} (cpu); "
                f"throughput {total / MIB / whole:.0f} MiB/s"
            )
            print(
                f"peak RSS: worker B task process {worker_peak:.0f} MiB (master "
                f"{worker_master_peak:.0f}), web A {web_a_peak:.0f} MiB, bench process "
                f"(build) {bench_peak:.0f} MiB"
            )
            print(
                f"target: {len(feed_b)} packages with the source's SHA-1, {len(projects)} project, "
                f"{len(releases)} release; complete: {imported_ok}"
            )
            print(f"machine: {describe()}")
            print(
                f"load average before {load_before[0]:.1f} {load_before[1]:.1f}, after "
                f"{load_after[0]:.1f} {load_after[1]:.1f} {load_after[2]:.1f} "
                f"on {os.cpu_count()} CPUs"
            )
            print(
                f"bench: promotions size_mib={total / MIB:.0f} packages={len(paths)} "
                f"steps={args.steps} variables={args.variables} "
                f"build_s={wall['build']:.2f} deliver_s={wall['deliver']:.2f} "
                f"packages_s={wall['packages']:.2f} import_s={wall['import']:.2f} "
                f"whole_s={whole:.2f} ideal_s={ideal:.2f} ratio={whole / ideal:.2f} "
                f"cpu_s={cpu_whole:.2f} worker_peak_mib={worker_peak:.0f} "
                f"web_a_peak_mib={web_a_peak:.0f} load1={load_after[0]:.1f}"
            )
        finally:
            if worker is not None:
                bench_worker.stop(worker, worker_log)
            stop_process(web_a)
            stop_process(web_b)
            shutil.rmtree(WORK / "packages", ignore_errors=True)


if __name__ == "__main__":
    main()
