"""gunicorn settings for ODCM's web process, the one file the Dockerfile, docker-compose.yml and
the Procfile start it with (`gunicorn --config gunicorn.conf.py`).

Environment: ``PORT`` (8000), ``WEB_CONCURRENCY`` (worker processes, 3), ``ODCM_WEB_THREADS``
(threads per worker, 4), ``FORWARDED_ALLOW_IPS`` (proxies whose X-Forwarded-* gunicorn
trusts, read by gunicorn itself), ``PROMETHEUS_MULTIPROC_DIR`` (see below) and
``ODCM_LOG_FORMAT`` (``json`` for one JSON object per log line). Options given on the command
line win over this file.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

wsgi_app = "odcm.wsgi:application"
bind = [f"0.0.0.0:{os.environ.get('PORT') or 8000}"]
workers = int(os.environ.get("WEB_CONCURRENCY") or 3)
threads = int(os.environ.get("ODCM_WEB_THREADS") or 4)
timeout = 60
graceful_timeout = 30
accesslog = "-"
# Heartbeat files in memory, not on a container's overlay file system.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

# Prometheus multiprocess mode: every worker writes its counters to files in one folder and
# /metrics adds them up, so a scrape sees the whole server, not the one worker it reached.
# The variable must be set before any worker imports prometheus_client (workers fork from
# this process). An operator may choose the folder; else a fresh one under the temp folder.
_own_metrics_dir = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _own_metrics_dir:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="odcm-metrics-")
METRICS_DIR = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])

if (os.environ.get("ODCM_LOG_FORMAT") or "").lower() == "json":
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "odcm.logging.JsonFormatter"}},
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "json"},
        },
        "loggers": {
            "gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
            "gunicorn.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
        },
    }


def on_starting(server: Any) -> None:
    """Start from an empty metrics folder: files of a previous run would be counted again."""
    METRICS_DIR.mkdir(parents=True, exist_ok=True)
    for entry in METRICS_DIR.iterdir():
        if entry.is_file():
            entry.unlink()


def child_exit(server: Any, worker: Any) -> None:
    """A worker that ended: its live gauges stop counting (its counters stay, as they must)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server: Any) -> None:
    if _own_metrics_dir:
        shutil.rmtree(METRICS_DIR, ignore_errors=True)


# gunicorn reads this file from the working directory (the project root, /app in the image).
# The access log masks secret-looking query parameters and password-reset keys.
logger_class = "odcm.gunicorn_logging.RedactingLogger"
