"""The Celery application: JSON only, late acks, one task at a time per worker process.

Worker and beat run as separate processes (see Procfile). Tasks are enqueued after the
transaction that caused them commits: ``transaction.on_commit(lambda: task.delay(...))``
(or Celery's ``delay_on_commit``), never a bare ``delay`` inside a transaction.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "odcm.settings")

app = Celery("odcm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    event_serializer="json",
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_time_limit=300,
    task_soft_time_limit=270,
    task_ignore_result=True,
    result_backend=None,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    timezone="UTC",
)
app.autodiscover_tasks()
