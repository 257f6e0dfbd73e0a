"""The test suite's cache reset leaves the broker's messages alone (they share Redis)."""

from __future__ import annotations

import redis
from django.conf import settings
from django.core.cache import cache

from tests.conftest import clear_cache


def test_clearing_the_cache_between_tests_keeps_queued_celery_messages():
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    queue = "odcm-test-queue-kept"  # a list, as kombu keeps a queue; not under the cache prefix
    broker.delete(queue)
    broker.rpush(queue, b"a queued task message")
    cache.set("rate-limit-counter", 3)
    try:
        clear_cache()
        assert cache.get("rate-limit-counter") is None
        assert broker.lrange(queue, 0, -1) == [b"a queued task message"]
    finally:
        broker.delete(queue)
