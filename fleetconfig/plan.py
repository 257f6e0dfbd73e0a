"""Planning: what applying a declared document would create, change and delete.

A plan compares the objects of the file with the objects of the current state's export
(the same flattening on both sides, :func:`fleetconfig.state.objects`), field by field. Only
the sections a file declares are compared: a file without ``alert_settings`` manages none.
Objects in ODCM but not in the file are deleted only with prune, and only if an earlier apply
created them; the rest are listed as unmanaged and left alone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleetconfig import accounts
from fleetconfig.document import Document, InvalidDocument, Issue
from fleetconfig.models import ManagedObject
from fleetconfig.state import KINDS, Obj, current_secret_fingerprints, digest, export, fingerprint
from fleetconfig.state import objects as flatten
from identity.models import User
from odcm.crypto import CryptoError, unseal
from sharing.models import SharedItem
from spaces.models import Instance, Space

HIDDEN = "(hidden)"
CHANGED = "(changed)"
MAX_SECRET_BYTES = 64 * 1024


@dataclass
class Change:
    action: str  # create, change, delete, unmanaged
    kind: str
    key: str
    ident: dict[str, Any]
    fields: list[dict[str, Any]] = field(default_factory=list)
    line: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "kind": self.kind,
            "key": self.key,
            "ident": self.ident,
            "fields": self.fields,
            "line": self.line,
        }


@dataclass
class Result:
    changes: list[Change]
    sections: list[str]
    state_digest: str

    @property
    def has_changes(self) -> bool:
        return any(c.action in ("create", "change", "delete") for c in self.changes)


class SecretUnavailable(Exception):
    pass


def resolve(ref: dict[str, str]) -> str:
    """The value a secret reference names (an environment variable or a file)."""
    if "env" in ref:
        value = os.environ.get(ref["env"])
        if value is None:
            raise SecretUnavailable(f"the environment variable {ref['env']} is not set")
        return value
    path = Path(ref["file"])
    try:
        if path.stat().st_size > MAX_SECRET_BYTES:
            raise SecretUnavailable(f"the file {ref['file']} is too large for a secret")
        return path.read_text().strip("\r\n")
    except OSError as exc:
        raise SecretUnavailable(f"the file {ref['file']} cannot be read") from exc


def sections_of(doc: Document) -> list[str]:
    return [k for k in doc.data if k != "version"]


def state_digest(sections: list[str]) -> str:
    """What a plan was made against: the export of its sections and the secrets' fingerprints."""
    current = export(set(sections))
    return digest({"export": current, "secrets": _secret_state(current, sections)})


