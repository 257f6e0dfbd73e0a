"""Sensitive values never leave ODCM except towards Octopus.

One run through publishing, delivering (with failures, retries and drift), the API and the
pages; then every API response, log record, rendered page, Celery message (as published and as
held in Redis) and audit entry collected is scanned for the plaintexts.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import redis
from celery.signals import before_task_publish
from django.conf import settings
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from audit.models import AuditEntry
from sharing.models import Delivery, Revision, Subscription
from sharing.services import drift, queueing

from .conftest import space_of, trust, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PLAINTEXTS = ["Zq9-first-SENSITIVE-value-4471", "Zq9-second-SENSITIVE-value-8812"]
FAST = {"ODCM_SHARING_RETRY_BASE_SECONDS": "1", "ODCM_SHARING_RETRY_MAX_SECONDS": "2"}


class Collected:
    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []
        self.caplog: Any = None
        self.redis = redis.Redis.from_url(str(settings.ODCM_REDIS_URL))

    def add(self, where: str, text: Any) -> None:
        self.items.append((where, text if isinstance(text, str) else json.dumps(text, default=str)))

    def add_logs(self) -> None:
        for record in self.caplog.records:
            self.add(f"log {record.name}", record.getMessage())
            if record.exc_info:
                self.add(f"log {record.name} traceback", logging.Formatter().format(record))

    def snapshot_redis(self) -> None:
        for key in self.redis.keys("*"):
            kind = self.redis.type(key)
            values: list[Any]
            if kind == b"list":
                values = self.redis.lrange(key, 0, -1)
            elif kind == b"hash":
                values = list(self.redis.hgetall(key).values())
            elif kind == b"string":
                values = [self.redis.get(key) or b""]
            elif kind == b"zset":
                values = self.redis.zrange(key, 0, -1)
            else:
                continue
            for value in values:
                text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
                self.add(f"redis {key!r}", text)


@pytest.fixture
def collected(caplog: pytest.LogCaptureFixture) -> Any:
    found = Collected()

    def on_publish(body: Any = None, headers: Any = None, **kwargs: Any) -> None:
        found.add("celery message", {"body": body, "headers": headers})

    before_task_publish.connect(on_publish, weak=False)
    caplog.set_level(logging.DEBUG)
    found.caplog = caplog
    yield found
    before_task_publish.disconnect(on_publish)


def variables(secret: str) -> dict[str, Any]:
    return {
        "variables": [
            {"name": "Db.Password", "type": "Sensitive", "value": secret},
            {"name": "Url", "value": "https://x", "scope": {"environments": ["Production"]}},
        ]
    }


def test_sensitive_values_appear_in_no_response_log_page_message_or_audit_entry(
    pair, space_owner, member, token_for, start_celery_worker, collected
):
    worker = start_celery_worker(concurrency=1, **FAST)
    pair["inst_b"].owners.add(member)
    broken = space_of(pair["inst_b"], "Spaces-2")
    trust(pair["publisher"], broken)
    publisher, subscriber = APIClient(), APIClient()
    publisher.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(space_owner)}")
    subscriber.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(member)}")
    api = "/api/v1/sharing"

    def call(client: APIClient, method: str, url: str, data: Any = None) -> Any:
        response = getattr(client, method)(url, data, format="json")
        collected.add(f"API {method.upper()} {url}", response.content.decode())
        assert response.status_code < 400, response.content
        return response.json() if response.content else None

    item = call(
        publisher,
        "post",
        f"{api}/items/",
        {
            "kind": "variable_set",
            "name": "Secret set",
            "publisher": str(pair["publisher"].pk),
            "policy": "push",
        },
    )
    call(
        publisher,
        "post",
        f"{api}/items/{item['id']}/revisions/",
        {"content": variables(PLAINTEXTS[0])},
    )
    good = call(
        subscriber,
        "post",
        f"{api}/subscriptions/",
        {"item": item["id"], "space": str(pair["subscriber"].pk)},
    )
    # A second subscriber lacking the Production environment fails, and is retried.
    from odcm.clients import client_for

    with client_for(pair["inst_b"]) as client:
        for env in client.get_all("/api/Spaces-2/environments"):
            if env["Name"] == "Production":
                client.delete(f"/api/Spaces-2/environments/{env['Id']}")
    bad = call(
        subscriber, "post", f"{api}/subscriptions/", {"item": item["id"], "space": str(broken.pk)}
    )
    wait_for(lambda: Subscription.objects.get(pk=good["id"]).delivered_revision == 1)
    wait_for(lambda: Delivery.objects.filter(subscription_id=bad["id"], outcome="failed").exists())
    collected.snapshot_redis()

    call(
        publisher,
        "post",
        f"{api}/items/{item['id']}/revisions/",
        {"content": variables(PLAINTEXTS[1])},
    )
    collected.snapshot_redis()
    wait_for(lambda: Subscription.objects.get(pk=good["id"]).delivered_revision == 2)
    pair["sim_b"].set_faults(error_rate=1.0)
    call(subscriber, "post", f"{api}/subscriptions/{good['id']}/sync/", {})
    wait_for(lambda: Subscription.objects.get(pk=good["id"]).status == "failed")
    collected.snapshot_redis()
    pair["sim_b"].clear_faults()
    sub = Subscription.objects.get(pk=good["id"])
    wait_for(lambda: Subscription.objects.get(pk=good["id"]).status == "in_sync")
    sub.refresh_from_db()
    pair["sim_b"].edit_variable_set(sub.octopus_child_id, set={"Db.Password": "hand-edited"})
    assert drift.check(str(sub.pk)) == "reapplying"
    collected.snapshot_redis()
    wait_for(lambda: Subscription.objects.get(pk=good["id"]).status == "in_sync")
    queueing.sweep(requeue_after=0)
    collected.snapshot_redis()

    item_url, good_url, bad_url = (
        f"{api}/items/{item['id']}/",
        f"{api}/subscriptions/{good['id']}/",
        f"{api}/subscriptions/{bad['id']}/",
    )
    for url in (
        f"{api}/items/",
        item_url,
        f"{item_url}revisions/",
        f"{item_url}diff/?from=1&to=2",
        f"{api}/subscriptions/",
        f"{good_url}deliveries/",
        bad_url,
        f"{bad_url}update/",
        f"{api}/broker/",
    ):
        call(publisher if "items" in url else subscriber, "get", url)
    pages = Client()
    pages.force_login(space_owner)
    for name, args in (
        ("sharing:index", []),
        ("sharing:item", [item["id"]]),
        ("sharing:edit", [item["id"]]),
        ("sharing:diff", [item["id"]]),
        ("sharing:subscription", [good["id"]]),
        ("sharing:subscription", [bad["id"]]),
    ):
        response = pages.get(reverse(name, args=args))
        assert response.status_code == 200
        collected.add(f"page {name}", response.content.decode())
    for entry in AuditEntry.objects.all():
        collected.add("audit", {"message": entry.message, "changes": entry.changes})
    for row in Delivery.objects.all():
        collected.add("delivery row", row.message)
    for sub_row in Subscription.objects.all():
        collected.add("subscription row", [sub_row.error_message, sub_row.drift])
    for revision in Revision.objects.all():
        collected.add("revision content", revision.content)
        assert revision.secrets.startswith("v1.")
    collected.add("worker log", worker.output())
    collected.add_logs()

    # The run did exercise what it claims to have exercised.
    kinds = {where.split(" ")[0] for where, _ in collected.items}
    assert {"API", "celery", "redis", "log", "page", "audit", "worker"} <= kinds
    assert Delivery.objects.filter(
        subscription_id=bad["id"], error_class="missing_environment"
    ).exists()
    assert any("has value" in text for where, text in collected.items if where.startswith("page"))
    for where, text in collected.items:
        for secret in PLAINTEXTS:
            assert secret not in text, f"a sensitive value leaked into {where}"
