"""One instance seen through a baseline: read it, plan against it, write the plan into it.

Reading costs one GET per part the baseline holds (SMTP, each sign-in provider, maintenance,
retention), plus, for subscriptions, the spaces, the teams (only if a subscription emails
teams), the users (only if a filter names users), one ``subscriptions/all`` per space named
(or holding a subscription that prune may delete) and one ``…/all`` per kind a filter names
in that space (projects, project groups, environments, tenants, tag sets); nothing else.
So an instance that already matches is planned and "applied" with reads only. Secrets that
Octopus never returns (the SMTP password) are written when ODCM's digest of the last write
differs from the baseline's; Okta's client secret also when Octopus says it has none; a
webhook's header value is returned by Octopus, so it is compared directly (never shown).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from managed.services.baseline_content import FILTER_BY_NAME
from managed.services.octopus_side import Action, secret_digest
from octopus import OctopusClient
from octopus.pipeline import sp
from odcm.errors import ServiceError

Doc = dict[str, Any]
SMTP = "/api/smtpconfiguration"
MAINTENANCE = "/api/maintenanceconfiguration"
RETENTION = "/api/configuration/retention-default"
PROVIDERS = {
    "username_password": "authentication-usernamepassword",
    "guest": "authentication-guest",
    "okta": "authentication-od",
}


# filter field in the baseline -> (Octopus filter field, space collection; "" = instance users)
FILTER_FIELDS = {
    "event_groups": ("EventGroups", None),
    "event_categories": ("EventCategories", None),
    "document_types": ("DocumentTypes", None),
    "event_agents": ("EventAgents", None),
    "tags": ("Tags", "tagsets"),
    "users": ("Users", ""),
    "projects": ("Projects", "projects"),
    "project_groups": ("ProjectGroups", "projectgroups"),
    "environments": ("Environments", "environments"),
    "tenants": ("Tenants", "tenants"),
}
FILTER_WORDS = {
    "tags": "tag",
    "users": "user",
    "projects": "project",
    "project_groups": "project group",
    "environments": "environment",
    "tenants": "tenant",
}


class InstanceMismatch(ServiceError):
    """The baseline names something this instance lacks (a space, a team)."""


def _values(provider: str) -> str:
    return f"/api/configuration/{PROVIDERS[provider]}/values"


@dataclass
class InstanceView:
    """What an instance holds of each part the baseline manages."""

    smtp: Doc | None = None
    providers: dict[str, Doc] = field(default_factory=dict)
    maintenance: Doc | None = None
    retention: Doc | None = None
    space_ids: dict[str, str] = field(default_factory=dict)  # lower name -> id ("" default)
    team_ids: dict[tuple[str, str], str] = field(default_factory=dict)  # (space, lower) -> id
    team_names: dict[str, str] = field(default_factory=dict)
    # {space id: {lower name: subscription document}}
    subscriptions: dict[str, dict[str, Doc]] = field(default_factory=dict)
    user_ids: dict[str, str] = field(default_factory=dict)  # lower username -> id
    # {(space id, filter field): {lower name: Octopus id, or canonical name for tags}}
    filter_names: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)


def _read_filter_names(client: OctopusClient, out: InstanceView, subs: list[Doc]) -> None:
    """One read per kind a filter names, per space (users once, for the instance)."""
    if any(s.get("users") for s in subs):
        for user in client.get_all("/api/users"):
            out.user_ids[str(user["Username"]).lower()] = str(user["Id"])
    wanted: set[tuple[str, str]] = set()
    for item in subs:
        for name in FILTER_BY_NAME + ("tags",):
            if item.get(name) and FILTER_FIELDS[name][1]:
                wanted.add((space_of(out, item), name))
    for space_id, name in sorted(wanted):
        names: dict[str, str] = {}
        for doc in client.get_all(sp(space_id, str(FILTER_FIELDS[name][1]))):
            if name == "tags":
                for tag in doc.get("Tags") or []:
                    canonical = str(tag.get("CanonicalTagName") or f"{doc['Name']}/{tag['Name']}")
                    names[canonical.lower()] = canonical
            else:
                names[str(doc["Name"]).lower()] = str(doc["Id"])
        out.filter_names[(space_id, name)] = names


def recorded(created: Doc | None) -> list[tuple[str, str, str]]:
    """(lower name, space id or "" if not recorded, Octopus id) of every subscription this
    baseline created and has not deleted, replaced ones included."""
    ids = (created or {}).get("subscriptions", {})
    spaces = (created or {}).get("subscription_spaces", {})
    out = [(lower, str(spaces.get(lower, "")), str(ident)) for lower, ident in ids.items()]
    out += [(str(a), str(b), str(c)) for a, b, c in (created or {}).get("replaced", [])]
    return out


def remember(created: Doc, lower: str, space_id: str, ident: str, *, made: bool) -> None:
    """Write a creation or a deletion into ``created``. A creation that replaces a recorded
    subscription (the baseline moved it to another space, or a person renamed it and it was
    made again) keeps the old one under ``replaced``, so prune still knows it."""
    ids = created.setdefault("subscriptions", {})
    spaces = created.setdefault("subscription_spaces", {})
    replaced = created.setdefault("replaced", [])
    if made:
        old = ids.get(lower)
        if old is not None and old != ident:
            replaced.append([lower, spaces.get(lower, ""), old])
        ids[lower], spaces[lower] = ident, space_id
        return
    if ids.get(lower) == ident:
        ids.pop(lower)
        spaces.pop(lower, None)
    created["replaced"] = [r for r in replaced if r[2] != ident]


def read_instance(client: OctopusClient, content: Doc, created: Doc | None = None) -> InstanceView:
    """Read what ``content`` manages; with ``created`` (an apply that may prune), also the
    spaces holding subscriptions this baseline created earlier."""
    out = InstanceView()
    if "smtp" in content:
        out.smtp = client.get(SMTP)
    for provider in content.get("authentication", {}):
        out.providers[provider] = client.get(_values(provider))
    if "maintenance" in content:
        out.maintenance = client.get(MAINTENANCE)
    if "retention" in content:
        out.retention = client.get(RETENTION)
    subs = content.get("subscriptions")
    made = recorded(created)
    if subs is None and not made:
        return out
    subs = subs or []
    for space in client.spaces():
        out.space_ids[str(space["Name"]).lower()] = str(space["Id"])
        if space.get("IsDefault"):
            out.space_ids[""] = str(space["Id"])
    if any(s["email_teams"] for s in subs):
        for team in client.get_all("/api/teams"):
            scope = str(team.get("SpaceId") or "")
            out.team_ids[(scope, str(team["Name"]).lower())] = str(team["Id"])
            out.team_names[str(team["Id"])] = str(team["Name"])
    spaces = {space_of(out, s) for s in subs}
    known = set(out.space_ids.values())
    # a subscription recorded without its space (an apply before spaces were recorded) is
    # looked for in the default space; one whose space is gone is gone with it
    spaces |= {sid or out.space_ids.get("", "") for _, sid, _ in made} & known
    for space_id in sorted(spaces):
        docs = client.get_all(sp(space_id, "subscriptions"))
        out.subscriptions[space_id] = {str(d["Name"]).lower(): d for d in docs}
    _read_filter_names(client, out, subs)
    return out


def space_of(view: InstanceView, item: Doc) -> str:
    ident = view.space_ids.get(item["space"].lower())
    if ident is None:
        where = f"no space named '{item['space']}'" if item["space"] else "no default space"
        raise InstanceMismatch(f"Subscription '{item['name']}': this instance has {where}.")
    return ident


def _team_ids(view: InstanceView, item: Doc, space_id: str) -> list[str]:
    ids = []
    for name in item["email_teams"]:
        ident = view.team_ids.get((space_id, name.lower())) or view.team_ids.get(("", name.lower()))
        if ident is None:
            raise InstanceMismatch(f"Subscription '{item['name']}': no team named '{name}'.")
        ids.append(ident)
    return sorted(ids)


def _filter_values(view: InstanceView, item: Doc, space_id: str, name: str) -> list[str]:
    """The Octopus filter values of one field: ids (or canonical tags) found by name."""
    values = item.get(name) or []
    source = FILTER_FIELDS[name][1]
    if source is None:
        return sorted(values)
    found = view.user_ids if source == "" else view.filter_names.get((space_id, name), {})
    out = []
    for value in values:
        ident = found.get(value.lower())
        if ident is None:
            where = "this instance" if source == "" else "its space"
            raise InstanceMismatch(
                f"Subscription '{item['name']}': {where} has no {FILTER_WORDS[name]} "
                f"named '{value}'."
            )
        out.append(ident)
    return sorted(out)


def prunable(content: Doc, view: InstanceView, created: Doc | None) -> list[tuple[str, str, Doc]]:
    """(lower name recorded, space id, Octopus document) of each subscription an earlier
    apply of this baseline created that the baseline no longer lists there (removed, moved
    to another space, or replaced). A subscription a person made is never among them: only
    recorded ids are."""
    wanted = {i["name"].lower(): space_of(view, i) for i in content.get("subscriptions", [])}
    out = []
    for lower, space_id, ident in recorded(created):
        sid = space_id or view.space_ids.get("", "")
        doc = next((d for d in view.subscriptions.get(sid, {}).values() if d["Id"] == ident), None)
        # gone already, or the one the baseline matches by name there (listed: kept)
        if doc is not None and wanted.get(str(doc["Name"]).lower()) != sid:
            out.append((lower, sid, doc))
    return out


# ---------------------------------------------------------------- plan


def _diff(wanted: Doc, seen: Doc) -> list[str]:
    return [k for k, v in wanted.items() if seen.get(k) != v]


def _smtp_seen(doc: Doc) -> Doc:
    return {
        "host": doc.get("SmtpHost") or "",
        "port": doc.get("SmtpPort"),
        "from": doc.get("SendEmailFrom") or "",
        "login": doc.get("SmtpLogin") or "",
        "enable_ssl": bool(doc.get("EnableSsl")),
    }


def _okta_seen(doc: Doc) -> Doc:
    return {
        "enabled": bool(doc.get("IsEnabled")),
        "issuer": doc.get("Issuer") or "",
        "client_id": doc.get("ClientId") or "",
        "scope": doc.get("Scope") or "",
        "role_claim_type": doc.get("RoleClaimType") or "",
        "allow_auto_user_creation": bool(doc.get("AllowAutoUserCreation")),
    }


def _subscription_seen(view: InstanceView, doc: Doc) -> Doc:
    nested = doc.get("EventNotificationSubscription") or {}
    filt = nested.get("Filter") or {}
    return {
        "disabled": bool(doc.get("IsDisabled")),
        **{name: sorted(filt.get(octo) or []) for name, (octo, _) in FILTER_FIELDS.items()},
        "webhook_uri": nested.get("WebhookURI") or "",
        "webhook_header_key": nested.get("WebhookHeaderKey") or "",
        "webhook_timeout": nested.get("WebhookTimeout") or "",
        "email_teams": sorted(nested.get("EmailTeams") or []),
        "email_priority": nested.get("EmailPriority") or "",
        "email_frequency": nested.get("EmailFrequencyPeriod") or "",
    }


def _subscription_wanted(view: InstanceView, item: Doc, space_id: str) -> Doc:
    wanted = {k: v for k, v in item.items() if k not in ("name", "space")}
    wanted.pop("webhook_header_value_set")
    wanted["email_teams"] = _team_ids(view, item, space_id)
    for name in FILTER_FIELDS:
        if name in item:  # a revision saved before a field existed leaves it alone
            wanted[name] = _filter_values(view, item, space_id, name)
    return wanted


def _secret_changed(key: str, secrets: dict[str, str], digests: dict[str, str]) -> bool:
    value = secrets.get(key)
    return value is not None and digests.get(key) != secret_digest(value)


def plan(
    content: Doc,
    view: InstanceView,
    secrets: dict[str, str],
    digests: dict[str, str],
    *,
    created: Doc | None = None,
    prune: bool = False,
) -> list[Action]:
    """Per part: change (which fields) or keep; per subscription: create, change or keep;
    with ``prune``, delete the subscriptions :func:`prunable` finds (before any creation,
    so a subscription moved to another space is not recorded twice)."""
    actions: list[Action] = []
    if prune:
        actions += [
            Action("subscriptions", str(doc["Name"]), "delete")
            for _, _, doc in prunable(content, view, created)
        ]
    if "smtp" in content and view.smtp is not None:
        wanted = {k: v for k, v in content["smtp"].items() if k != "password_set"}
        fields = _diff(wanted, _smtp_seen(view.smtp))
        if content["smtp"]["password_set"] and _secret_changed("smtp/password", secrets, digests):
            fields.append("password")
        actions.append(Action("smtp", "SMTP", "change" if fields else "keep", fields))
    for provider, wanted_raw in content.get("authentication", {}).items():
        seen_doc = view.providers[provider]
        if provider == "okta":
            wanted = {k: v for k, v in wanted_raw.items() if k != "client_secret_set"}
            fields = _diff(wanted, _okta_seen(seen_doc))
            has = bool((seen_doc.get("ClientSecret") or {}).get("HasValue"))
            if wanted_raw["client_secret_set"] and (
                not has or _secret_changed("okta/client_secret", secrets, digests)
            ):
                fields.append("client_secret")
        else:
            fields = [] if bool(seen_doc.get("IsEnabled")) == wanted_raw else ["enabled"]
        actions.append(Action("authentication", provider, "change" if fields else "keep", fields))
    if "maintenance" in content and view.maintenance is not None:
        on = bool(view.maintenance.get("IsInMaintenanceMode"))
        fields = [] if on == content["maintenance"]["maintenance_mode"] else ["maintenance_mode"]
        actions.append(Action("maintenance", "Maintenance", "change" if fields else "keep", fields))
    if "retention" in content and view.retention is not None:
        fields = (
            [] if view.retention.get("RetentionDays") == content["retention"]["days"] else ["days"]
        )
        actions.append(Action("retention", "Retention", "change" if fields else "keep", fields))
    for item in content.get("subscriptions", []):
        space_id = space_of(view, item)
        current = view.subscriptions.get(space_id, {}).get(item["name"].lower())
        wanted = _subscription_wanted(view, item, space_id)
        if current is None:
            actions.append(Action("subscriptions", item["name"], "create"))
            continue
        fields = _diff(wanted, _subscription_seen(view, current))
        header = (current.get("EventNotificationSubscription") or {}).get("WebhookHeaderValue")
        key = f"subscriptions/{item['name'].lower()}/header"
        if (header or None) != (secrets.get(key) if item["webhook_header_value_set"] else None):
            fields.append("webhook_header_value")
        actions.append(
            Action("subscriptions", item["name"], "change" if fields else "keep", fields)
        )
    return actions


# ---------------------------------------------------------------- write


# (lower name, space id, Octopus id, made: True = created, False = deleted)
Recorder = Callable[[str, str, str, bool], None]


def _subscription_body(
    view: InstanceView, item: Doc, current: Doc | None, space_id: str, header: str | None
) -> Doc:
    out: Doc = dict(current or {})
    nested: Doc = dict(out.get("EventNotificationSubscription") or {})
    filt: Doc = dict(nested.get("Filter") or {})
    for name, (octo, _) in FILTER_FIELDS.items():
        if name in item:
            filt[octo] = _filter_values(view, item, space_id, name)
    nested.update(
        Filter=filt,
        WebhookURI=item["webhook_uri"] or None,
        WebhookHeaderKey=item["webhook_header_key"] or None,
        WebhookHeaderValue=header,
        WebhookTimeout=item["webhook_timeout"],
        EmailTeams=_team_ids(view, item, space_id),
        EmailPriority=item["email_priority"],
        EmailFrequencyPeriod=item["email_frequency"],
    )
    out.update(
        Name=item["name"],
        Type="Event",
        IsDisabled=item["disabled"],
        EventNotificationSubscription=nested,
    )
    return out


def write(
    client: OctopusClient,
    content: Doc,
    view: InstanceView,
    actions: list[Action],
    secrets: dict[str, str],
    record: Recorder,
    created: Doc | None = None,
) -> dict[str, str]:
    """Carry out ``actions`` in order; returns the digests of the secrets written."""
    written: dict[str, str] = {}
    items = {i["name"].lower(): i for i in content.get("subscriptions", [])}
    doomed = prunable(content, view, created) if any(a.verb == "delete" for a in actions) else []
    for action in actions:
        if action.verb == "keep":
            continue
        if action.verb == "delete":
            lower, space_id, doc = next(d for d in doomed if d[2]["Name"] == action.name)
            doomed.remove((lower, space_id, doc))
            client.delete(f"{sp(space_id, 'subscriptions')}/{doc['Id']}")
            view.subscriptions[space_id].pop(str(doc["Name"]).lower(), None)
            record(lower, space_id, str(doc["Id"]), False)
            continue
        if action.kind == "smtp":
            smtp = content["smtp"]
            body: Doc = {
                "SmtpHost": smtp["host"],
                "SmtpPort": smtp["port"],
                "SendEmailFrom": smtp["from"] or None,
                "SmtpLogin": smtp["login"] or None,
                "EnableSsl": smtp["enable_ssl"],
            }
            if "password" in action.fields:
                body["NewSmtpPassword"] = secrets["smtp/password"]
                written["smtp/password"] = secret_digest(secrets["smtp/password"])
            client.put(SMTP, body)
        elif action.kind == "authentication":
            wanted = content["authentication"][action.name]
            path = _values(action.name)
            if action.name != "okta":
                client.put(path, {"IsEnabled": wanted})
                continue
            okta: Doc = {
                "IsEnabled": wanted["enabled"],
                "Issuer": wanted["issuer"] or None,
                "ClientId": wanted["client_id"] or None,
                "Scope": wanted["scope"],
                "RoleClaimType": wanted["role_claim_type"],
                "AllowAutoUserCreation": wanted["allow_auto_user_creation"],
            }
            if "client_secret" in action.fields:
                value = secrets["okta/client_secret"]
                okta["ClientSecret"] = {"HasValue": True, "NewValue": value}
                written["okta/client_secret"] = secret_digest(value)
            client.put(path, okta)
        elif action.kind == "maintenance":
            mode = content["maintenance"]["maintenance_mode"]
            client.put(MAINTENANCE, {"IsInMaintenanceMode": mode})
        elif action.kind == "retention":
            client.put(RETENTION, {"RetentionDays": content["retention"]["days"]})
        else:
            lower = action.name.lower()
            item = items[lower]
            space_id = space_of(view, item)
            current = view.subscriptions.get(space_id, {}).get(lower)
            key = f"subscriptions/{lower}/header"
            header = secrets.get(key) if item["webhook_header_value_set"] else None
            doc = _subscription_body(view, item, current, space_id, header)
            path = sp(space_id, "subscriptions")
            if current is None:
                saved = client.post(path, doc)
                record(lower, space_id, str(saved["Id"]), True)
            else:
                saved = client.put(f"{path}/{current['Id']}", doc)
            view.subscriptions.setdefault(space_id, {})[lower] = saved
    return written


def drift_of(actions: list[Action]) -> list[Doc]:
    """What a person changed since the last apply (secrets that cannot be read back aside)."""
    unreadable = {"password"}
    return [
        a.as_json()
        for a in actions
        if a.verb == "create" or (a.verb == "change" and set(a.fields) - unreadable)
    ]
