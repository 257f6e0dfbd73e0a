"""A benchmark's Celery worker: its log goes to a file, and a stall is reported, not waited on.

Why a file: the benchmarks used to give the worker ``stderr=subprocess.PIPE`` and read it only
at the end. A pipe holds 64 KiB; once a worker had written that much (tracebacks of failing
tasks, warnings of failed deliveries) its next log line blocked forever, inside a task, with
the rest queued: "the worker stalled with tasks queued". With a file the worker never blocks,
and :func:`diagnose` shows what it was doing.
"""

from __future__ import annotations

import os
import subprocess
import sys
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
