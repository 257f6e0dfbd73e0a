"""Malformed input thrown at every API operation and every page, as an administrator and as
an ordinary user (a space manager): no answer may be a server error.

The API's operations come from its OpenAPI schema and the pages from the URL resolver, so a
new route is swept without a change here. See ``sweep.py`` for what is sent.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver

from odcm.api import urls as api_urls
from promotions.models import RemoteValue

from . import sweep
from .conftest import World

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

PERSONAS = ["admin", "manager"]
# Not pages of ODCM: the API (swept from its schema), the Django admin's generic pages (only
# administrators reach them; Django's own code), the schema and documentation (no input),
# and the health check (503 is its answer when a dependency is down).
SKIPPED = ("api/", "django-admin/", "healthz", "metrics", "static/")


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return sweep.api_schema()


def _runner(world: World, persona: str, log: sweep.ErrorLog) -> sweep.Runner:
    client = Client(raise_request_exception=False)
    client.force_login(world.users[persona])
    return sweep.Runner(persona, client, log)


@pytest.fixture
def error_log() -> Any:
    """Errors logged while sweeping (to say where a 5xx came from); the thousands of
    expected 4xx warnings are not written anywhere."""
    handler = sweep.ErrorLog()
    loggers = [logging.getLogger(name) for name in ("django.request", "odcm.api")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.ERROR)
    yield handler
    for logger, level in zip(loggers, levels, strict=True):
        logger.removeHandler(handler)
        logger.setLevel(level)


def _goods(world: World) -> dict[str, Any]:
    """Valid values for body fields, by name, so one bad field at a time gets past the rest."""
    return {
        "publisher": str(world.space.pk),
        "space": str(world.other.pk),
        "subscriber": str(world.other.pk),
        "source_space": str(world.space.pk),
        "item": str(world.item.pk),
        "instance": str(world.instance.pk),
        "group": str(world.extra["group"].pk) if "group" in world.extra else None,
        "name": "Sweep",
        "url": sweep.ROOT.as_uri(),
        "api_key": "API-SWEEPSWEEPSWEEPSWEEPSWEEP0",
        "content": {"variables": []},
        "library_variable_set_id": "LibraryVariableSets-1",
        "action_template_id": "ActionTemplates-1",
        "tag": "prod",
    }


# Every route of every app, each with several bad inputs: minutes on a busy 2-core machine.
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("persona", PERSONAS)
def test_no_malformed_api_request_is_a_server_error(world, schema, error_log, persona):
    runner = _runner(world, persona, error_log)
    # Parents of nested routes, and lookups that are not rows.
    fallback = {
        "space_id": str(world.space.pk),
        "instance_id": str(world.instance.pk),
        "role": "viewer",
        # a value held for a route's remote environment (promotions)
        "value_id": str(RemoteValue.objects.values_list("pk", flat=True).first()),
    }
    user = world.users[persona]
    unresolved: list[str] = []
    undeclared: set[str] = set()
    requests = sweep.api_requests(schema, user, _goods(world), fallback, unresolved)
    for method, url, kwargs, declared in requests:
        status = runner.send(method, url, **kwargs)
        if declared is not None and status not in declared and status < 500:
            undeclared.add(f"{method} {url.split('?')[0]} -> {status}")
    # Every route is swept on a real object, not only on its 404.
    assert not unresolved, f"no object in the world for {sorted(set(unresolved))}"
    # Every answer is one the schema declares for that operation.
    assert not undeclared, sorted(undeclared)
    # Oversize bodies: refused with 413 before anything reads them.
    big = '{"name": "' + "x" * (3 * 1024 * 1024) + '"}'
    assert runner.send("POST", "/api/v1/tokens/", data=big, content_type="application/json") in (
        413,
    )
    print(f"\n{persona}: {runner.count} API requests")
    assert runner.count > 1000
    assert not runner.failures, "\n".join(map(str, runner.failures[:40]))


@pytest.mark.parametrize("persona", PERSONAS)
def test_no_malformed_page_request_is_a_server_error(world, error_log, persona):
    runner = _runner(world, persona, error_log)
    admin = _runner(world, "admin", error_log)

    def reaches_view(url: str) -> bool:
        status = admin.send("GET", url)
        if status == 405:
            status = admin.send("POST", url)
        return status != 404

    names = sweep.page_parameters()
    assert {"tf", "to", "rows", "pinned_revision", "window", "next"} <= set(names)
    candidates = _page_candidates(world)
    urls = [
        url
        for route, _ in sweep.page_patterns(SKIPPED)
        for url in sweep.page_urls(route, candidates, reaches_view)
    ]
    for url in urls:
        runner.client.force_login(world.users[persona])  # a junk POST may have signed out
        refused: set[str] = set()  # methods the page does not take: one request tells
        for method, target, kwargs in sweep.page_requests(url, names):
            if method not in refused and runner.send(method, target, **kwargs) == 405:
                refused.add(method)
    print(f"\n{persona}: {len(urls)} pages, {runner.count} requests")
    assert len(urls) > 40 and runner.count > 500
    assert not runner.failures, "\n".join(map(str, runner.failures[:40]))


def _page_candidates(world: World) -> dict[str, list[tuple[str, str]]]:
    """Values for the pages' URL parameters, labelled with words their routes contain."""
    from identity.models import Grant, Group, ServiceAccount
    from identity.services.tokens import create_token

    token = create_token(world.users["manager"], name="sweep")[0]
    account = ServiceAccount.objects.order_by("created_at")[0]
    account_token = create_token(account.user, name="sweep")[0]
    objects = [
        ("instances", world.instance.pk), ("spaces", world.space.pk), ("spaces", world.other.pk),
        ("items", world.item.pk), ("items", world.template.pk),
        ("subscriptions", world.subscription.pk), ("trusts", world.trust.pk),
        ("window", world.window.pk), ("service-accounts", account.pk), ("tokens", token.pk),
        ("tokens", account_token.pk),
        ("groups", Group.objects.order_by("name")[0].pk),
        ("grants", Grant.objects.order_by("created_at")[0].pk),
        *(("users", u.uuid) for u in world.users.values()),
        # The world's objects of the other apps, each under the word its routes contain: a
        # route's object is probed first, instead of after every other candidate has 404'd.
        *_world_objects(),
    ]  # fmt: skip
    verbs = [("trusts", "accept"), ("trusts", "revoke"), ("spaces", "enlist"),
             ("spaces", "unenlist"), ("", "nonsense")]  # fmt: skip
    return {
        "uuid": [(label, str(pk)) for label, pk in objects],
        "slug": [("instances", world.instance.slug), ("spaces", world.space.slug)],
        "str": [("instances", world.instance.slug), ("", "x")],
        "verb": verbs,
    }


