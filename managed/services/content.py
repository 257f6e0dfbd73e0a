"""A blueprint's document: validated, normalised, secrets taken out.

Everything is matched by name (case-insensitive, as Octopus compares names) so that one
document fits every space: a lifecycle phase names its environments and each space's ids
are found at apply time. Passwords (feeds, Git credentials) are taken out of the document
into ``secrets`` (``"feeds/<name>"`` -> value) and replaced by ``"password_set": true``.
"""

from __future__ import annotations

from typing import Any

from identity.models import Role
from odcm.errors import ServiceError

# The kinds a blueprint holds, in the order they are applied (a lifecycle needs its
# environments first); prune goes in the reverse order.
KINDS = (
    "environments",
    "lifecycles",
    "feeds",
    "git_credentials",
    "project_groups",
    "tag_sets",
    "worker_pools",
    "library_variable_sets",
)
FEED_TYPES = ("NuGet", "Docker", "Maven", "GitHub", "Helm", "AwsElasticContainerRegistry")
RETENTION_UNITS = ("Days", "Items")


class BlueprintInvalid(ServiceError):
    """The document cannot be a blueprint; the message says which part and why."""


def _text(raw: Any, where: str, *, required: bool = False, limit: int = 200) -> str:
    if raw is None:
        raw = ""
    if not isinstance(raw, str):
        raise BlueprintInvalid(f"{where} must be text.")
    value = raw.strip()
    if required and not value:
        raise BlueprintInvalid(f"{where} is required.")
    if len(value) > limit:
        raise BlueprintInvalid(f"{where} is longer than {limit} characters.")
    return value


def _bool(raw: Any, where: str) -> bool:
    if raw is None:
        return False
    if not isinstance(raw, bool):
        raise BlueprintInvalid(f"{where} must be true or false.")
    return raw


def _int(raw: Any, where: str, default: int) -> int:
    if raw is None:
        return default
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise BlueprintInvalid(f"{where} must be a whole number of 0 or more.")
    return raw


