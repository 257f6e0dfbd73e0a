"""Subscription rules follow the fleet: a space on an instance tagged later (or a space
enlisted later on a tagged instance) is subscribed and delivered; untagged, it is unsubscribed;
subscriptions chosen explicitly are never touched. Against octosim over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.urls import reverse

from audit.models import AuditEntry
from sharing import tasks
from sharing.models import SharedItem, Subscription, SubscriptionRule
from sharing.services import subscription_rules
from spaces import signals
from spaces.models import Space
from spaces.services import update_instance

from .conftest import lvs_copy, make_set, space_of, subscribe, trust

pytestmark = pytest.mark.django_db


@pytest.fixture
def eager() -> Iterator[None]:
    """Tasks the fleet's events enqueue run at once, in this process."""
    from odcm.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


def test_a_space_tagged_later_is_subscribed_and_delivered_and_untagged_loses_only_the_rules(
    member: Any, pair: dict[str, Any], eager: None, django_capture_on_commit_callbacks: Any
) -> None:
    inst_b, subscriber = pair["inst_b"], pair["subscriber"]
    inst_b.owners.add(member)
    second = space_of(inst_b, "Spaces-2")
    trust(pair["publisher"], second)
    item = make_set(pair["publisher"])
    with django_capture_on_commit_callbacks(execute=True):
        explicit = subscribe(item, second, actor=member)  # chosen explicitly: delivered
    rule, done = subscription_rules.create_rule(item, "tag", "dc-east", mode="automatic",
                                                actor=member)  # fmt: skip
    assert done.subscribed == [] and subscription_rules.space_count(rule) == 0

    with django_capture_on_commit_callbacks(execute=True):
        update_instance(inst_b, tags=["dc-east"], actor=member)
    made = Subscription.objects.get(item=item, space=subscriber)
    assert made.rule_id == rule.pk and made.status == Subscription.Status.IN_SYNC
    assert len(lvs_copy(inst_b, "Spaces-1", item.name)) == 1  # delivered into Octopus
    explicit.refresh_from_db()
    assert explicit.rule_id is None  # already subscribed explicitly: left as it is

    with django_capture_on_commit_callbacks(execute=True):
        update_instance(inst_b, tags=[], actor=member)
    made.refresh_from_db()
    explicit.refresh_from_db()
    assert made.status == Subscription.Status.UNMANAGED
    assert explicit.status == Subscription.Status.IN_SYNC
    assert tasks.apply_subscription_rules() == 0  # idempotent
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"sharing.subscription_rule.create", "sharing.subscription_rule.apply"} <= actions


def test_a_space_enlisted_later_on_a_tagged_instance_is_subscribed(
    member: Any, pair: dict[str, Any], eager: None, django_capture_on_commit_callbacks: Any
) -> None:
    inst_b = pair["inst_b"]
    inst_b.owners.add(member)
    update_instance(inst_b, tags=["dc-east"])
    second = space_of(inst_b, "Spaces-2")
    Space.objects.filter(pk=second.pk).update(state=Space.State.NOT_ENLISTED)
    trust(pair["publisher"], second)
    item = make_set(pair["publisher"])
    with django_capture_on_commit_callbacks(execute=True):
        rule, done = subscription_rules.create_rule(item, "tag", "dc-east", mode="automatic",
                                                    actor=member)  # fmt: skip
    assert [s.space_id for s in rule.subscriptions.all()] == [pair["subscriber"].pk]
    Space.objects.filter(pk=second.pk).update(state=Space.State.ENLISTED)
    with django_capture_on_commit_callbacks(execute=True):
        signals.space_enlisted.send(sender=Space, space_id=second.pk)
    sub = Subscription.objects.get(item=item, space=second)
    assert sub.rule_id == rule.pk and sub.status == Subscription.Status.IN_SYNC
    assert len(lvs_copy(inst_b, "Spaces-2", item.name)) == 1


