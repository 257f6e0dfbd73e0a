"""Shared variable sets, delivered as library variable sets in subscriber spaces.

Content (no secrets)::

    {"variables": [{"key": "<uuid>", "name": "Db.Password", "type": "Sensitive",
                    "value": null, "description": "", "scope": {"environments": ["Prod"],
                    "roles": [], "tenant_tags": []}}]}

Secrets: ``{"<key>": "<plaintext>"}``, sealed on the revision row. Environment scopes travel by
name and are translated to each subscriber's environment ids from the variable set document's
``ScopeValues``, so an update costs one GET and one PUT, and a no-op check one GET.
"""

from __future__ import annotations

import functools
import uuid
from typing import Any

from octopus import NotFound, ValidationFailed, VersionConflict

from .base import (
    Change,
    ContentError,
    CountingClient,
    DeliveryProblem,
    Inspection,
    MissingEnvironment,
    Target,
    Written,
)

# A variable of these types holds the id of an account, certificate or worker pool of its own
# space (Accounts-3 means nothing elsewhere), so ODCM shares it by the resource's name and
# translates the name to the subscriber space's id on delivery, as it does environments.
REFERENCE_TYPES = {
    "Certificate": "certificates",
    "AmazonWebServicesAccount": "accounts",
    "AzureAccount": "accounts",
    "GoogleCloudAccount": "accounts",
    "UsernamePasswordAccount": "accounts",
    "GenericOidcAccount": "accounts",
    "WorkerPool": "workerpools",
}
TYPES = ("String", "Sensitive", *REFERENCE_TYPES)
# Every variable type Octopus has (OctopusClients' VariableType, go-octopusdeploy), as the
# editor lists them.
VARIABLE_TYPES = (
    ("String", "Text"),
    ("Sensitive", "Sensitive"),
    ("Certificate", "Certificate"),
    ("AmazonWebServicesAccount", "AWS account"),
    ("AzureAccount", "Azure account"),
    ("GoogleCloudAccount", "Google Cloud account"),
    ("UsernamePasswordAccount", "Username/password account"),
    ("GenericOidcAccount", "Generic OIDC account"),
    ("WorkerPool", "Worker pool"),
)
REFERENCE_NOUNS = {
    "certificates": "certificate",
    "accounts": "account",
    "workerpools": "worker pool",
}
SCOPE_KEYS = {"environments": "Environment", "roles": "Role", "tenant_tags": "TenantTag"}
MAX_CONFLICT_RETRIES = 4
MAX_VARIABLES = 5000

Row = tuple[Any, ...]


def _names(values: Any, what: str, var: str, errors: list[str]) -> list[str]:
    if values in (None, ""):
        return []
    if isinstance(values, str):
        values = [v for v in values.split(",")]
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        errors.append(f"The {what} scope of {var!r} must be a list of names.")
        return []
    return sorted({v.strip() for v in values if v.strip()})


def _scope(raw: Any, var: str, errors: list[str]) -> dict[str, list[str]]:
    raw = raw or {}
    if not isinstance(raw, dict):
        errors.append(f"The scope of {var!r} must be an object.")
        raw = {}
    unknown = set(raw) - set(SCOPE_KEYS)
    if unknown:
        errors.append(f"Unknown scope {', '.join(sorted(unknown))} on {var!r}.")
    return {key: _names(raw.get(key), key.replace("_", " "), var, errors) for key in SCOPE_KEYS}


@functools.lru_cache(maxsize=65536)
def _variable_id(item_key: str, key: str) -> str:
    # The same ids for every subscriber of an item: a fan-out to 500 spaces of a 200-variable
    # set would otherwise hash 100,000 UUIDs, a large share of its CPU.
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"odcm:{item_key}:{key}"))


_SHAREABLE_SCOPES = frozenset(("Environment", "Role", "TenantTag"))


def _ordered(values: Any) -> tuple[str, ...]:
    return tuple(values) if len(values) < 2 else tuple(sorted(values))


# Per revision content (the same object for every subscriber of a fan-out: revisions are
# cached per worker process), what every delivery compares with: computed once, not 500 times.
# The content object is kept in the value so its id() cannot be reused while cached.
_per_content: dict[int, tuple[dict[str, Any], list[Row], set[str]]] = {}


