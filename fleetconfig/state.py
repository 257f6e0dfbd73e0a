"""The fleet as it is: ODCM's configuration read into a declared document (the export).

Both sides of a plan pass through :func:`objects`: the document read from the database here and
the document a person wrote. Ordering is fixed everywhere (by name), so two exports of one
state are byte-identical and a diff of two exports shows only what changed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils import timezone

from fleetconfig import accounts
from fleetconfig.accounts import iso
from fleetconfig.grants import groups as _groups
from fleetconfig.grants import normal_scope, rule_key
from fleetconfig.grants import people as _people
from fleetconfig.models import ManagedObject
from fleetconfig.schema import SECTIONS, VERSION
from identity.models import Role
from identity.services.teams import role_mapping
from monitoring.models import AlertSettings, InstanceMonitor, MaintenanceWindow
from sharing.models import SharedItem, Subscription, Trust
from sharing.secrets import secrets_of
from sharing.services.items import latest
from spaces.models import Instance, Space, StandardEnvironment

ALERT_FLAGS = (
    "on_offline",
    "on_unhealthy",
    "on_recovered",
    "on_version",
    "on_reminder",
    "owned_instances",
    "all_instances",
)


def _upper_name(*parts: str) -> str:
    return re.sub(r"[^A-Z0-9]+", "_", "_".join(parts).upper()).strip("_")


def default_key_ref(instance_name: str) -> dict[str, str]:
    """The reference an export names for an instance's key when no file ever named one."""
    return {"env": "OCTOPUS_API_KEY_" + _upper_name(instance_name)}


def default_secret_ref(item_name: str, variable: str) -> dict[str, str]:
    return {"env": "SECRET_" + _upper_name(item_name, variable)}


def space_ref(space: Space) -> dict[str, str]:
    return {"instance": space.instance.name, "space": space.name}


def fingerprint(value: str) -> str:
    """A keyed, non-reversible fingerprint of a secret, to say 'changed' without showing it."""
    key = hashlib.sha256(b"odcm-fleetconfig:" + settings.SECRET_KEY.encode()).digest()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:16]


def variable_identity(var: dict[str, Any]) -> str:
    scope = var.get("scope") or {}
    parts = [f"{k}={','.join(sorted(scope.get(k) or []))}" for k in sorted(scope) if scope.get(k)]
    return var["name"] + (f" [{'; '.join(parts)}]" if parts else "")