def test_the_item_page_shows_the_rule_and_removing_it_unsubscribes_only_its_spaces(
    login: Any, member: Any, outsider: Any, pair: dict[str, Any]
) -> None:
    inst_b = pair["inst_b"]
    inst_b.owners.add(member)
    update_instance(inst_b, tags=["dc-east"])
    second = space_of(inst_b, "Spaces-2")
    trust(pair["publisher"], second)
    item = make_set(pair["publisher"], policy=SharedItem.Policy.SUBSCRIBER_CHOOSES)
    explicit = subscribe(item, second, actor=member)
    client = login(member)
    page = client.post(
        reverse("sharing:subscribe", args=[item.pk]), {"space": "t:dc-east", "mode": "on_demand"},
        follow=True,
    ).content.decode()  # fmt: skip
    assert "Follows every space on instances tagged dc-east (2 spaces now); 1 subscribed" in page
    assert 'data-testid="subscription-rule"' in page and "2 spaces now" in page
    rule = SubscriptionRule.objects.get(item=item)
    assert login(outsider).post(reverse("sharing:delete-rule", args=[rule.pk])).status_code == 404
    client.post(reverse("sharing:delete-rule", args=[rule.pk]))
    assert not SubscriptionRule.objects.exists()
    statuses = dict(Subscription.objects.filter(item=item).values_list("space_id", "status"))
    assert statuses[pair["subscriber"].pk] == Subscription.Status.UNMANAGED
    explicit.refresh_from_db()
    assert explicit.status != Subscription.Status.UNMANAGED


def test_the_api_makes_lists_and_removes_rules_each_person_their_own(
    pair: dict[str, Any], member: Any, outsider: Any, token_for: Any
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    inst_b = pair["inst_b"]
    inst_b.owners.add(member)
    update_instance(inst_b, tags=["dc-east"], region="emea")
    item = make_set(pair["publisher"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(member)}")
    url = "/api/v1/sharing/subscription-rules/"
    made = api.post(url, {"item": str(item.pk), "selector": "tag", "value": "dc-east"},
                    format="json")  # fmt: skip
    assert made.status_code == 201, made.content
    body = made.json()
    assert body["label"] == "every space on instances tagged dc-east"
    assert body["spaces_subscribed"] == 1 and body["created_by"] == member.username
    sub = api.get("/api/v1/sharing/subscriptions/", {"item": str(item.pk)}).json()["results"][0]
    assert sub["rule"] == body["id"]
    again = api.post(url, {"item": str(item.pk), "selector": "tag", "value": "dc-east"},
                     format="json")  # fmt: skip
    assert again.status_code == 400 and "already follows" in again.content.decode()
    bad = api.post(url, {"item": str(item.pk), "selector": "colour", "value": "x"}, format="json")
    assert bad.status_code == 400 and "selector" in bad.json()["errors"]
    api.post(url, {"item": str(item.pk), "selector": "region", "value": "emea"}, format="json")
    with CaptureQueriesContext(connection) as two:
        listed = api.get(url)
    assert listed.json()["count"] == 2
    api.post(url, {"item": str(item.pk), "selector": "region", "value": "apac"}, format="json")
    with CaptureQueriesContext(connection) as three:
        assert api.get(url).json()["count"] == 3
    assert len(three.captured_queries) == len(two.captured_queries)

    stranger = APIClient()
    stranger.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(outsider)}")
    assert stranger.get(url).json()["count"] == 0
    assert stranger.delete(f"{url}{body['id']}/").status_code == 404
    assert api.delete(f"{url}{body['id']}/").status_code == 204
    # The region rule still reaches that space: the subscription is handed to it, not dropped.
    held = Subscription.objects.get(item=item, space=pair["subscriber"])
    assert held.status != Subscription.Status.UNMANAGED
    assert held.rule == SubscriptionRule.objects.get(value="emea")
    assert tasks.apply_subscription_rules() == 0