def _content_facts(content: dict[str, Any]) -> tuple[list[Row], set[str]]:
    found = _per_content.get(id(content))
    if found is None or found[0] is not content:
        # rows with references need a subscriber's ids (write() builds those per target)
        has_refs = any(v["type"] in REFERENCE_TYPES for v in content["variables"])
        rows = [] if has_refs else sorted(VariableSetKind._rows_from_content(content, {}))
        needed = {n for v in content["variables"] for n in v["scope"]["environments"]}
        if len(_per_content) >= 32:
            _per_content.clear()
        found = _per_content[id(content)] = (content, rows, needed)
    return found[1], found[2]


def _wanted_rows(content: dict[str, Any]) -> list[Row]:
    """The content's rows, sorted (as ``_rows_from_octopus`` rows compare)."""
    return _content_facts(content)[0]


def _needed_environments(content: dict[str, Any]) -> set[str]:
    return _content_facts(content)[1]


# Per (revision content, item): each variable's Octopus form without what differs per
# subscriber: (fields, environment names, key of its sensitive value, reference). Secrets are
# never kept here (a delivery adds them to its own copy); the content object is kept in the
# value so its id() cannot be reused while cached.
Template = tuple[dict[str, Any], tuple[str, ...], str | None, tuple[str, str] | None]
_per_item: dict[tuple[int, str], tuple[dict[str, Any], list[Template]]] = {}


def _templates(content: dict[str, Any], item_key: str) -> list[Template]:
    found = _per_item.get((id(content), item_key))
    if found is not None and found[0] is content:
        return found[1]
    templates: list[Template] = []
    for var in content["variables"]:
        sensitive = var["type"] == "Sensitive"
        ref = (
            (REFERENCE_TYPES[var["type"]], var["value"]) if var["type"] in REFERENCE_TYPES else None
        )
        scope: dict[str, list[str]] = {}
        if var["scope"]["roles"]:
            scope["Role"] = list(var["scope"]["roles"])
        if var["scope"]["tenant_tags"]:
            scope["TenantTag"] = list(var["scope"]["tenant_tags"])
        base = {
            "Id": _variable_id(item_key, var["key"]),
            "Name": var["name"],
            "Value": None if sensitive or ref is not None else var["value"],
            "Description": var["description"],
            "Scope": scope,
            "Type": var["type"],
            "IsSensitive": sensitive,
            "IsEditable": True,
            "Prompt": None,
        }
        envs = tuple(var["scope"]["environments"])
        templates.append((base, envs, var["key"] if sensitive else None, ref))
    if len(_per_item) >= 32:
        _per_item.clear()
    _per_item[(id(content), item_key)] = (content, templates)
    return templates


