"""One space seen through a blueprint: read it, plan against it, write the plan into it.

Reading costs one ``GET …/all`` per kind (eight requests) and nothing else, so a space that
already matches is planned and "applied" with reads only. Items are matched by name
(case-insensitive); ids are translated by name in the target space (a lifecycle phase's
environments). Passwords cannot be read back: a feed's or Git credential's password is
written when the item is created, when Octopus says it has none, or when the blueprint's
secret changed since ODCM last wrote it (a keyed digest kept on the target).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from managed.services.content import KINDS
from octopus import OctopusClient
from octopus.pipeline import sp

Doc = dict[str, Any]

PATHS = {
    "environments": "environments",
    "lifecycles": "lifecycles",
    "feeds": "feeds",
    "git_credentials": "git-credentials",
    "project_groups": "projectgroups",
    "tag_sets": "tagsets",
    "worker_pools": "workerpools",
    "library_variable_sets": "libraryvariablesets",
}
SECRET_KINDS = ("feeds", "git_credentials")


@dataclass
class Names:
    """Environment ids and names of one space, both ways."""

    env_ids: dict[str, str] = field(default_factory=dict)  # lower name -> id
    env_names: dict[str, str] = field(default_factory=dict)  # id -> name

    def add(self, doc: Doc) -> None:
        self.env_ids[str(doc["Name"]).lower()] = str(doc["Id"])
        self.env_names[str(doc["Id"])] = str(doc["Name"])


@dataclass
class SpaceView:
    """What a space holds of each kind: {kind: {lower name: Octopus document}}."""

    docs: dict[str, dict[str, Doc]]
    names: Names


def read_space(client: OctopusClient, space_id: str, kinds: tuple[str, ...] = KINDS) -> SpaceView:
    docs: dict[str, dict[str, Doc]] = {}
    names = Names()
    for kind in kinds:
        items = client.get_all(sp(space_id, PATHS[kind]))
        docs[kind] = {str(d["Name"]).lower(): d for d in items}
        if kind == "environments":
            for doc in items:
                names.add(doc)
    return SpaceView(docs, names)


# ---------------------------------------------------------------- Octopus -> blueprint shape


def _retention_view(raw: Any) -> dict[str, Any]:
    raw = raw or {}
    quantity = 0 if raw.get("ShouldKeepForever") else int(raw.get("QuantityToKeep") or 0)
    return {"unit": raw.get("Unit") or "Days", "quantity": quantity}


def view(kind: str, doc: Doc, names: Names) -> Doc:
    """The blueprint-shaped description of an Octopus document (ids become names)."""
    base = {"name": doc["Name"]}
    if kind == "environments":
        return {
            **base,
            "description": doc.get("Description") or "",
            "use_guided_failure": bool(doc.get("UseGuidedFailure")),
            "allow_dynamic_infrastructure": bool(doc.get("AllowDynamicInfrastructure")),
        }
    if kind == "lifecycles":
        env = names.env_names
        return {
            **base,
            "description": doc.get("Description") or "",
            "phases": [
                {
                    "name": p["Name"],
                    "automatic": [env.get(e, e) for e in p.get("AutomaticDeploymentTargets", [])],
                    "optional": [env.get(e, e) for e in p.get("OptionalDeploymentTargets", [])],
                    "minimum_environments_before_promotion": int(
                        p.get("MinimumEnvironmentsBeforePromotion") or 0
                    ),
                    "is_optional": bool(p.get("IsOptionalPhase")),
                }
                for p in doc.get("Phases") or []
            ],
            "release_retention": _retention_view(doc.get("ReleaseRetentionPolicy")),
            "tentacle_retention": _retention_view(doc.get("TentacleRetentionPolicy")),
        }
    if kind == "feeds":
        return {
            **base,
            "type": doc.get("FeedType"),
            "uri": doc.get("FeedUri") or "",
            "username": doc.get("Username") or "",
            "password_set": bool((doc.get("Password") or {}).get("HasValue")),
        }
    if kind == "git_credentials":
        details = doc.get("Details") or {}
        return {
            **base,
            "description": doc.get("Description") or "",
            "username": details.get("Username") or "",
            "password_set": bool((details.get("Password") or {}).get("HasValue")),
        }
    if kind == "tag_sets":
        return {
            **base,
            "description": doc.get("Description") or "",
            "tags": [
                {
                    "name": t["Name"],
                    "color": t.get("Color") or "#333333",
                    "description": t.get("Description") or "",
                }
                for t in doc.get("Tags") or []
            ],
        }
    return {**base, "description": doc.get("Description") or ""}


# ---------------------------------------------------------------- blueprint -> Octopus body


def _retention_body(raw: dict[str, Any]) -> Doc:
    quantity = int(raw["quantity"])
    return {"Unit": raw["unit"], "QuantityToKeep": quantity, "ShouldKeepForever": quantity == 0}


def _sensitive(value: str | None) -> Doc:
    if value is None:
        return {"HasValue": True, "NewValue": None}  # keep what Octopus holds
    return {"HasValue": True, "NewValue": value}


def body(kind: str, item: Doc, current: Doc | None, names: Names, secret: str | None) -> Doc:
    """The document to POST (``current`` None) or PUT: ``current`` with the blueprint's
    fields written over it, so fields the blueprint does not manage are kept."""
    out: Doc = dict(current or {})
    out["Name"] = item["name"]
    if kind == "environments":
        out.update(
            Description=item["description"],
            UseGuidedFailure=item["use_guided_failure"],
            AllowDynamicInfrastructure=item["allow_dynamic_infrastructure"],
        )
    elif kind == "lifecycles":
        old = {p["Name"].lower(): p for p in (current or {}).get("Phases") or []}
        ids = names.env_ids
        out["Description"] = item["description"]
        out["Phases"] = [
            {
                **old.get(p["name"].lower(), {}),
                "Name": p["name"],
                "AutomaticDeploymentTargets": [ids[e.lower()] for e in p["automatic"]],
                "OptionalDeploymentTargets": [ids[e.lower()] for e in p["optional"]],
                "MinimumEnvironmentsBeforePromotion": p["minimum_environments_before_promotion"],
                "IsOptionalPhase": p["is_optional"],
            }
            for p in item["phases"]
        ]
        out["ReleaseRetentionPolicy"] = _retention_body(item["release_retention"])
        out["TentacleRetentionPolicy"] = _retention_body(item["tentacle_retention"])
    elif kind == "feeds":
        out.update(FeedType=item["type"], FeedUri=item["uri"], Username=item["username"] or None)
        if item["password_set"]:
            out["Password"] = _sensitive(secret)
    elif kind == "git_credentials":
        out["Description"] = item["description"]
        out["Details"] = {
            "Type": "UsernamePassword",
            "Username": item["username"],
            "Password": _sensitive(secret),
        }
    elif kind == "tag_sets":
        old_tags = {t["Name"].lower(): t for t in (current or {}).get("Tags") or []}
        out["Description"] = item["description"]
        out["Tags"] = [
            {
                **old_tags.get(t["name"].lower(), {}),
                "Name": t["name"],
                "Color": t["color"],
                "Description": t["description"],
                "SortOrder": n,
            }
            for n, t in enumerate(item["tags"])
        ]
    else:
        out["Description"] = item["description"]
    return out


# ---------------------------------------------------------------- plan


def secret_digest(value: str) -> str:
    """A keyed fingerprint of one secret (no plaintext; equal values, equal digests)."""
    key = hashlib.sha256(b"odcm-managed-secret:" + settings.SECRET_KEY.encode()).digest()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def secret_key(kind: str, name: str) -> str:
    return f"{kind}/{name.lower()}"


@dataclass
class Action:
    kind: str
    name: str
    verb: str  # create | change | keep | delete
    fields: list[str] = field(default_factory=list)
    note: str = ""  # shown beside the item in the plan (a step template's revision)

    def as_json(self) -> Doc:
        out: Doc = {"kind": self.kind, "name": self.name, "verb": self.verb, "fields": self.fields}
        if self.note:
            out["note"] = self.note
        return out


def plan(
    content: Doc,
    space: SpaceView,
    secrets: dict[str, str],
    digests: dict[str, str],
    *,
    created: dict[str, dict[str, str]] | None = None,
    prune: bool = False,
) -> list[Action]:
    """Per item of the blueprint: create, change (which fields) or keep; with ``prune``,
    delete what this blueprint created earlier and no longer lists."""
    actions: list[Action] = []
    for kind in KINDS:
        have = space.docs.get(kind, {})
        for item in content.get(kind, []):
            current = have.get(item["name"].lower())
            if current is None:
                actions.append(Action(kind, item["name"], "create"))
                continue
            seen = view(kind, current, space.names)
            fields = [k for k, v in item.items() if k not in ("password_set",) and seen.get(k) != v]
            if kind in SECRET_KINDS and item.get("password_set"):
                key = secret_key(kind, item["name"])
                digest = secret_digest(secrets[key]) if key in secrets else None
                if not seen.get("password_set") or (digest and digests.get(key) != digest):
                    fields.append("password")
            actions.append(Action(kind, item["name"], "change" if fields else "keep", fields))
    if prune:
        for kind in reversed(KINDS):
            wanted = {i["name"].lower() for i in content.get(kind, [])}
            for lower in (created or {}).get(kind, {}):
                if lower not in wanted and lower in space.docs.get(kind, {}):
                    actions.append(Action(kind, space.docs[kind][lower]["Name"], "delete"))
    return actions


def counts(actions: list[Action]) -> dict[str, int]:
    out = {"create": 0, "change": 0, "keep": 0, "delete": 0}
    for action in actions:
        out[action.verb] += 1
    return out


# ---------------------------------------------------------------- write


Recorder = Callable[[str, str, str | None], None]  # (kind, lower name, id or None=deleted)


def write(
    client: OctopusClient,
    space_id: str,
    content: Doc,
    space: SpaceView,
    actions: list[Action],
    secrets: dict[str, str],
    record: Recorder,
) -> dict[str, str]:
    """Carry out ``actions`` in order; ``record`` is told of each creation and deletion as it
    happens. Returns the digests of the secrets written."""
    items = {(k, i["name"].lower()): i for k in KINDS for i in content.get(k, [])}
    written: dict[str, str] = {}
    for action in actions:
        if action.verb == "keep":
            continue
        lower = action.name.lower()
        path = sp(space_id, PATHS[action.kind])
        current = space.docs.get(action.kind, {}).get(lower)
        if action.verb == "delete":
            assert current is not None
            client.delete(f"{path}/{current['Id']}")
            record(action.kind, lower, None)
            continue
        item = items[(action.kind, lower)]
        key = secret_key(action.kind, action.name)
        send = (
            secrets.get(key) if (action.verb == "create" or "password" in action.fields) else None
        )
        doc = body(action.kind, item, current, space.names, send)
        if current is None:
            saved = client.post(path, doc)
            record(action.kind, lower, str(saved["Id"]))
        else:
            saved = client.put(f"{path}/{current['Id']}", doc)
        space.docs.setdefault(action.kind, {})[lower] = saved
        if action.kind == "environments":
            space.names.add(saved)
        if send is not None:
            written[key] = secret_digest(send)
    return written