def _secret_state(current: dict[str, Any], sections: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "instances" in sections:
        for inst in Instance.objects.all():
            out[f"instance:{inst.name}"] = _stored_key_fingerprint(inst)
    if "shared_items" in sections:
        for item in SharedItem.objects.filter(latest_revision__gt=0):
            out[f"item:{item.pk}"] = current_secret_fingerprints(item)
    return out


def _stored_key_fingerprint(inst: Instance) -> str:
    try:
        return fingerprint(unseal(inst, "api_key"))
    except CryptoError:
        return ""


def make(doc: Document, *, prune: bool = False) -> Result:
    """Plan ``doc`` against the current state. Raises :class:`InvalidDocument`."""
    sections = sections_of(doc)
    issues = check_references(doc)
    current_doc = export(set(sections))
    wanted = flatten(doc.data)
    have = flatten(current_doc)
    _add_secret_fields(doc, wanted, have, issues)
    if issues:
        raise InvalidDocument(sorted(issues, key=lambda i: (i.line or 0, i.path)))
    created = set(ManagedObject.objects.filter(created=True).values_list("kind", "key"))
    # An invitation already accepted is left alone: it is not pending (not exported), and
    # making it again would invite the person twice.
    settled = accounts.accepted({key for (k, key) in wanted if k == "invitation"})
    changes: list[Change] = []
    for kind in KINDS:
        for (k, key), obj in wanted.items():
            if k != kind or (k == "invitation" and key in settled):
                continue
            line = doc.line(obj.path)
            before = have.get((k, key))
            if before is None:
                after = [{"field": f, "before": None, "after": v} for f, v in obj.fields.items()]
                changes.append(Change("create", k, key, obj.ident, _mask(after), line))
            else:
                diff = field_diff(before.fields, obj.fields)
                if diff:
                    changes.append(Change("change", k, key, obj.ident, _mask(diff), line))
    for kind in reversed(KINDS):
        for (k, key), obj in sorted(have.items()):
            if k != kind or (k, key) in wanted or not _deletable(k, doc.data):
                continue
            action = "delete" if (k, key) in created else "unmanaged"
            changes.append(Change(action, k, key, obj.ident))
    return Result(changes, sections, state_digest(sections))


def _deletable(kind: str, data: dict[str, Any]) -> bool:
    # Spaces come and go with Octopus; a section's singletons are replaced, never deleted.
    return kind not in ("space", "standard_environments", "role_mapping")


def _mask(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for row in rows:
        if row["field"].startswith(("api_key_fingerprint", "sensitive_values")):
            row["before"] = HIDDEN if row["before"] is not None else None
            row["after"] = CHANGED if row["before"] is not None else HIDDEN
    return rows


def _add_secret_fields(
    doc: Document,
    wanted: dict[tuple[str, str], Obj],
    have: dict[tuple[str, str], Obj],
    issues: list[Issue],
) -> None:
    """Compare secrets by fingerprint: a plan says a key or a sensitive value changed, never
    what it is. A reference that does not resolve is an error with its line."""
    for (kind, key), obj in wanted.items():
        if kind == "instance":
            try:
                obj.fields["api_key_fingerprint"] = fingerprint(resolve(obj.fields["api_key"]))
            except SecretUnavailable as exc:
                issues.append(doc.issue((*obj.path, "api_key"), f"The API key: {exc}."))
            current = have.get((kind, key))
            if current is not None:
                inst = Instance.objects.filter(name=key).first()
                current.fields["api_key_fingerprint"] = (
                    _stored_key_fingerprint(inst) if inst else ""
                )
        elif kind == "shared_item":
            prints: dict[str, str] = {}
            for identity, ref in obj.extra["secret_refs"].items():
                try:
                    prints[identity] = fingerprint(resolve(ref))
                except SecretUnavailable as exc:
                    issues.append(
                        doc.issue((*obj.path, "content"), f"The value of {identity}: {exc}.")
                    )
            obj.fields["sensitive_values"] = prints
            current = have.get((kind, key))
            if current is not None:
                item = _find_item(obj.ident)
                current.fields["sensitive_values"] = (
                    current_secret_fingerprints(item) if item else {}
                )


def _find_item(ident: dict[str, Any]) -> SharedItem | None:
    p = ident["publisher"]
    return SharedItem.objects.filter(
        publisher__instance__name=p["instance"],
        publisher__name=p["space"],
        kind=ident["kind"],
        name=ident["name"],
    ).first()


def field_diff(before: Any, after: Any, prefix: str = "") -> list[dict[str, Any]]:
    """Field-level differences; lists of named things are matched by name."""
    if isinstance(before, dict) and isinstance(after, dict) and not _is_ref(after):
        rows = []
        for key in list(before) + [k for k in after if k not in before]:
            rows += field_diff(
                before.get(key), after.get(key), f"{prefix}.{key}" if prefix else key
            )
        return rows
    if isinstance(before, list) and isinstance(after, list) and _named(before) and _named(after):
        old = {_name(v): v for v in before}
        new = {_name(v): v for v in after}
        rows = []
        for name in list(old) + [n for n in new if n not in old]:
            rows += field_diff(old.get(name), new.get(name), f"{prefix}[{name}]")
        if not rows and [_name(v) for v in before] != [_name(v) for v in after]:
            rows.append({"field": f"{prefix} (order)", "before": list(old), "after": list(new)})
        return rows
    if before == after:
        return []
    return [{"field": prefix, "before": before, "after": after}]


def _is_ref(value: dict[str, Any]) -> bool:
    return set(value) <= {"env", "file"} and len(value) == 1


def _named(values: list[Any]) -> bool:
    return bool(values) and all(isinstance(v, dict) and "name" in v for v in values)


def _name(value: dict[str, Any]) -> str:
    from fleetconfig.state import variable_identity

    return variable_identity(value) if "type" in value else str(value["name"])


# -- references --------------------------------------------------------------------------


def check_references(doc: Document) -> list[Issue]:
    """Every name a file uses must exist in ODCM or in the file itself."""
    data, issues = doc.data, []
    declared = {i["name"]: i for i in data.get("instances") or []}
    known_instances = set(Instance.objects.values_list("name", flat=True)) | set(declared)
    spaces = {
        (i, s)
        for i, s in Space.objects.exclude(state=Space.State.GONE).values_list(
            "instance__name", "name"
        )
    }
    # A service account the file declares may be named (a group member, a person grant)
    # before it exists: it is made before anything that names it, or joins its groups then.
    users = set(User.objects.values_list("username", flat=True)) | accounts.declared_usernames(data)
    groups = set()

    def need_user(name: str, path: tuple[Any, ...]) -> None:
        if name not in users:
            issues.append(
                doc.issue(path, f"No user named {name!r} (users sign in; they are not declared).")
            )

    existing = set(Instance.objects.values_list("name", flat=True))

    def need_space(ref: dict[str, str], path: tuple[Any, ...]) -> None:
        # A space of an instance this file enlists is known only once it is enlisted.
        if ref["instance"] not in known_instances:
            issues.append(doc.issue(path, f"No instance named {ref['instance']!r}."))
        elif ref["instance"] in existing and (ref["instance"], ref["space"]) not in spaces:
            issues.append(
                doc.issue(path, f"The instance {ref['instance']!r} has no space {ref['space']!r}.")
            )

    def need_target(grant: dict[str, Any], path: tuple[Any, ...]) -> None:
        if grant.get("tag") or grant.get("region"):
            return  # a rule: instances tagged later count too, none need exist now
        if grant.get("space"):
            need_space({"instance": grant["instance"], "space": grant["space"]}, path)
        elif grant["instance"] not in known_instances:
            issues.append(doc.issue(path, f"No instance named {grant['instance']!r}."))

    names: set[str] = set()
    for i, inst in enumerate(data.get("instances") or []):
        if inst["name"] in names:
            issues.append(doc.issue(("instances", i, "name"), "Declared twice."))
        names.add(inst["name"])
        for j, owner in enumerate(inst.get("owners") or []):
            need_user(owner, ("instances", i, "owners", j))
        for j, window in enumerate(inst.get("maintenance_windows") or []):
            if window["ends_at"] <= window["starts_at"]:
                issues.append(
                    doc.issue(
                        ("instances", i, "maintenance_windows", j),
                        "A window must end after it starts.",
                    )
                )
    for i, group in enumerate(data.get("groups") or []):
        if group["name"].lower() in groups:
            issues.append(doc.issue(("groups", i, "name"), "Declared twice."))
        groups.add(group["name"].lower())
        for j, member in enumerate(group.get("members") or []):
            need_user(member, ("groups", i, "members", j))
        for j, grant in enumerate(group.get("grants") or []):
            need_target(grant, ("groups", i, "grants", j))
    people: set[str] = set()
    for i, person in enumerate(data.get("people") or []):
        if person["user"] in people:
            issues.append(doc.issue(("people", i, "user"), "Declared twice."))
        people.add(person["user"])
        need_user(person["user"], ("people", i, "user"))
        for j, grant in enumerate(person.get("grants") or []):
            need_target(grant, ("people", i, "grants", j))
    for i, trust in enumerate(data.get("trusts") or []):
        need_space(trust["publisher"], ("trusts", i, "publisher"))
        need_space(trust["subscriber"], ("trusts", i, "subscriber"))
        if trust["publisher"] == trust["subscriber"]:
            issues.append(doc.issue(("trusts", i), "A space does not need to trust itself."))
    for i, item in enumerate(data.get("shared_items") or []):
        need_space(item["publisher"], ("shared_items", i, "publisher"))
        for j, sub in enumerate(item.get("subscriptions") or []):
            need_space(sub, ("shared_items", i, "subscriptions", j))
    for i, row in enumerate(data.get("alert_settings") or []):
        need_user(row["user"], ("alert_settings", i, "user"))
        for j, name in enumerate(row.get("instances") or []):
            if name not in known_instances:
                issues.append(
                    doc.issue(("alert_settings", i, "instances", j), f"No instance named {name!r}.")
                )
    issues += accounts.check(doc, need_target)
    return issues