def _world_objects() -> list[tuple[str, Any]]:
    """(route word, pk) of the world's rows of the apps beyond identity, spaces and sharing
    (see ``conftest.build_world``)."""
    from fleetconfig.models import Plan
    from identity.models import GrantRule, Invitation
    from managed.models import (
        Blueprint,
        Customer,
        Downstream,
        InstanceBaseline,
        Split,
        TemplateProject,
    )
    from promotions.models import InboundBundle, Promotion, Route
    from promotions.models import Trust as PromotionTrust
    from rollouts.models import DeploymentRun, Pipeline, Rollout
    from sharing.models import SubscriptionRule

    rows = [
        ("blueprints", Blueprint), ("baselines", InstanceBaseline), ("routes", Route),
        ("promotions", Promotion), ("inbox", InboundBundle), ("trusts", PromotionTrust),
        ("templates", TemplateProject), ("downstreams", Downstream), ("splits", Split),
        ("customers", Customer), ("pipelines", Pipeline), ("runs", DeploymentRun),
        ("rollouts", Rollout), ("plans", Plan),
        ("grant-rules", GrantRule), ("rules", SubscriptionRule), ("invitations", Invitation),
    ]  # fmt: skip
    return [
        (label, pk)
        for label, model in rows
        for pk in model._default_manager.values_list("pk", flat=True)
    ]


def test_every_api_route_is_in_the_schema_the_sweep_reads(schema):
    """A route outside the schema would escape the sweep: every named one is in it."""
    documented = {re.sub(r"{\w+}", "{}", path) for path in schema["paths"]}
    missing = []

    def walk(patterns: list[Any], prefix: str) -> None:
        for entry in patterns:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, route)
            elif isinstance(entry, URLPattern) and entry.name and entry.name != "api-root":
                path = re.sub(r"\(\?P<\w+>[^)]+\)", "{}", route)
                path = re.sub(r"<(?:\w+:)?\w+>", "{}", path).strip("^$").replace("\\.", ".")
                path = re.sub(r"\{\}\.\(\?P<format>.*", "", path).rstrip("/") + "/"
                if "format" not in route and "/api/v1/" + path not in documented:
                    missing.append(route)

    walk(api_urls.urlpatterns, "")
    assert not missing, missing
