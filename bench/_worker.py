"""A benchmark's Celery worker: its log goes to a file, and a stall is reported, not waited on.

Why a file: the benchmarks used to give the worker ``stderr=subprocess.PIPE`` and read it only
at the end. A pipe holds 64 KiB; once a worker had written that much (tracebacks of failing
tasks, warnings of failed deliveries) its next log line blocked forever, inside a task, with
the rest queued: "the worker stalled with tasks queued". With a file the worker never blocks,
and :func:`diagnose` shows what it was doing.

Why :func:`wait_ready`: the benchmarks used to sleep 4 s for the worker to start. On a loaded
2-core machine a prefork worker takes 20-30 s to import Django and fork, so the first timed
job waited for the worker's start-up: the "one-space grant of 30.5 s / 19.6 s" seen in 2 of 4
grant runs. Now a bench waits until the worker answers a ping, and reports how long that took.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


class Stalled(RuntimeError):
    """Work did not finish in time; the message says what the queue and worker looked like."""


def start(
    log_path: str | Path, *, concurrency: int, level: str, env: dict[str, str]
) -> tuple[subprocess.Popen[bytes], Any]:
    """A prefork worker writing its log to ``log_path`` (never a pipe)."""
    path = Path(log_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    log = path.open("wb")
    # The hostname ``wait_ready`` pings; unique per bench process.
    worker = subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "odcm", "worker", f"--loglevel={level}",
            f"--concurrency={concurrency}", "--pool=prefork", "--without-gossip",
            "--without-mingle", "--without-heartbeat", f"--hostname=bench-{os.getpid()}@%h",
        ],
        cwd=ROOT,
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=log,
    )  # fmt: skip
    return worker, log


def hostname() -> str:
    """This bench's worker node name, as Celery reports it (``%h`` is the host name)."""
    import socket

    return f"bench-{os.getpid()}@{socket.gethostname()}"


def wait_ready(
    worker: subprocess.Popen[bytes], redis_url: str, log_path: str | Path, timeout: float = 300
) -> float:
    """Block until the worker answers a Celery ping (it consumes from the broker), so that no
    timed job includes its start-up. Returns the seconds it took; raises :class:`Stalled`
    if the worker died or did not answer within ``timeout``."""
    from odcm.celery import app

    started = time.monotonic()
    while True:
        if worker.poll() is not None:
            raise Stalled(f"the worker exited ({worker.returncode}) before it was ready")
        if app.control.ping(destination=[hostname()], timeout=1.0):
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise Stalled(
                f"the worker did not answer a ping within {timeout:.0f} s: "
                + diagnose(redis_url, worker, log_path)
            )


def stop(worker: subprocess.Popen[bytes], log: Any) -> None:
    worker.terminate()
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait(timeout=5)
    log.close()
    text = Path(log.name).read_text(errors="replace")
    if "Traceback" in text:
        print(f"worker log ({log.name}) has tracebacks; last lines:", file=sys.stderr)
        print(text[-3000:], file=sys.stderr)


def diagnose(redis_url: str, worker: subprocess.Popen[bytes], log_path: str | Path) -> str:
    """The broker's queue, the worker's state and its last log lines, for a stall report."""
    import redis

    conn = redis.Redis.from_url(redis_url)
    queued = conn.llen("celery")
    unacked = conn.hlen("unacked")
    alive = worker.poll() is None
    tail = Path(log_path).read_text(errors="replace")[-1500:]
    return (
        f"queued messages: {queued}, unacked: {unacked}, worker alive: {alive}; "
        f"worker log {log_path} ends:\n{tail}"
    )