class VariableSetKind:
    key = "variable_set"
    label = "Variable set"

    # -- authoring ---------------------------------------------------------------------

    def clean(
        self,
        content: dict[str, Any],
        previous: dict[str, Any],
        previous_secrets: dict[str, str],
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """Validate variables; a sensitive variable without a value keeps its previous one.

        A variable sent without its ``key`` takes the key of the previous revision's variable
        with the same name and scope, so API callers need not carry keys. Returns the content
        without secrets and the secrets by variable key. Raises
        :class:`ContentError` listing every problem (a sensitive variable with no value and no
        previous value is one of them).
        """
        raw_vars = content.get("variables") if isinstance(content, dict) else None
        if not isinstance(raw_vars, list):
            raise ContentError(["'variables' must be a list."])
        if len(raw_vars) > MAX_VARIABLES:
            raise ContentError([f"A shared set holds at most {MAX_VARIABLES} variables."])
        errors: list[str] = []
        out: list[dict[str, Any]] = []
        secrets: dict[str, str] = {}
        seen: set[tuple[Any, ...]] = set()
        keys: set[str] = set()
        known = {
            (v["name"].lower(), tuple(tuple(v["scope"].get(k, [])) for k in SCOPE_KEYS)): v["key"]
            for v in previous.get("variables", [])
        }
        for position, raw in enumerate(raw_vars, start=1):
            if not isinstance(raw, dict):
                errors.append(f"Variable {position} must be an object.")
                continue
            name = str(raw.get("name") or "").strip()
            if not name:
                errors.append(f"Variable {position} has no name.")
                continue
            var_type = raw.get("type") or "String"
            if var_type not in TYPES:
                errors.append(f"{name!r} has type {var_type!r}; use one of {', '.join(TYPES)}.")
                continue
            scope = _scope(raw.get("scope"), name, errors)
            identity = (name.lower(), tuple(tuple(scope[k]) for k in SCOPE_KEYS))
            key = str(raw.get("key") or known.get(identity) or uuid.uuid4())
            if key in keys:
                key = str(uuid.uuid4())
            keys.add(key)
            if identity in seen:
                errors.append(f"{name!r} appears twice with the same scope.")
            seen.add(identity)
            value = raw.get("value")
            if value is not None and not isinstance(value, str):
                value = str(value)
            var = {
                "key": key,
                "name": name,
                "type": var_type,
                "value": None,
                "description": str(raw.get("description") or ""),
                "scope": scope,
            }
            if var_type == "Sensitive":
                if value:
                    secrets[key] = value
                elif key in previous_secrets:
                    secrets[key] = previous_secrets[key]
                else:
                    errors.append(f"The sensitive variable {name!r} needs a value.")
            elif var_type in REFERENCE_TYPES and not (value or "").strip():
                noun = REFERENCE_NOUNS[REFERENCE_TYPES[var_type]]
                errors.append(f"{name!r} needs the name of a {noun} (its type is {var_type}).")
            else:
                var["value"] = (value or "").strip() if var_type in REFERENCE_TYPES else value or ""
            out.append(var)
        if errors:
            raise ContentError(errors)
        return {"variables": out}, secrets

    def summary(self, content: dict[str, Any]) -> str:
        variables = content.get("variables", [])
        sensitive = sum(1 for v in variables if v["type"] == "Sensitive")
        return f"{len(variables)} variables ({sensitive} sensitive)"

    # -- delivery ----------------------------------------------------------------------

    def deliver(
        self,
        client: CountingClient,
        target: Target,
        content: dict[str, Any],
        secrets: dict[str, str],
        secrets_digest: str,
    ) -> Written:
        lvs_id, vs_id, doc = self._locate(client, target, create=True)
        assert doc is not None
        sensitive = any(v["type"] == "Sensitive" for v in content["variables"])
        refs = self._reference_ids(client, target, content)
        # Without references (the usual case) every subscriber compares with the same rows,
        # computed once per revision; references are ids of the subscriber's own space.
        wanted = sorted(self._rows_from_content(content, refs)) if refs else _wanted_rows(content)
        for _attempt in range(MAX_CONFLICT_RETRIES):
            env_ids = self._environment_ids(doc, content, target)
            # The cheap test first: once a sensitive value is known to differ (a new digest)
            # or may have changed in Octopus (a new Version), the rows need no comparing.
            unchanged = (
                not sensitive
                or (
                    doc.get("Version") == target.octopus_version
                    and secrets_digest == target.secrets_digest
                )
            ) and sorted(self._rows_from_octopus(doc)) == wanted
            if unchanged:
                return Written(False, lvs_id, vs_id, doc.get("Version"), secrets_digest)
            body = dict(doc)
            body.pop("ScopeValues", None)
            body.pop("Links", None)
            body["Variables"] = self._octopus_variables(target, content, secrets, env_ids, refs)
            try:
                saved = client.put(f"/api/{target.space_id}/variables/{vs_id}", body)
            except VersionConflict:
                # Someone saved between our read and our write: read again, re-apply.
                doc = client.get(f"/api/{target.space_id}/variables/{vs_id}")
                continue
            version = saved.get("Version") if isinstance(saved, dict) else None
            return Written(True, lvs_id, vs_id, version, secrets_digest)
        raise DeliveryProblem(
            "conflict",
            f"The variable set in {target.space_label} kept changing while ODCM wrote it "
            f"({MAX_CONFLICT_RETRIES} version conflicts in a row); ODCM will try again.",
        )

    def inspect(
        self, client: CountingClient, target: Target, content: dict[str, Any]
    ) -> Inspection:
        lvs_id, vs_id, doc = self._locate(client, target, create=False)
        if doc is None:
            return Inspection(
                [{"name": target.name, "change": "The library variable set is gone from Octopus."}],
                missing=True,
            )
        try:
            refs = self._reference_ids(client, target, content)
        except DeliveryProblem as problem:
            return Inspection([{"name": target.name, "change": problem.message}])
        current = {self._row_key(r): r for r in self._rows_from_octopus(doc)}
        wanted = {self._row_key(r): r for r in self._rows_from_content(content, refs)}
        differences: list[dict[str, str]] = []
        for row_key, row in sorted(wanted.items(), key=lambda kv: str(kv[0])):
            if row_key not in current:
                differences.append({"name": row[0], "change": "removed or rescoped in Octopus"})
            elif current[row_key] != row:
                differences.append({"name": row[0], "change": self._explain(current[row_key], row)})
        for row_key, row in sorted(current.items(), key=lambda kv: str(kv[0])):
            if row_key not in wanted:
                differences.append({"name": row[0], "change": "added in Octopus"})
        version = doc.get("Version")
        if (
            not differences
            and target.octopus_version is not None
            and version != target.octopus_version
        ):
            differences.append(
                {
                    "name": "(variable set)",
                    "change": "saved in Octopus since ODCM wrote it (Version "
                    f"{target.octopus_version} → {version}); a sensitive value may have changed",
                }
            )
        return Inspection(differences)

    # -- helpers -----------------------------------------------------------------------

    def _locate(
        self, client: CountingClient, target: Target, *, create: bool
    ) -> tuple[str, str, dict[str, Any] | None]:
        """(library variable set id, variable set id, variable set document)."""
        space = target.space_id
        if target.octopus_child_id:
            try:
                doc = client.get(f"/api/{space}/variables/{target.octopus_child_id}")
                return target.octopus_id, target.octopus_child_id, doc
            except NotFound:
                pass  # deleted in Octopus: find it by name or make it again
        lvs = self._find_by_name(client, target)
        if lvs is None:
            if not create:
                return "", "", None
            try:
                lvs = client.post(
                    f"/api/{space}/libraryvariablesets",
                    {
                        "Name": target.name,
                        "Description": target.description,
                        "ContentType": "Variables",
                    },
                )
            except ValidationFailed:
                # Another worker created it a moment ago (names are unique per space).
                lvs = self._find_by_name(client, target)
                if lvs is None:
                    raise
        doc = client.get(f"/api/{space}/variables/{lvs['VariableSetId']}")
        return lvs["Id"], lvs["VariableSetId"], doc

    @staticmethod
    def _find_by_name(client: CountingClient, target: Target) -> dict[str, Any] | None:
        page = client.get(
            f"/api/{target.space_id}/libraryvariablesets",
            {"partialName": target.name, "take": 1000, "contentType": "Variables"},
        )
        wanted = target.name.strip().lower()
        return next(
            (i for i in page.get("Items", []) if str(i.get("Name", "")).strip().lower() == wanted),
            None,
        )

    @staticmethod
    def _environment_ids(
        doc: dict[str, Any], content: dict[str, Any], target: Target
    ) -> dict[str, str]:
        known = {e["Name"]: e["Id"] for e in (doc.get("ScopeValues") or {}).get("Environments", [])}
        missing = sorted(_needed_environments(content) - set(known))
        if missing:
            raise MissingEnvironment(missing, target.space_label)
        return known

    @staticmethod
    def _reference_ids(
        client: CountingClient, target: Target, content: dict[str, Any]
    ) -> dict[tuple[str, str], str]:
        """(collection, name) -> id in the subscriber space for every account, certificate
        and worker pool the content names; one GET per collection needed, none otherwise."""
        needed = {
            (REFERENCE_TYPES[v["type"]], v["value"])
            for v in content["variables"]
            if v["type"] in REFERENCE_TYPES
        }
        found: dict[tuple[str, str], str] = {}
        for collection in sorted({c for c, _ in needed}):
            for doc in client.get(f"/api/{target.space_id}/{collection}/all"):
                found[(collection, str(doc["Name"]))] = str(doc["Id"])
        missing = sorted(f"{REFERENCE_NOUNS[c]} {n!r}" for c, n in needed if (c, n) not in found)
        if missing:
            raise DeliveryProblem(
                "missing_reference",
                f"The subscriber space {target.space_label} has no {', '.join(missing)}. Create "
                "it in Octopus (names must match the publisher's exactly); nothing was written.",
            )
        return found

    @staticmethod
    def variable_id(target: Target, key: str) -> str:
        return _variable_id(target.item_key, key)

    def _octopus_variables(
        self,
        target: Target,
        content: dict[str, Any],
        secrets: dict[str, str],
        env_ids: dict[str, str],
        refs: dict[tuple[str, str], str],
    ) -> list[dict[str, Any]]:
        # Everything but environment ids, sensitive values and references is the same for
        # every subscriber of a revision: built once per revision and item (_templates), each
        # delivery copies the few fields of its own.
        out = []
        for base, envs, secret_key, ref in _templates(content, target.item_key):
            var = dict(base)
            if envs:
                var["Scope"] = {"Environment": [env_ids[n] for n in envs], **base["Scope"]}
            if secret_key is not None:
                var["Value"] = secrets[secret_key]
            elif ref is not None:
                var["Value"] = refs[ref]
            out.append(var)
        return out

    @staticmethod
    def _value_in(var: dict[str, Any], refs: dict[tuple[str, str], str]) -> Any:
        """The value as the subscriber's Octopus stores it (a reference by its id there)."""
        if var["type"] in REFERENCE_TYPES:
            return refs[(REFERENCE_TYPES[var["type"]], var["value"])]
        return var["value"]

    @classmethod
    def _rows_from_content(
        cls, content: dict[str, Any], refs: dict[tuple[str, str], str]
    ) -> list[Row]:
        return [
            (
                v["name"],
                v["type"],
                None if v["type"] == "Sensitive" else cls._value_in(v, refs),
                v["description"],
                tuple(sorted(v["scope"]["environments"])),
                tuple(sorted(v["scope"]["roles"])),
                tuple(sorted(v["scope"]["tenant_tags"])),
                (),
            )
            for v in content["variables"]
        ]

    @staticmethod
    def _rows_from_octopus(doc: dict[str, Any]) -> list[Row]:
        # Called for every delivery of a fan-out on a document of hundreds of variables:
        # written for speed (most scopes are empty or hold one value, needing no sort).
        names = {e["Id"]: e["Name"] for e in (doc.get("ScopeValues") or {}).get("Environments", [])}
        rows: list[Row] = []
        append = rows.append
        empty: tuple[Any, ...] = ()
        for v in doc.get("Variables", []):
            get = v.get
            scope = get("Scope")
            var_type = get("Type")
            envs = roles = tags = others = empty
            if scope:
                if not _SHAREABLE_SCOPES.issuperset(scope):
                    others = tuple(
                        sorted(k for k, v in scope.items() if v and k not in _SHAREABLE_SCOPES)
                    )
                found = scope.get("Environment")
                if found:
                    if type(found) is list and len(found) == 1:
                        envs = (names.get(found[0], found[0]),)
                    else:
                        envs = _ordered([names.get(e, e) for e in found])
                found = scope.get("Role")
                if found:
                    roles = _ordered(found)
                found = scope.get("TenantTag")
                if found:
                    tags = _ordered(found)
            if get("IsSensitive") or var_type == "Sensitive":
                append(
                    (get("Name", ""), "Sensitive", None, get("Description") or "", envs, roles,
                     tags, others)
                )  # fmt: skip
            else:
                append(
                    (get("Name", ""), var_type or "String", get("Value") or "",
                     get("Description") or "", envs, roles, tags, others)
                )  # fmt: skip
        return rows

    @staticmethod
    def _row_key(row: Row) -> tuple[Any, ...]:
        return (row[0].lower(), row[4], row[5], row[6])

    @staticmethod
    def _explain(current: Row, wanted: Row) -> str:
        parts = []
        if current[1] != wanted[1]:
            parts.append(f"type is {current[1]}, shared as {wanted[1]}")
        if current[2] != wanted[2]:
            parts.append("value changed")
        if current[3] != wanted[3]:
            parts.append("description changed")
        if current[7]:
            parts.append(f"extra scope {', '.join(current[7])}")
        return "; ".join(parts) or "changed"

    # -- revision diff -----------------------------------------------------------------

    def diff(
        self,
        old: dict[str, Any],
        old_secrets: dict[str, str],
        new: dict[str, Any],
        new_secrets: dict[str, str],
    ) -> list[Change]:
        before = {v["key"]: v for v in old.get("variables", [])}
        after = {v["key"]: v for v in new.get("variables", [])}
        changes: list[Change] = []
        for key, var in after.items():
            if key not in before:
                changes.append(Change(var["name"], "added", self._describe(var)))
                continue
            fields = self._field_changes(before[key], old_secrets, var, new_secrets)
            if fields:
                changes.append(Change(var["name"], "changed", fields))
        for key, var in before.items():
            if key not in after:
                changes.append(Change(var["name"], "removed", self._describe(var)))
        order = {"removed": 0, "changed": 1, "added": 2}
        return sorted(changes, key=lambda c: (order[c.change], c.name.lower()))

    @staticmethod
    def _describe(var: dict[str, Any]) -> list[dict[str, Any]]:
        shown = "(sensitive)" if var["type"] == "Sensitive" else var["value"]
        scope = ", ".join(f"{k}: {', '.join(v)}" for k, v in var["scope"].items() if v)
        return [{"field": "value", "new": shown}, {"field": "scope", "new": scope or "unscoped"}]

    @staticmethod
    def _field_changes(
        a: dict[str, Any], a_secrets: dict[str, str], b: dict[str, Any], b_secrets: dict[str, str]
    ) -> list[dict[str, Any]]:
        fields: list[dict[str, Any]] = []
        if a["name"] != b["name"]:
            fields.append({"field": "name", "old": a["name"], "new": b["name"]})
        if a["type"] != b["type"]:
            fields.append({"field": "type", "old": a["type"], "new": b["type"]})
        if a["type"] == b["type"] == "Sensitive":
            if a_secrets.get(a["key"]) != b_secrets.get(b["key"]):
                fields.append({"field": "value", "sensitive": True, "old": "", "new": "changed"})
        elif "Sensitive" in (a["type"], b["type"]):
            fields.append({"field": "value", "sensitive": True, "old": "", "new": "changed"})
        elif a["value"] != b["value"]:
            fields.append({"field": "value", "old": a["value"], "new": b["value"]})
        if a["description"] != b["description"]:
            fields.append(
                {"field": "description", "old": a["description"], "new": b["description"]}
            )
        for scope_key in SCOPE_KEYS:
            if a["scope"][scope_key] != b["scope"][scope_key]:
                fields.append(
                    {
                        "field": scope_key.replace("_", " "),
                        "old": ", ".join(a["scope"][scope_key]),
                        "new": ", ".join(b["scope"][scope_key]),
                    }
                )
        return fields


def from_octopus(
    doc: dict[str, Any], references: dict[str, str] | None = None
) -> tuple[dict[str, Any], list[str]]:
    """Authoring content from a variable set read from Octopus (an import).

    Non-sensitive values are copied; sensitive ones come back from Octopus as null, so they are
    returned by name as needing a value. Scopes other than environment, role and tenant tag
    cannot be shared and are dropped (listed in the names returned as ``"name (scope)"``).
    """
    names = {e["Id"]: e["Name"] for e in (doc.get("ScopeValues") or {}).get("Environments", [])}
    variables: list[dict[str, Any]] = []
    needing: list[str] = []
    for raw in doc.get("Variables", []):
        sensitive = bool(raw.get("IsSensitive")) or raw.get("Type") == "Sensitive"
        var_type = raw.get("Type") or "String"
        if var_type not in TYPES:
            continue  # a type newer than ODCM knows: not shareable
        value = raw.get("Value") or ""
        if var_type in REFERENCE_TYPES:
            # Shared by name; an id that cannot be named is kept and fails clearly on delivery.
            value = (references or {}).get(value, value)
        scope = raw.get("Scope") or {}
        var = {
            "key": str(uuid.uuid4()),
            "name": raw.get("Name", ""),
            "type": "Sensitive" if sensitive else var_type,
            "value": None if sensitive else value,
            "description": raw.get("Description") or "",
            "scope": {
                "environments": sorted(names.get(e, e) for e in scope.get("Environment", [])),
                "roles": sorted(scope.get("Role", [])),
                "tenant_tags": sorted(scope.get("TenantTag", [])),
            },
        }
        if sensitive:
            needing.append(var["name"])
        variables.append(var)
    return {"variables": variables}, needing


def reference_names(client: Any, space_id: str, doc: dict[str, Any]) -> dict[str, str]:
    """id -> name of the accounts, certificates and worker pools a variable set document
    refers to (for an import); no request when it refers to none."""
    collections = {
        REFERENCE_TYPES[v["Type"]]
        for v in doc.get("Variables", [])
        if v.get("Type") in REFERENCE_TYPES
    }
    names: dict[str, str] = {}
    for collection in sorted(collections):
        for found in client.get(f"/api/{space_id}/{collection}/all"):
            names[str(found["Id"])] = str(found["Name"])
    return names
