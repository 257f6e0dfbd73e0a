"""The chaos test's own PostgreSQL and Redis: started in a temporary folder on free ports, so
restarting them never disturbs the machine's shared servers or another test run."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path

from tests.fixtures.processes import free_port, wait_for_port


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's bin folder (Debian's layout), or None."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4])
    )
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


class PostgresServer:
    """initdb into ``folder`` and run it on a free port; as root, as the ``postgres`` user
    (PostgreSQL refuses to run as root)."""

    def __init__(self, folder: Path) -> None:
        bindir = postgres_bin()
        if bindir is None:
            raise FileNotFoundError("no PostgreSQL binaries (pg_ctl, initdb)")
        self.bindir = bindir
        self.folder = folder
        self.data = folder / "pgdata"
        self.log = folder / "postgres.log"
        self.port = free_port()
        self.restarts = 0
        self._as: list[str] = []
        if os.geteuid() == 0:
            pwd.getpwnam("postgres")  # KeyError: no such user
            self._as = ["runuser", "-u", "postgres", "--"]
            shutil.chown(folder, "postgres")

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/odcm_chaos"

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as, *args], check=True, capture_output=True, timeout=120)

    def _ctl(self, *args: str) -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), *args)

    def start(self) -> None:
        if not self.data.exists():
            self._run(
                str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres",
                "-A", "trust", "--no-sync", "-E", "UTF8",
            )  # fmt: skip
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        self._ctl("-l", str(self.log), "-o", options, "-w", "-t", "60", "start")
        wait_for_port(self.port, timeout=60)

    def create_database(self) -> None:
        subprocess.run(
            [str(self.bindir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port)]
            + ["-U", "postgres", "odcm_chaos"],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def crash_and_restart(self) -> None:
        """Stop as a crash would (``immediate``: no checkpoint, every connection cut), start."""
        self._ctl("-m", "immediate", "-w", "stop")
        self.restarts += 1
        self.start()

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._ctl("-m", "fast", "-w", "stop")


class RedisServer:
    """redis-server on a free port with no persistence: a restart loses every queued message
    (the worst case; the periodic sweeps must re-create the work)."""

    def __init__(self, folder: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError("no redis-server")
        self.binary = binary
        self.folder = folder
        self.port = free_port()
        self.restarts = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = (self.folder / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        log.close()
        wait_for_port(self.port, timeout=30, process=self.process)

    def kill_and_restart(self) -> None:
        self.stop(kill=True)
        self.restarts += 1
        # The port is ours until another process takes it; wait until the old one let go.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self.start()
                return
            except RuntimeError:
                time.sleep(0.5)
        self.start()

    def stop(self, kill: bool = False) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            if kill:
                self.process.kill()
            else:
                self.process.terminate()
            self.process.wait(timeout=30)
        self.process = None
