"""``make demo``: run the whole product on this machine with nothing but Python.

SQLite under var/, a file-system Celery broker, simulated Octopus instances (octosim), a web
server, a Celery worker and Celery beat, all started and stopped together. Ctrl-C stops them all.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from odcm.crypto import generate_key

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
WEB_PORT = int(os.environ.get("ODCM_DEMO_PORT", "8000"))
SIM_PORT = int(os.environ.get("ODCM_DEMO_OCTOSIM_PORT", "8081"))
SIM_NAMES = "brisbane,us-east,europe"
SIM_VERSIONS = "2024.4.1234,2024.1.100,2023.2.13"


def demo_environment() -> dict[str, str]:
    """The demo's configuration; its secrets are generated once and kept in var/demo.env."""
    VAR.mkdir(exist_ok=True)
    env_file = VAR / "demo.env"
    if not env_file.exists():
        env_file.touch(mode=0o600)
        env_file.write_text(
            f"ODCM_SECRET_KEY={secrets.token_urlsafe(50)}\nODCM_ENCRYPTION_KEYS={generate_key()}\n"
        )
    env = dict(os.environ)
    for line in env_file.read_text().splitlines():
        name, _, value = line.partition("=")
        env[name] = value
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "odcm.settings",
            "ODCM_DEBUG": "false",
            "ODCM_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "ODCM_SITE_URL": f"http://127.0.0.1:{WEB_PORT}",
            # octosim listens on loopback over plain HTTP; real instances need neither.
            "ODCM_ALLOW_HTTP_INSTANCES": "true",
            "ODCM_ALLOWED_PRIVATE_NETWORKS": "127.0.0.0/8",
            "PYTHONUNBUFFERED": "1",
        }
    )
    for name in ("ODCM_DATABASE_URL", "ODCM_REDIS_URL"):
        env.pop(name, None)  # the demo is self-contained: SQLite and the file-system broker
    return env


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_for_port(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"demo: `manage.py {' '.join(args)}` failed")
    return result.stdout


class Processes:
    """Children started together, each with its output prefixed, stopped together."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.children: dict[str, subprocess.Popen[str]] = {}

    def start(
        self, name: str, args: list[str], stdout: int | IO[str] | None = None
    ) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            args,
            cwd=ROOT,
            env=self.env,
            text=True,
            start_new_session=True,
            stdout=stdout if stdout is not None else open(VAR / f"{name}.log", "w"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )
        self.children[name] = process
        return process

    def dead(self) -> list[str]:
        return [name for name, p in self.children.items() if p.poll() is not None]

    def stop(self) -> None:
        for process in self.children.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in self.children.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def start_octosim(procs: Processes) -> list[dict[str, str]]:
    """Start three simulated Octopus servers and return what octosim printed about them."""
    sim = procs.start(
        "octosim",
        [
            sys.executable,
            "-m",
            "octosim",
            "--port",
            str(SIM_PORT),
            "--json",
            "--seed",
            "7",
            "--names",
            SIM_NAMES,
            "--versions",
            SIM_VERSIONS,
            "--spaces",
            "3-6",
            "--live-activity",
            "30",
            "--state-file",
            str(VAR / "octosim-state.json"),
        ],
        stdout=subprocess.PIPE,
    )
    assert sim.stdout is not None
    first_line = sim.stdout.readline()
    try:
        instances: list[dict[str, str]] = json.loads(first_line)
    except json.JSONDecodeError:
        raise SystemExit(f"demo: octosim did not start (see {VAR / 'octosim.log'})") from None
    # Keep draining octosim's output into its log so it never blocks on a full pipe.
    log = open(VAR / "octosim.log", "w")  # noqa: SIM115
    subprocess.Popen(["cat"], stdin=sim.stdout, stdout=log)
    return instances


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    if sys.argv[1:] == ["--reset-admin-password"]:
        print(manage(demo_environment(), "demo_setup", "--reset").strip())
        return 0
    if sys.argv[1:2] == ["--manage"]:
        # Any management command against the demo's database and secrets, e.g. odcm_export.
        manage(demo_environment(), "migrate", "--noinput")
        return subprocess.call(
            [sys.executable, "manage.py", *sys.argv[2:]], cwd=ROOT, env=demo_environment()
        )
    for port in (WEB_PORT, SIM_PORT):
        if not port_free(port):
            print(
                f"demo: port {port} is in use: stop whatever uses it, "
                "or set ODCM_DEMO_PORT / ODCM_DEMO_OCTOSIM_PORT"
            )
            return 1
    env = demo_environment()
    print("demo: preparing the database (SQLite under var/) and static files …", flush=True)
    manage(env, "migrate", "--noinput")
    manage(env, "collectstatic", "--noinput")
    credentials = manage(env, "demo_setup").strip()

    procs = Processes(env)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        instances = start_octosim(procs)
        procs.start(
            "web",
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--config",
                "gunicorn.conf.py",
                "--bind",
                f"127.0.0.1:{WEB_PORT}",
                "--workers",
                "2",
            ],
        )
        procs.start(
            "worker",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "odcm",
                "worker",
                "--loglevel=INFO",
                "--concurrency=2",
            ],
        )
        procs.start(
            "beat", [sys.executable, "-m", "celery", "-A", "odcm", "beat", "--loglevel=INFO"]
        )
        if not wait_for_port(WEB_PORT, 60):
            print(f"demo: the web server did not start (see {VAR / 'web.log'})")
            return 1
        (VAR / "octosim-instances.json").write_text(json.dumps(instances))
        print(manage(env, "demo_enlist", str(VAR / "octosim-instances.json")).rstrip(), flush=True)
        print(manage(env, "demo_promotions").rstrip(), flush=True)
        print(manage(env, "managed_demo").rstrip(), flush=True)
        print(
            "\n"
            f"  ODCM is running at http://127.0.0.1:{WEB_PORT}\n"
            f"  {credentials}\n"
            f"  Simulated Octopus servers: "
            + ", ".join(f"{i['name']} ({i['url']})" for i in instances)
            + f"\n  Logs: {VAR}/*.log   Email: {VAR / 'mail'}\n"
            "  Press Ctrl-C to stop everything.\n",
            flush=True,
        )
        while True:
            dead = procs.dead()
            if dead:
                print(f"demo: {', '.join(dead)} stopped unexpectedly (see {VAR}/{dead[0]}.log)")
                return 1
            time.sleep(1)
    except KeyboardInterrupt:
        print("\ndemo: stopping …", flush=True)
        return 0
    finally:
        procs.stop()


if __name__ == "__main__":
    sys.exit(main())
