"""Event subscriptions (``/subscriptions``, space-scoped) and the default retention setting.

Subscriptions follow the 2020.5 ``SubscriptionResource``: ``Name``, ``Type`` (``Event``),
``IsDisabled``, ``SpaceId`` and an ``EventNotificationSubscription`` holding the filter
(``EventNotificationSubscriptionFilter``: event groups, categories, document types and the
ids of environments, projects, project groups, tenants, users and tags), the email settings
(``EmailTeams``, ``EmailFrequencyPeriod``, ``EmailPriority``, ``EmailShowDatesInTimeZoneId``)
and the webhook settings (``WebhookURI``, ``WebhookTeams``, ``WebhookTimeout``,
``WebhookHeaderKey``, ``WebhookHeaderValue``). Defaults are go-octopusdeploy's
``NewSubscription``. The generic space collection handlers of :mod:`octosim.api_space` do the
CRUD; what differs (the nested document's validation and defaults) is wrapped around them.

``/api/configuration/retention-default`` (``RetentionDays``) is the instance's default
retention, as Octopus documents it for newer servers (``RetentionDefaultConfigurationResource``;
the 2020.5 Swagger has no such route).
"""

from __future__ import annotations

import re
from typing import Any

from octosim import resources as R
from octosim.api_space import (
    KINDS,
    Kind,
    make_all,
    make_create,
    make_delete,
    make_get,
    make_list,
    make_update,
)
from octosim.errors import invalid
from octosim.paging import q
from octosim.routing import Ctx, Reply, Router
from octosim.state import Doc, now

FILTER_FIELDS = (
    "DocumentTypes", "Environments", "EventAgents", "EventCategories", "EventGroups",
    "ProjectGroups", "Projects", "Tags", "Tenants", "Users",
)  # fmt: skip
# filter fields holding ids of this space's documents, checked like Octopus checks references
FILTER_REFERENCES = {
    "Environments": "environments",
    "Projects": "projects",
    "ProjectGroups": "projectgroups",
    "Tenants": "tenants",
}
PRIORITIES = ("High", "Low", "Normal")
TIMESPAN = re.compile(r"^(\d+\.)?\d{1,2}:\d{2}:\d{2}$")
TEXT = (
    "EmailShowDatesInTimeZoneId", "WebhookHeaderKey", "WebhookHeaderValue", "WebhookURI",
)  # fmt: skip
RETENTION = "/api/configuration/retention-default"


def _defaults() -> Doc:
    return {
        "Filter": {name: [] for name in FILTER_FIELDS},
        "EmailTeams": [],
        "EmailFrequencyPeriod": "01:00:00",
        "EmailPriority": "Normal",
        "EmailDigestLastProcessed": None,
        "EmailDigestLastProcessedEventAutoId": None,
        "EmailShowDatesInTimeZoneId": "UTC",
        "WebhookURI": None,
        "WebhookTeams": [],
        "WebhookTimeout": "00:00:10",
        "WebhookHeaderKey": None,
        "WebhookHeaderValue": None,
        "WebhookLastProcessed": None,
        "WebhookLastProcessedEventAutoId": None,
    }


def _b_subscription(ctx: Ctx, body: dict[str, Any]) -> Doc:
    return {
        "Id": ctx.st.next_id("Subscriptions"),
        "Name": body["Name"],
        "Type": "Event",
        "IsDisabled": False,
        "EventNotificationSubscription": _defaults(),
        "SpaceId": ctx.space_id or "",
        "LastModifiedOn": None,
        "LastModifiedBy": None,
    }