def normal_variables(variables: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One written form of a variable: empty fields left out, scope names sorted."""
    out = []
    for raw in variables:
        var: dict[str, Any] = {"name": str(raw.get("name", "")).strip()}
        var["type"] = raw.get("type") or "String"
        value = raw.get("value")
        var["value"] = value if isinstance(value, dict) else ("" if value is None else str(value))
        if raw.get("description"):
            var["description"] = str(raw["description"])
        scope = {
            k: sorted({s.strip() for s in v if s.strip()})
            for k, v in (raw.get("scope") or {}).items()
            if v
        }
        if scope:
            var["scope"] = {k: scope[k] for k in sorted(scope)}
        out.append(var)
    return out


# -- export ------------------------------------------------------------------------------


def export(only: set[str] | None = None) -> dict[str, Any]:
    """The current configuration as a declared document (sections in ``only``, or all)."""
    sections = [s for s in SECTIONS if only is None or s in only]
    refs = {(m.kind, m.key): m.refs for m in ManagedObject.objects.exclude(refs={})}
    doc: dict[str, Any] = {"version": VERSION}
    for section in sections:
        doc[section] = BUILDERS[section](refs)
    return doc


def _standard_environments(refs: Any) -> list[str]:
    return list(
        StandardEnvironment.objects.order_by("position", "name").values_list("name", flat=True)
    )


def _role_mappings(refs: Any) -> dict[str, list[str]]:
    mapping = role_mapping()
    return {role: list(mapping[role]) for role in Role.values if role in mapping}


def _instances(refs: dict[tuple[str, str], dict[str, Any]]) -> list[dict[str, Any]]:
    now = timezone.now()
    pins = dict(InstanceMonitor.objects.values_list("instance_id", "pinned_version"))
    windows: dict[Any, list[dict[str, Any]]] = {}
    for w in MaintenanceWindow.objects.filter(ends_at__gt=now).order_by("starts_at", "ends_at"):
        window = {"starts_at": iso(w.starts_at), "ends_at": iso(w.ends_at)}
        if w.reason:
            window["reason"] = w.reason
        windows.setdefault(w.instance_id, []).append(window)
    out = []
    instances = Instance.objects.order_by("name").prefetch_related("tags", "owners")
    spaces: dict[Any, list[Space]] = {}
    for space in Space.objects.exclude(state=Space.State.GONE).order_by("name", "octopus_id"):
        spaces.setdefault(space.instance_id, []).append(space)
    for inst in instances:
        ref = refs.get(("instance", inst.name), {}).get("api_key") or default_key_ref(inst.name)
        entry: dict[str, Any] = {"name": inst.name, "url": inst.base_url, "api_key": ref}
        if inst.region:
            entry["region"] = inst.region
        if inst.description:
            entry["description"] = inst.description
        entry["tags"] = sorted(t.name for t in inst.tags.all())
        entry["owners"] = sorted(u.username for u in inst.owners.all())
        entry["enlist_new_spaces"] = inst.enlist_new_spaces
        if pins.get(inst.pk):
            entry["version_pin"] = pins[inst.pk]
        entry["maintenance_windows"] = windows.get(inst.pk, [])
        entry["spaces"] = [
            {"name": s.name, "enlisted": s.state == Space.State.ENLISTED}
            for s in spaces.get(inst.pk, [])
        ]
        out.append(entry)
    return out


def _trusts(refs: Any) -> list[dict[str, Any]]:
    rows = Trust.objects.filter(state=Trust.State.ACCEPTED).select_related(
        "publisher__instance", "subscriber__instance"
    )
    out = [
        {"publisher": space_ref(t.publisher), "subscriber": space_ref(t.subscriber)} for t in rows
    ]
    return sorted(out, key=lambda t: json.dumps(t, sort_keys=True))


def item_key(publisher: dict[str, str], kind: str, name: str) -> str:
    return f"{publisher['instance']}/{publisher['space']}/{kind}/{name}"


def _shared_items(refs: dict[tuple[str, str], dict[str, Any]]) -> list[dict[str, Any]]:
    subs: dict[Any, list[dict[str, Any]]] = {}
    rows = Subscription.objects.exclude(status=Subscription.Status.UNMANAGED)
    for sub in rows.select_related("space__instance").order_by("space__name"):
        sub_row: dict[str, Any] = {
            "instance": sub.space.instance.name,
            "space": sub.space.name,
            "mode": sub.mode,
        }
        if sub.pinned_revision:
            sub_row["pinned_revision"] = sub.pinned_revision
        subs.setdefault(sub.item_id, []).append(sub_row)
    out = []
    items = SharedItem.objects.filter(latest_revision__gt=0).select_related("publisher__instance")
    for item in items:
        publisher = space_ref(item.publisher)
        key = item_key(publisher, item.kind, item.name)
        entry: dict[str, Any] = {"name": item.name, "kind": item.kind, "publisher": publisher}
        if item.description:
            entry["description"] = item.description
        entry["policy"] = item.policy
        entry["paused"] = item.paused
        revision = latest(item)
        content = dict(revision.content) if revision else {}
        if item.kind == SharedItem.Kind.VARIABLE_SET:
            item_refs = refs.get(("shared_item", key), {}).get("secrets", {})
            variables = []
            for var in content.get("variables", []):
                var = dict(var)
                var.pop("key", None)
                if var.get("type") == "Sensitive":
                    var["value"] = item_refs.get(variable_identity(var)) or default_secret_ref(
                        item.name, var["name"]
                    )
                variables.append(var)
            content = {"variables": normal_variables(variables)}
        entry["content"] = content
        entry["subscriptions"] = sorted(
            subs.get(item.pk, []), key=lambda s: (s["instance"], s["space"])
        )
        out.append(entry)
    return sorted(out, key=lambda i: item_key(i["publisher"], i["kind"], i["name"]))


def _alert_settings(refs: Any) -> list[dict[str, Any]]:
    out = []
    rows = AlertSettings.objects.select_related("user").prefetch_related("instances")
    for row in rows.order_by("user__username"):
        entry: dict[str, Any] = {"user": row.user.username}
        for flag in ALERT_FLAGS:
            entry[flag] = getattr(row, flag)
        entry["instances"] = sorted(i.name for i in row.instances.all())
        out.append(entry)
    return out


BUILDERS = {
    "standard_environments": _standard_environments,
    "role_mappings": _role_mappings,
    "instances": _instances,
    "groups": _groups,
    "people": _people,
    "service_accounts": accounts.export_service_accounts,
    "invitations": accounts.export_invitations,
    "trusts": _trusts,
    "shared_items": _shared_items,
    "alert_settings": _alert_settings,
}


def current_secret_fingerprints(item: SharedItem) -> dict[str, str]:
    """Fingerprints of the latest revision's sensitive values, by variable identity."""
    revision = latest(item)
    if revision is None:
        return {}
    secrets = secrets_of(revision)
    return {
        variable_identity(v): fingerprint(secrets[v["key"]])
        for v in revision.content.get("variables", [])
        if v.get("type") == "Sensitive" and v["key"] in secrets
    }


# -- objects -----------------------------------------------------------------------------


@dataclass
class Obj:
    """One declared object: what identifies it and the fields a plan compares."""

    kind: str
    key: str
    ident: dict[str, Any]
    fields: dict[str, Any]
    path: tuple[str | int, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


# The order objects are created and changed in (deleted in reverse).
KINDS = (
    "standard_environments",
    "role_mapping",
    "instance",
    "space",
    "group",
    "service_account",  # after its owner group, before grants to it alone
    "grant",
    "grant_rule",
    "person_grant",
    "person_grant_rule",
    "invitation",
    "trust",
    "shared_item",
    "subscription",
    "alert_settings",
)


def objects(doc: dict[str, Any]) -> dict[tuple[str, str], Obj]:
    """Flatten a document into its objects, keyed by (kind, key)."""
    out: dict[tuple[str, str], Obj] = {}

    def add(obj: Obj) -> None:
        out[(obj.kind, obj.key)] = obj

    if "standard_environments" in doc:
        add(
            Obj(
                "standard_environments",
                "standard environments",
                {},
                {"names": list(doc["standard_environments"])},
                ("standard_environments",),
            )
        )
    for role, names in (doc.get("role_mappings") or {}).items():
        add(
            Obj(
                "role_mapping",
                role,
                {"role": role},
                {"octopus_roles": list(names)},
                ("role_mappings", role),
            )
        )
    for i, inst in enumerate(doc.get("instances") or []):
        fields = {
            "url": inst["url"],
            "api_key": inst["api_key"],
            "region": inst.get("region", ""),
            "description": inst.get("description", ""),
            "tags": sorted(set(inst.get("tags") or [])),
            "owners": sorted(set(inst.get("owners") or [])),
            "enlist_new_spaces": inst.get("enlist_new_spaces", True),
            "version_pin": inst.get("version_pin", ""),
            "maintenance_windows": sorted(
                [{"reason": "", **w} for w in inst.get("maintenance_windows") or []],
                key=lambda w: (w["starts_at"], w["ends_at"]),
            ),
        }
        add(Obj("instance", inst["name"], {"name": inst["name"]}, fields, ("instances", i)))
        for j, space in enumerate(inst.get("spaces") or []):
            add(
                Obj(
                    "space",
                    f"{inst['name']}/{space['name']}",
                    {"instance": inst["name"], "space": space["name"]},
                    {"enlisted": space["enlisted"]},
                    ("instances", i, "spaces", j),
                )
            )
    for i, group in enumerate(doc.get("groups") or []):
        fields = {
            "description": group.get("description", ""),
            "external_groups": sorted(set(group.get("external_groups") or [])),
            "members": sorted(set(group.get("members") or [])),
        }
        add(Obj("group", group["name"], {"name": group["name"]}, fields, ("groups", i)))
        for j, grant in enumerate(group.get("grants") or []):
            add(_grant_obj("grant", "group", group["name"], grant, ("groups", i, "grants", j)))
        for j, rule in enumerate(group.get("grant_rules") or []):
            path = ("groups", i, "grant_rules", j)
            add(_rule_obj("grant_rule", "group", group["name"], rule, path))
    for i, decl in enumerate(doc.get("service_accounts") or []):
        key, ident, fields = accounts.service_account_parts(decl)
        add(Obj("service_account", key, ident, fields, ("service_accounts", i)))
    for i, decl in enumerate(doc.get("invitations") or []):
        key, ident, fields = accounts.invitation_parts(decl)
        add(Obj("invitation", key, ident, fields, ("invitations", i)))
    for i, person in enumerate(doc.get("people") or []):
        for j, grant in enumerate(person.get("grants") or []):
            path = ("people", i, "grants", j)
            add(_grant_obj("person_grant", "user", person["user"], grant, path))
        for j, rule in enumerate(person.get("grant_rules") or []):
            path = ("people", i, "grant_rules", j)
            add(_rule_obj("person_grant_rule", "user", person["user"], rule, path))
    for i, trust in enumerate(doc.get("trusts") or []):
        p, s = trust["publisher"], trust["subscriber"]
        key = f"{p['instance']}/{p['space']} -> {s['instance']}/{s['space']}"
        add(Obj("trust", key, {"publisher": p, "subscriber": s}, {}, ("trusts", i)))
    for i, item in enumerate(doc.get("shared_items") or []):
        key = item_key(item["publisher"], item["kind"], item["name"])
        content = item["content"]
        secret_refs: dict[str, Any] = {}
        if item["kind"] == SharedItem.Kind.VARIABLE_SET:
            variables = normal_variables(content.get("variables") or [])
            content = {"variables": variables}
            secret_refs = {
                variable_identity(v): v["value"]
                for v in variables
                if v["type"] == "Sensitive" and isinstance(v["value"], dict)
            }
        fields = {
            "description": item.get("description", ""),
            "policy": item.get("policy", SharedItem.Policy.PUSH),
            "paused": item.get("paused", False),
            "content": content,
        }
        ident = {"publisher": item["publisher"], "kind": item["kind"], "name": item["name"]}
        add(
            Obj(
                "shared_item",
                key,
                ident,
                fields,
                ("shared_items", i),
                extra={"secret_refs": secret_refs},
            )
        )
        for j, sub in enumerate(item.get("subscriptions") or []):
            add(
                Obj(
                    "subscription",
                    f"{key} -> {sub['instance']}/{sub['space']}",
                    {"item": ident, "instance": sub["instance"], "space": sub["space"]},
                    {
                        "mode": sub.get("mode", Subscription.Mode.AUTOMATIC),
                        "pinned_revision": sub.get("pinned_revision"),
                    },
                    ("shared_items", i, "subscriptions", j),
                )
            )
    for i, row in enumerate(doc.get("alert_settings") or []):
        fields = {flag: row.get(flag, _alert_default(flag)) for flag in ALERT_FLAGS}
        fields["instances"] = sorted(set(row.get("instances") or []))
        add(
            Obj("alert_settings", row["user"], {"user": row["user"]}, fields, ("alert_settings", i))
        )
    return out


def _grant_obj(
    kind: str, holder: str, name: str, grant: dict[str, Any], path: tuple[str | int, ...]
) -> Obj:
    """A group's grant (``holder`` "group") or one person's ("user"); the scope is compared."""
    where = grant["instance"] + (f"/{grant['space']}" if grant.get("space") else "")
    ident = {
        holder: name,
        "role": grant["role"],
        "instance": grant["instance"],
        "space": grant.get("space"),
    }
    fields = {"scope": normal_scope(grant.get("scope"))}
    return Obj(kind, f"{name}: {grant['role']} on {where}", ident, fields, path)


def _rule_obj(
    kind: str, holder: str, name: str, rule: dict[str, Any], path: tuple[str | int, ...]
) -> Obj:
    """A group's grant rule (``holder`` "group") or one person's ("user")."""
    selector = "tag" if rule.get("tag") is not None else "region"
    ident = {holder: name, "role": rule["role"], "selector": selector, "value": rule[selector]}
    fields = {"scope": normal_scope(rule.get("scope"))}
    return Obj(kind, f"{name}: {rule_key(rule)}", ident, fields, path)


def _alert_default(flag: str) -> bool:
    return bool(getattr(AlertSettings._meta.get_field(flag), "default", False))


def digest(doc: dict[str, Any]) -> str:
    """A fingerprint of a state document: a plan made against it applies only to it."""
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()
