"""Tenant variable values carried by a split, by name.

Octopus keys a tenant's values by ids (``GET/PUT /api/{space}/tenants/{id}/variables``):
project template values per project, environment and template id, library set ("common")
template values per library set and template id. Here they are name-based documents —
``{project: {environment: {template: value}}}`` and ``{set: {template: value}}`` — so they can
be planned against the target, written with the target's ids and compared. A sensitive value
is never returned by Octopus: it is ``{"Sensitive": true, "HasValue": true}``, listed as
needing a value in the target and never written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from octopus import OctopusClient
from octopus.pipeline import sp

Doc = dict[str, Any]
SENSITIVE = "Sensitive"
_MISSING = object()


def is_sensitive(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SENSITIVE) is True


def _value(template: Doc, value: Any) -> Any:
    """A value as the documents hold it: the text, or for a sensitive template only whether
    Octopus has one (it never returns it). None when there is nothing to carry."""
    control = (template.get("DisplaySettings") or {}).get("Octopus.ControlType")
    if control == "Sensitive" or isinstance(value, dict):
        has = bool(value.get("HasValue")) if isinstance(value, dict) else value not in (None, "")
        return {SENSITIVE: True, "HasValue": True} if has else None
    return value


def _named(templates: list[Doc], values: Doc | None) -> Doc:
    by_id = {str(t.get("Id")): t for t in templates}
    out = {}
    for ident, raw in (values or {}).items():
        template = by_id.get(str(ident))
        value = _value(template, raw) if template is not None else None
        if template is not None and value is not None:
            out[str(template["Name"])] = value
    return dict(sorted(out.items()))


def values_doc(
    raw: Doc, envs: dict[str, str], projects: dict[str, str] | None, sets: set[str] | None
) -> tuple[Doc, Doc]:
    """A tenant's variable values (``GET …/tenants/{id}/variables``) by name: the project
    template values ``{project: {environment: {template: value}}}`` of ``projects`` (id ->
    name; None: every project) and the library set template values ``{set: {template:
    value}}`` of the library set ids ``sets`` (None: every set)."""
    project_values: Doc = {}
    for pid, entry in (raw.get("ProjectVariables") or {}).items():
        name = (projects or {}).get(pid) if projects is not None else entry.get("ProjectName")
        if not name:
            continue
        per_env = {}
        for env_id, values in (entry.get("Variables") or {}).items():
            named = _named(entry.get("Templates") or [], values)
            if named:
                per_env[envs.get(env_id, env_id)] = named
        if per_env:
            project_values[str(name)] = dict(sorted(per_env.items()))
    common: Doc = {}
    for lvs_id, entry in (raw.get("LibraryVariables") or {}).items():
        if sets is not None and lvs_id not in sets:
            continue
        named = _named(entry.get("Templates") or [], entry.get("Variables"))
        if named:
            common[str(entry.get("LibraryVariableSetName") or lvs_id)] = named
    return project_values, dict(sorted(common.items()))


def target_values(
    client: OctopusClient,
    space_id: str,
    carried: dict[str, Doc],
    tenants: dict[str, Doc],
    envs: dict[str, str],
) -> dict[str, tuple[Doc, Doc]]:
    """The values the target's ``tenants`` (lower name -> tenant) of the ``carried``
    tenants' names hold now (one read per tenant that exists in the target), by name."""
    out = {}
    for lower in carried:
        tenant = tenants.get(lower)
        if tenant is not None:
            raw = client.get(sp(space_id, "tenants", tenant["Id"], "variables"))
            out[lower] = values_doc(raw, envs, None, None)
    return out


def _status(value: Any, have: Any, ours: bool) -> str:
    if is_sensitive(value):
        return "needs_value"
    if have is _MISSING or have is None:
        return "copy"
    if have == value:
        return "exists"
    return "copy" if ours else "kept"


def plan_values(
    carried: dict[str, Doc],
    target: dict[str, tuple[Doc, Doc]],
    target_sets: dict[str, Doc],
    made: set[str],
) -> list[Doc]:
    """Per tenant value: "copy", "exists" (the same value is in the target), "needs_value"
    (sensitive: never returned by Octopus), "kept" (a tenant that was in the target before
    holds another value for a library set template: it is kept, and the verification will
    show it) or "no_template" (the target's library set has no template of that name)."""
    out = []
    for lower, doc in sorted(carried.items()):
        theirs_p, theirs_c = target.get(lower, ({}, {}))
        ours = lower in made or lower not in target
        for project, per_env in (doc.get("ProjectValues") or {}).items():
            for env, values in per_env.items():
                have_env = (theirs_p.get(project) or {}).get(env) or {}
                for template, value in values.items():
                    status = _status(value, have_env.get(template, _MISSING), True)
                    out.append(_value_row(doc, f"{project} / {env}", template, status))
        lower_c = {k.lower(): v for k, v in theirs_c.items()}
        for lvs, values in (doc.get("CommonValues") or {}).items():
            tset = target_sets.get(lvs.lower())
            known = (
                None
                if tset is None
                else {str(t["Name"]).lower() for t in tset.get("Templates") or []}
            )
            have_set = lower_c.get(lvs.lower()) or {}
            for template, value in values.items():
                if known is not None and template.lower() not in known:
                    status = "no_template"
                else:
                    status = _status(value, have_set.get(template, _MISSING), ours)
                out.append(_value_row(doc, lvs, template, status))
    return out


def _value_row(doc: Doc, where: str, template: str, status: str) -> Doc:
    return {"tenant": doc["Name"], "where": where, "template": template, "status": status}


def write_values(
    client: OctopusClient,
    space_id: str,
    doc: Doc,
    tenant_id: str,
    project_ids: dict[str, str],
    env_id: Callable[[str], str],
    *,
    ours: bool,
) -> int:
    """Set the tenant's values of ``doc`` in the target (ids by name), in one PUT of the
    tenant's variables if anything differs; sensitive values are left alone, and a library
    set value that a tenant made outside this split (``ours`` False) already holds is kept.
    Returns the writes made."""
    if not doc.get("ProjectValues") and not doc.get("CommonValues"):
        return 0
    path = sp(space_id, "tenants", tenant_id, "variables")
    raw = client.get(path)
    changed = False
    for project, per_env in (doc.get("ProjectValues") or {}).items():
        entry = (raw.get("ProjectVariables") or {}).get(project_ids.get(project, ""))
        if entry is None:
            continue  # not connected in the target: nothing to hold the values
        ids = {str(t["Name"]).lower(): str(t["Id"]) for t in entry.get("Templates") or []}
        variables = entry.setdefault("Variables", {})
        for env, values in per_env.items():
            have = variables.setdefault(env_id(env), {})
            for template, value in values.items():
                ident = ids.get(template.lower())
                if ident is None or is_sensitive(value) or have.get(ident) == value:
                    continue
                have[ident] = value
                changed = True
    sets = {
        str(e.get("LibraryVariableSetName") or "").lower(): e
        for e in (raw.get("LibraryVariables") or {}).values()
    }
    for lvs, values in (doc.get("CommonValues") or {}).items():
        entry = sets.get(lvs.lower())
        if entry is None:
            continue
        ids = {str(t["Name"]).lower(): str(t["Id"]) for t in entry.get("Templates") or []}
        have = entry.setdefault("Variables", {})
        for template, value in values.items():
            ident = ids.get(template.lower())
            if ident is None or is_sensitive(value) or have.get(ident) == value:
                continue
            if have.get(ident) is not None and not ours:
                continue  # that tenant's own value in the target is kept
            have[ident] = value
            changed = True
    if not changed:
        return 0
    client.put(path, raw)
    return 1