def _strings(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid(f"The {where} field must be a list of strings.")
    return list(value)


def _checked(ctx: Ctx, raw: Any, current: Doc) -> Doc:
    """The nested document after a write: ``raw`` over ``current``, validated."""
    if raw is None:
        return current
    if not isinstance(raw, dict):
        raise invalid("The EventNotificationSubscription field must be an object.")
    out = {**current}
    errors: list[str] = []
    for key, value in raw.items():
        if key not in out:
            continue  # unknown or server-owned fields are ignored, as Octopus's binder does
        if key.endswith("LastProcessed") or key.endswith("LastProcessedEventAutoId"):
            continue  # the server's own bookkeeping
        out[key] = value
    filt = raw.get("Filter", current["Filter"])
    if not isinstance(filt, dict):
        raise invalid("The Filter field must be an object.")
    out["Filter"] = {name: _strings(filt.get(name), f"Filter.{name}") for name in FILTER_FIELDS}
    for name, collection in FILTER_REFERENCES.items():
        known = ctx.col(collection)
        errors += [
            f"The {name[:-1].lower()} '{ident}' in the filter does not exist."
            for ident in out["Filter"][name]
            if ident not in known
        ]
    for name in ("Users",):
        users = ctx.st.sys("users")
        errors += [f"The user '{u}' does not exist." for u in out["Filter"][name] if u not in users]
    teams = ctx.st.sys("teams")
    for name in ("EmailTeams", "WebhookTeams"):
        out[name] = _strings(out[name], name)
        errors += [f"The team '{t}' does not exist." for t in out[name] if t not in teams]
    if out["EmailPriority"] not in PRIORITIES:
        errors.append(f"EmailPriority must be one of {', '.join(PRIORITIES)}.")
    for name in ("EmailFrequencyPeriod", "WebhookTimeout"):
        if not isinstance(out[name], str) or not TIMESPAN.match(out[name]):
            errors.append(f"The {name} field must be a time span (hh:mm:ss).")
    for name in TEXT:
        if out[name] is not None and not isinstance(out[name], str):
            errors.append(f"The {name} field must be a string.")
    uri = out["WebhookURI"]
    if uri and not re.match(r"^https?://[^\s/]+", uri):
        errors.append("The WebhookURI must be an absolute http(s) URL.")
    if errors:
        raise invalid(*errors)
    for name in TEXT:
        out[name] = out[name] or None
    return out


SUBSCRIPTIONS = Kind(
    "subscriptions",
    "Subscription",
    "subscription",
    q("skip", "take", "ids", "partialName", "spaces"),
    _b_subscription,
    "Subscription",
    read_only=("Type", "EventNotificationSubscription"),
)


def _wrap(inner: Any, *, create: bool) -> Any:
    """Validate the nested document before the generic handler stores anything."""

    def handler(ctx: Ctx) -> Reply:
        body = ctx.json_body()
        if body.get("Type") not in (None, "Event"):
            raise invalid("Type must be 'Event'.")
        if "IsDisabled" in body and not isinstance(body["IsDisabled"], bool):
            raise invalid("The IsDisabled field must be true or false.")
        if create:
            current = _defaults()
        else:
            existing = ctx.col("subscriptions").get(ctx.params["id"])
            current = dict(existing["EventNotificationSubscription"]) if existing else _defaults()
        nested = _checked(ctx, body.get("EventNotificationSubscription"), current)
        status, out = inner(ctx)
        doc = ctx.col("subscriptions")[out["Id"]]
        doc["EventNotificationSubscription"] = nested
        return status, {**out, "EventNotificationSubscription": nested}

    return handler


# ---------------------------------------------------------------- retention


def _retention(ctx: Ctx) -> Doc:
    config = ctx.st.sys("configuration")
    if "retention-default" not in config:
        config["retention-default"] = {
            "Id": "retention-default",
            "RetentionDays": 90,
            "LastModifiedOn": None,
            "LastModifiedBy": None,
        }
    return config["retention-default"]


def get_retention(ctx: Ctx) -> Reply:
    return 200, {**_retention(ctx), "Links": {"Self": RETENTION}}


def put_retention(ctx: Ctx) -> Reply:
    body = ctx.json_body()
    days = body.get("RetentionDays")
    if not isinstance(days, int) or isinstance(days, bool) or days < 0:
        raise invalid("The RetentionDays field must be a whole number of 0 or more.")
    doc = _retention(ctx)
    doc["RetentionDays"] = days
    R.stamp(doc, ctx.username, now())
    return 200, {**doc, "Links": {"Self": RETENTION}}


def register(router: Router) -> None:
    kind = SUBSCRIPTIONS
    KINDS[kind.name] = kind
    base = f"/{kind.name}"
    router.space("GET", base, make_list(kind))
    router.space("GET", f"{base}/all", make_all(kind))
    router.space("GET", f"{base}/{{id}}", make_get(kind))
    create = _wrap(make_create(kind), create=True)
    router.space("POST", base, create, permission="SubscriptionCreate")
    update = _wrap(make_update(kind), create=False)
    router.space("PUT", f"{base}/{{id}}", update, permission="SubscriptionEdit")
    router.space("DELETE", f"{base}/{{id}}", make_delete(kind), permission="SubscriptionDelete")
    router.system("GET", "/configuration/retention-default", get_retention, swagger=None)
    router.system(
        "PUT", "/configuration/retention-default", put_retention,
        swagger=None, permission="AdministerSystem",
    )  # fmt: skip
