"""An instance baseline's document: validated, normalised, secrets taken out.

Every part is optional; a part left out is left alone on the instances::

    {"smtp": {"host", "port", "from", "login", "enable_ssl", "password"},
     "authentication": {"username_password": true, "guest": false,
                        "okta": {"enabled", "issuer", "client_id", "client_secret", "scope",
                                 "role_claim_type", "allow_auto_user_creation"}},
     "subscriptions": [{"name", "space", "disabled", "event_groups", "event_categories",
                        "document_types", "event_agents", "users", "projects",
                        "project_groups", "environments", "tenants", "tags",
                        "webhook_uri", "webhook_header_key",
                        "webhook_header_value", "webhook_timeout", "email_teams",
                        "email_priority", "email_frequency"}],
     "maintenance": {"maintenance_mode": false},
     "retention": {"days": 90}}

Secrets (the SMTP password, Okta's client secret, a webhook's header value) are moved to
``secrets`` and replaced by ``…_set: true``; a secret left out keeps the previous revision's.
Subscriptions are matched by name; ``space`` names an Octopus space (blank: the default
space) and ``email_teams`` name teams, both translated to ids on each instance; so are the
filter's ``users`` (usernames), ``projects``, ``project_groups``, ``environments`` and
``tenants`` (names in the subscription's space). ``tags`` are canonical tag names
("Tag set/Tag", as Octopus's filter holds them), checked against the space's tag sets.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from managed.services.content import BlueprintInvalid

PARTS = ("smtp", "authentication", "subscriptions", "maintenance", "retention")
PRIORITIES = ("High", "Low", "Normal")
# The EventNotificationSubscriptionFilter's lists, in the baseline's words. Octopus holds the
# first group as they are; the second as ids, translated by name on each instance.
FILTER_AS_IS = ("event_groups", "event_categories", "document_types", "event_agents", "tags")
FILTER_BY_NAME = ("users", "projects", "project_groups", "environments", "tenants")
TIMESPAN = re.compile(r"^(\d+\.)?\d{1,2}:\d{2}:\d{2}$")


class BaselineInvalid(BlueprintInvalid):
    """The document cannot be a baseline; the message says which part and why."""


def _obj(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise BaselineInvalid(f"'{where}' must be an object.")
    return raw


def _text(raw: Any, where: str, *, required: bool = False, limit: int = 200) -> str:
    if raw is None:
        raw = ""
    if not isinstance(raw, str):
        raise BaselineInvalid(f"{where} must be text.")
    value = raw.strip()
    if required and not value:
        raise BaselineInvalid(f"{where} is required.")
    if len(value) > limit:
        raise BaselineInvalid(f"{where} is longer than {limit} characters.")
    return value


def _bool(raw: Any, where: str, default: bool = False) -> bool:
    if raw is None:
        return default
    if not isinstance(raw, bool):
        raise BaselineInvalid(f"{where} must be true or false.")
    return raw


def _url(raw: Any, where: str, *, required: bool = False) -> str:
    value = _text(raw, where, required=required, limit=500)
    if value:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise BaselineInvalid(f"{where} must be an absolute http(s) URL.")
    return value


def _strings(raw: Any, where: str) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(v, str) and v.strip() for v in raw):
        raise BaselineInvalid(f"{where} must be a list of names.")
    return sorted({v.strip() for v in raw})


def _secret(
    raw: dict[str, Any], field: str, key: str, secrets: dict[str, str], old: dict[str, str]
) -> bool:
    """Take ``raw[field]`` into ``secrets[key]``; True when the baseline holds a value."""
    value = raw.get(field)
    if value is None or value == "":
        if key in old and (raw.get(f"{field}_set", True) is not False):
            secrets[key] = old[key]
            return True
        return False
    if not isinstance(value, str):
        raise BaselineInvalid(f"{key.replace('/', ': ')} must be text.")
    secrets[key] = value
    return True


def _smtp(raw: Any, secrets: dict[str, str], old: dict[str, str]) -> dict[str, Any]:
    raw = _obj(raw, "smtp")
    port = raw.get("port", 25)
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise BaselineInvalid("smtp: port must be a number from 1 to 65535.")
    return {
        "host": _text(raw.get("host"), "smtp: host", required=True),
        "port": port,
        "from": _text(raw.get("from"), "smtp: from"),
        "login": _text(raw.get("login"), "smtp: login"),
        "enable_ssl": _bool(raw.get("enable_ssl"), "smtp: enable_ssl"),
        "password_set": _secret(raw, "password", "smtp/password", secrets, old),
    }


def _authentication(raw: Any, secrets: dict[str, str], old: dict[str, str]) -> dict[str, Any]:
    raw = _obj(raw, "authentication")
    unknown = sorted(set(raw) - {"username_password", "guest", "okta"})
    if unknown:
        raise BaselineInvalid(f"authentication: unknown provider(s) {', '.join(unknown)}.")
    out: dict[str, Any] = {}
    for flag in ("username_password", "guest"):
        if raw.get(flag) is not None:
            out[flag] = _bool(raw[flag], f"authentication: {flag}")
    if raw.get("okta") is not None:
        okta = _obj(raw["okta"], "authentication: okta")
        enabled = _bool(okta.get("enabled"), "okta: enabled")
        out["okta"] = {
            "enabled": enabled,
            "issuer": _url(okta.get("issuer"), "okta: issuer", required=enabled),
            "client_id": _text(okta.get("client_id"), "okta: client_id", required=enabled),
            "scope": _text(okta.get("scope"), "okta: scope") or "openid profile email",
            "role_claim_type": _text(okta.get("role_claim_type"), "okta: role_claim_type")
            or "groups",
            "allow_auto_user_creation": _bool(
                okta.get("allow_auto_user_creation"), "okta: allow_auto_user_creation", True
            ),
            "client_secret_set": _secret(okta, "client_secret", "okta/client_secret", secrets, old),
        }
    return out


def _subscription(raw: Any, n: int, secrets: dict[str, str], old: dict[str, str]) -> dict[str, Any]:
    raw = _obj(raw, f"subscriptions #{n}")
    name = _text(raw.get("name"), f"subscriptions #{n}: name", required=True, limit=100)
    where = f"subscriptions #{n} ({name})"
    priority = raw.get("email_priority") or "Normal"
    if priority not in PRIORITIES:
        raise BaselineInvalid(f"{where}: email_priority must be one of {', '.join(PRIORITIES)}.")
    spans = {}
    for field, default in (("email_frequency", "01:00:00"), ("webhook_timeout", "00:00:10")):
        value = raw.get(field) or default
        if not isinstance(value, str) or not TIMESPAN.match(value):
            raise BaselineInvalid(f"{where}: {field} must be a time span like {default}.")
        spans[field] = value
    filters = {f: _strings(raw.get(f), f"{where}: {f}") for f in FILTER_AS_IS + FILTER_BY_NAME}
    bad_tags = [t for t in filters["tags"] if len([p for p in t.split("/") if p.strip()]) != 2]
    if bad_tags:
        raise BaselineInvalid(f"{where}: tags are 'Tag set/Tag' names, not {bad_tags[0]!r}.")
    item: dict[str, Any] = {
        "name": name,
        "space": _text(raw.get("space"), f"{where}: space"),
        "disabled": _bool(raw.get("disabled"), f"{where}: disabled"),
        **filters,
        "webhook_uri": _url(raw.get("webhook_uri"), f"{where}: webhook_uri"),
        "webhook_header_key": _text(raw.get("webhook_header_key"), f"{where}: header key"),
        "webhook_header_value_set": _secret(
            raw, "webhook_header_value", f"subscriptions/{name.lower()}/header", secrets, old
        ),
        "webhook_timeout": spans["webhook_timeout"],
        "email_teams": _strings(raw.get("email_teams"), f"{where}: email_teams"),
        "email_priority": priority,
        "email_frequency": spans["email_frequency"],
    }
    if not item["webhook_uri"] and not item["email_teams"]:
        raise BaselineInvalid(f"{where}: give a webhook_uri, email_teams or both.")
    return item


def normalize(
    doc: Any, previous_secrets: dict[str, str] | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """(content without secrets, secrets) for a document a person or the API sent."""
    if not isinstance(doc, dict):
        raise BaselineInvalid("A baseline is a JSON object with smtp, authentication, ….")
    unknown = sorted(set(doc) - set(PARTS))
    if unknown:
        raise BaselineInvalid(f"Unknown part(s): {', '.join(unknown)}. Known: {', '.join(PARTS)}.")
    old = dict(previous_secrets or {})
    secrets: dict[str, str] = {}
    out: dict[str, Any] = {}
    if doc.get("smtp") is not None:
        out["smtp"] = _smtp(doc["smtp"], secrets, old)
    if doc.get("authentication") is not None:
        out["authentication"] = _authentication(doc["authentication"], secrets, old)
    if doc.get("subscriptions") is not None:
        raw = doc["subscriptions"]
        if not isinstance(raw, list):
            raise BaselineInvalid("'subscriptions' must be a list of objects.")
        items = [_subscription(r, n, secrets, old) for n, r in enumerate(raw, 1)]
        seen: set[str] = set()
        for item in items:
            if item["name"].lower() in seen:
                raise BaselineInvalid(f"subscriptions: '{item['name']}' appears twice.")
            seen.add(item["name"].lower())
        out["subscriptions"] = items
    if doc.get("maintenance") is not None:
        raw = _obj(doc["maintenance"], "maintenance")
        out["maintenance"] = {
            "maintenance_mode": _bool(raw.get("maintenance_mode"), "maintenance: maintenance_mode")
        }
    if doc.get("retention") is not None:
        raw = _obj(doc["retention"], "retention")
        days = raw.get("days")
        if not isinstance(days, int) or isinstance(days, bool) or days < 0:
            raise BaselineInvalid("retention: days must be a whole number of 0 or more.")
        out["retention"] = {"days": days}
    return out, secrets