def _items(doc: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    raw = doc.get(kind) or []
    if not isinstance(raw, list) or not all(isinstance(i, dict) for i in raw):
        raise BlueprintInvalid(f"'{kind}' must be a list of objects.")
    names: set[str] = set()
    for n, item in enumerate(raw, 1):
        name = _text(item.get("name"), f"{kind} #{n}: name", required=True, limit=100)
        if name.lower() in names:
            raise BlueprintInvalid(f"{kind}: '{name}' appears twice.")
        names.add(name.lower())
    return raw


def _retention(raw: Any, where: str) -> dict[str, Any]:
    raw = raw or {}
    if not isinstance(raw, dict):
        raise BlueprintInvalid(f"{where} must be an object with unit and quantity.")
    unit = raw.get("unit") or "Days"
    if unit not in RETENTION_UNITS:
        raise BlueprintInvalid(f"{where}: unit must be one of {', '.join(RETENTION_UNITS)}.")
    return {"unit": unit, "quantity": _int(raw.get("quantity"), f"{where}: quantity", 30)}


def _environment(item: dict[str, Any], n: int) -> dict[str, Any]:
    where = f"environments #{n}"
    return {
        "name": item["name"].strip(),
        "description": _text(item.get("description"), f"{where}: description", limit=1000),
        "use_guided_failure": _bool(item.get("use_guided_failure"), f"{where}: guided failure"),
        "allow_dynamic_infrastructure": _bool(
            item.get("allow_dynamic_infrastructure"), f"{where}: dynamic infrastructure"
        ),
    }


def _lifecycle(item: dict[str, Any], n: int, env_names: set[str]) -> dict[str, Any]:
    where = f"lifecycles #{n} ({item['name'].strip()})"
    phases_raw = item.get("phases") or []
    if not isinstance(phases_raw, list):
        raise BlueprintInvalid(f"{where}: phases must be a list.")
    phases = []
    for m, phase in enumerate(phases_raw, 1):
        if not isinstance(phase, dict):
            raise BlueprintInvalid(f"{where}: phase #{m} must be an object.")
        pwhere = f"{where}, phase #{m}"
        envs: dict[str, list[str]] = {}
        for key in ("automatic", "optional"):
            names = phase.get(key) or []
            if not isinstance(names, list) or not all(isinstance(e, str) for e in names):
                raise BlueprintInvalid(f"{pwhere}: {key} must be a list of environment names.")
            for env in names:
                if env.strip().lower() not in env_names:
                    raise BlueprintInvalid(
                        f"{pwhere}: environment '{env}' is not in this blueprint's environments."
                    )
            envs[key] = [e.strip() for e in names]
        phases.append(
            {
                "name": _text(phase.get("name"), f"{pwhere}: name", required=True, limit=100),
                "automatic": envs["automatic"],
                "optional": envs["optional"],
                "minimum_environments_before_promotion": _int(
                    phase.get("minimum_environments_before_promotion"), f"{pwhere}: minimum", 0
                ),
                "is_optional": _bool(phase.get("is_optional"), f"{pwhere}: is_optional"),
            }
        )
    return {
        "name": item["name"].strip(),
        "description": _text(item.get("description"), f"{where}: description", limit=1000),
        "phases": phases,
        "release_retention": _retention(item.get("release_retention"), f"{where}: releases"),
        "tentacle_retention": _retention(item.get("tentacle_retention"), f"{where}: files"),
    }


def _secret(item: dict[str, Any], key: str, where: str, secrets: dict[str, str]) -> bool:
    password = item.get("password")
    if password is None or password == "":
        return bool(item.get("password_set")) and key in secrets
    if not isinstance(password, str):
        raise BlueprintInvalid(f"{where}: password must be text.")
    secrets[key] = password
    return True


def normalize_teams(raw: Any) -> list[dict[str, str]]:
    """``[{"group": name, "role": viewer|deployer|manager}]`` checked; group names are
    checked at plan time (a group may be created after the blueprint)."""
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(i, dict) for i in raw):
        raise BlueprintInvalid("'teams' must be a list of objects with group and role.")
    out: list[dict[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for n, item in enumerate(raw, 1):
        group = item.get("group")
        if not isinstance(group, str) or not group.strip():
            raise BlueprintInvalid(f"teams #{n}: group is required.")
        role = item.get("role") or Role.VIEWER
        if role not in Role.values:
            raise BlueprintInvalid(f"teams #{n}: role must be one of {', '.join(Role.values)}.")
        key = (group.strip().lower(), role)
        if key in seen:
            raise BlueprintInvalid(f"teams: '{group.strip()}' as {role} appears twice.")
        seen.add(key)
        out.append({"group": group.strip(), "role": role})
    return out


def normalize_step_templates(raw: Any) -> list[Any]:
    """``["Name", {"name": "Other", "revision": 2}, ...]``: shared step templates of the
    library, by name, each at its latest revision (a name, or ``"revision": "latest"``) or
    pinned to a revision. Names are resolved at plan time (a template may be published after
    the blueprint is saved); a pinned revision is checked then too."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise BlueprintInvalid("'step_templates' must be a list of step template names.")
    out: list[Any] = []
    seen: set[str] = set()
    for n, entry in enumerate(raw, 1):
        revision: Any = None
        if isinstance(entry, dict):
            unknown = sorted(set(entry) - {"name", "revision"})
            if unknown:
                raise BlueprintInvalid(
                    f"step_templates #{n}: unknown field(s) {', '.join(unknown)}."
                )
            name, revision = entry.get("name"), entry.get("revision")
        else:
            name = entry
        if not isinstance(name, str):
            raise BlueprintInvalid("'step_templates' must be a list of step template names.")
        name = name.strip()
        if not name or len(name) > 200:
            raise BlueprintInvalid(f"step_templates #{n}: a name of 1 to 200 characters.")
        if name.lower() in seen:
            raise BlueprintInvalid(f"step_templates: '{name}' appears twice.")
        if revision in (None, "latest"):
            revision = None
        elif not isinstance(revision, int) or isinstance(revision, bool) or revision < 1:
            raise BlueprintInvalid(
                f"step_templates: '{name}': revision must be a revision number (1 or more) "
                'or "latest".'
            )
        seen.add(name.lower())
        out.append(name if revision is None else {"name": name, "revision": revision})
    return out


def step_template_entries(content: dict[str, Any]) -> list[tuple[str, int | None]]:
    """(name, pinned revision or None for the latest) of each of a blueprint's step
    templates (a revision saved before pins existed holds names only)."""
    out: list[tuple[str, int | None]] = []
    for entry in content.get("step_templates", []):
        if isinstance(entry, dict):
            out.append((str(entry["name"]), int(entry["revision"])))
        else:
            out.append((str(entry), None))
    return out


def normalize(
    doc: Any, previous_secrets: dict[str, str] | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """(content without secrets, secrets) for a document a person or the API sent. A
    password left out keeps the previous revision's (``password_set`` stays true)."""
    if not isinstance(doc, dict):
        raise BlueprintInvalid("A blueprint is a JSON object with lists of environments, ….")
    known = (*KINDS, "teams", "step_templates")
    unknown = sorted(set(doc) - set(known))
    if unknown:
        raise BlueprintInvalid(f"Unknown part(s): {', '.join(unknown)}. Known: {', '.join(known)}.")
    old = dict(previous_secrets or {})
    secrets: dict[str, str] = {}
    out: dict[str, Any] = {}
    envs = [_environment(i, n) for n, i in enumerate(_items(doc, "environments"), 1)]
    out["environments"] = envs
    env_names = {e["name"].lower() for e in envs}
    lifecycles = _items(doc, "lifecycles")
    out["lifecycles"] = [_lifecycle(i, n, env_names) for n, i in enumerate(lifecycles, 1)]
    feeds = []
    for n, item in enumerate(_items(doc, "feeds"), 1):
        name = item["name"].strip()
        where = f"feeds #{n} ({name})"
        feed_type = item.get("type") or "NuGet"
        if feed_type not in FEED_TYPES:
            raise BlueprintInvalid(f"{where}: type must be one of {', '.join(FEED_TYPES)}.")
        key = f"feeds/{name.lower()}"
        if key in old and not item.get("password"):
            secrets[key] = old[key]
        feeds.append(
            {
                "name": name,
                "type": feed_type,
                "uri": _text(item.get("uri"), f"{where}: uri", required=True, limit=500),
                "username": _text(item.get("username"), f"{where}: username"),
                "password_set": _secret(item, key, where, secrets),
            }
        )
    out["feeds"] = feeds
    creds = []
    for n, item in enumerate(_items(doc, "git_credentials"), 1):
        name = item["name"].strip()
        where = f"git_credentials #{n} ({name})"
        key = f"git_credentials/{name.lower()}"
        if key in old and not item.get("password"):
            secrets[key] = old[key]
        if not _secret(item, key, where, secrets):
            raise BlueprintInvalid(f"{where}: a password (or token) is required.")
        creds.append(
            {
                "name": name,
                "description": _text(item.get("description"), f"{where}: description"),
                "username": _text(item.get("username"), f"{where}: username", required=True),
                "password_set": True,
            }
        )
    out["git_credentials"] = creds
    for kind in ("project_groups", "worker_pools", "library_variable_sets"):
        out[kind] = [
            {
                "name": i["name"].strip(),
                "description": _text(i.get("description"), f"{kind} #{n}: description", limit=1000),
            }
            for n, i in enumerate(_items(doc, kind), 1)
        ]
    tag_sets = []
    for n, item in enumerate(_items(doc, "tag_sets"), 1):
        where = f"tag_sets #{n} ({item['name'].strip()})"
        tags = _items({"tags": item.get("tags") or []}, "tags")
        tag_sets.append(
            {
                "name": item["name"].strip(),
                "description": _text(item.get("description"), f"{where}: description"),
                "tags": [
                    {
                        "name": t["name"].strip(),
                        "color": _text(t.get("color"), f"{where}: color") or "#333333",
                        "description": _text(t.get("description"), f"{where}: description"),
                    }
                    for t in tags
                ],
            }
        )
    out["tag_sets"] = tag_sets
    if doc.get("teams"):
        out["teams"] = normalize_teams(doc["teams"])
    if doc.get("step_templates") is not None:
        step_templates = normalize_step_templates(doc["step_templates"])
        if step_templates:
            out["step_templates"] = step_templates
    return out, secrets


def names(content: dict[str, Any], kind: str) -> list[str]:
    return [str(i["name"]) for i in content.get(kind, [])]
