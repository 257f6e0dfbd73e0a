"""Celery: safe configuration, and a real worker process runs work enqueued after commit."""

import time

import pytest
from django.core.cache import cache
from django.db import transaction

from odcm.celery import app
from odcm.tasks import HEARTBEAT_KEY, worker_heartbeat


def test_celery_is_configured_for_safe_delivery():
    conf = app.conf
    assert conf.task_serializer == "json" and list(conf.accept_content) == ["json"]
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_time_limit and conf.task_soft_time_limit < conf.task_time_limit


@pytest.mark.django_db(transaction=True)
def test_real_worker_runs_a_task_enqueued_on_commit(start_celery_worker, client):
    cache.delete(HEARTBEAT_KEY)
    worker = start_celery_worker()
    with transaction.atomic():
        transaction.on_commit(worker_heartbeat.delay)
        time.sleep(1)
        assert cache.get(HEARTBEAT_KEY) is None  # nothing is sent before the commit
    deadline = time.monotonic() + 60
    while cache.get(HEARTBEAT_KEY) is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert cache.get(HEARTBEAT_KEY) is not None, worker.output()[-3000:]
    age = client.get("/readyz").json()["worker_heartbeat_age_seconds"]
    assert age is not None and age < 60
